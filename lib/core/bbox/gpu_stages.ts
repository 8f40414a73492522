/**
 * The GPU side of the target strategies: the types that `MaxIoUAssigner.assignGpu`,
 * `PseudoSampler.sampleGpu` / `RandomSampler.sampleGpu` and a coder's `gpuEncoding` exchange, the
 * ground-truth upload (`uploadGts`) and the target builders that compose them
 * (`denseTargetsGpu` for anchor heads, `roiTargetsGpu` for RoI heads). Every stage handles all
 * images of a batch in a few dispatches and never reads back. See `lib/core/bbox/README.md`.
 *
 * @module
 */
import { Tensor } from "../../autograd/tensor.ts";
import { getGpu } from "../../gpu/runtime.ts";
import { buildTargets, type GpuEncoding, sampledIndices } from "../../ops/target_stages.ts";
import { packTargetInputs, type TargetPackLayout } from "../../ops/targets.ts";

export type { GpuEncoding } from "../../ops/target_stages.ts";

/** The ground truths of a batch on the GPU (one upload; padded to the largest count). */
export interface GtBatchGpu {
  /** The step pack (u32 words; see `packTargetInputs`). Release with {@linkcode releaseGts}. */
  pack: Tensor;
  /** Where gts, labels, counts and ignore boxes live in `pack`. */
  layout: TargetPackLayout;
  /** Gts per image (host copy of the counts). */
  gtCounts: number[];
}

/**
 * Uploads the gts of a batch: per image `[k, 4]` xyxy boxes, `[k]` labels (null: all 0, as an
 * RPN), optional ignore boxes `[m, 4]`. `validSizes` / `imgShapes` are only needed by anchor
 * flags (`anchorFlags`); RoI heads leave them out.
 */
export function uploadGts(data: {
  gtBboxes: readonly Float32Array[];
  gtLabels?: readonly Int32Array[] | null;
  gtBboxesIgnore?: readonly (Float32Array | null)[] | null;
  validSizes?: readonly (readonly [number, number])[][];
  imgShapes?: readonly (readonly number[])[];
}): GtBatchGpu {
  const N = data.gtBboxes.length;
  const labels = data.gtLabels ?? data.gtBboxes.map((b) => new Int32Array(b.length / 4));
  const packed = packTargetInputs({
    gtBboxes: data.gtBboxes,
    gtLabels: labels,
    gtBboxesIgnore: data.gtBboxesIgnore ?? null,
    validSizes: data.validSizes ?? Array.from({ length: N }, () => []),
    imgShapes: data.imgShapes ?? Array.from({ length: N }, () => [0, 0]),
  });
  const raw = getGpu().upload(packed.data, [packed.data.length], "u32", "gt_pack");
  return {
    pack: new Tensor(raw),
    layout: packed.layout,
    gtCounts: data.gtBboxes.map((b) => b.length / 4),
  };
}

/** Candidate boxes of an assignment. */
export interface AssignInputGpu {
  /** `[B, 4]` shared by every image (anchors) or `[N, B, 4]` per image (proposals), f32 xyxy. */
  boxes: Tensor;
  /**
   * `[N, B]` u32: 0 not a candidate (outside anchor, padding proposal), 1 candidate, 2 candidate
   * inside an ignore region (from `anchorFlags` or `boxFlagsGpu`).
   */
  flags: Tensor;
  /** The batch's gts. */
  gts: GtBatchGpu;
}

/** mmdetection's `AssignResult` for a batch, on the GPU. */
export interface AssignResultGpu {
  /** `[N, B, 2]` i32: `gt_inds` (−1 ignore, 0 negative, g + 1 gt g) and f32 bits of `max_overlaps`. */
  assign: Tensor;
  /** `[N, 2]` u32: available positives and negatives per image. */
  counts: Tensor;
}

/** mmdetection's `SamplingResult` for a batch, on the GPU. */
export interface SamplingResultGpu {
  /**
   * The boxes the indices refer to: the input boxes, or `[N, G + B, 4]` with each image's padded
   * gts first when `add_gt_as_proposals` is on.
   */
  boxes: Tensor;
  /** The assignment over `boxes`. */
  assign: Tensor;
  /** `[N, B']` u32: 0 not sampled, 1 positive, 2 negative. */
  sampled: Tensor;
  /** `[N, 2]` u32: sampled positives and negatives per image. */
  counts: Tensor;
  /** Rows of each image that are gts added as proposals (`maxGt`, or 0). */
  numGtRows: number;
  /** Most boxes one image can have sampled (the sampler's `num`, or B' for `PseudoSampler`). */
  capacity: number;
}

/** What every GPU sampler receives besides the assignment. */
export interface SampleContextGpu {
  /** The assigned boxes and the gts. */
  input: AssignInputGpu;
  /** u32 seed of this step's random draw (random samplers); same seed, same choice. */
  seed: number;
}

/** A sampler with a GPU implementation. */
export interface GpuSampler {
  /** Samples every image of the batch (no readback). */
  sampleGpu(assign: AssignResultGpu, ctx: SampleContextGpu): SamplingResultGpu;
}

/** An assigner with a GPU implementation. */
export interface GpuAssigner {
  /** Assigns every image of the batch (no readback). */
  assignGpu(input: AssignInputGpu): AssignResultGpu;
}

/** A box coder whose encode the GPU target builder applies. */
export interface GpuCoder {
  /** The encode variant, means and stds. */
  gpuEncoding(): GpuEncoding;
}

/** Dense targets of every box (anchor heads). */
export interface DenseTargetsGpu {
  /** `[N, B]` i32: gt label of sampled positives, `numClasses` otherwise. */
  labels: Tensor;
  /** `[N, B]` f32: `pos_weight` (or 1) for sampled positives, 1 for sampled negatives, else 0. */
  labelWeights: Tensor;
  /** `[N, B, 4]` f32: encoded targets of sampled positives (gt boxes with `regDecoded`). */
  bboxTargets: Tensor;
  /** `[N, B, 4]` f32: 1 for sampled positives. */
  bboxWeights: Tensor;
}

/** Settings of the target builders. */
export interface TargetOptionsGpu {
  /** Background label. */
  numClasses: number;
  /** `train_cfg.pos_weight` (≤ 0: 1). */
  posWeight?: number;
  /** Regression targets are the gt boxes (`reg_decoded_bbox`). */
  regDecoded?: boolean;
}

/** Per-box targets of a sampling (mmdetection's `AnchorHead._get_targets_single` without unmap). */
export function denseTargetsGpu(
  s: SamplingResultGpu,
  gts: GtBatchGpu,
  coder: GpuCoder,
  opts: TargetOptionsGpu,
): DenseTargetsGpu {
  const t = buildTargets(s.boxes.raw, s.assign.raw, s.sampled.raw, null, {
    data: gts.pack.raw,
    layout: gts.layout,
  }, { ...opts, encoding: coder.gpuEncoding() });
  return {
    labels: new Tensor(t.labels),
    labelWeights: new Tensor(t.labelWeights),
    bboxTargets: new Tensor(t.bboxTargets),
    bboxWeights: new Tensor(t.bboxWeights),
  };
}

/** Targets of the sampled RoIs of every image, `S = capacity` slots per image. */
export interface RoiTargetsGpu {
  /** `[N, S]` i32: per image the sampled box indices (into `SamplingResultGpu.boxes`), positives first, −1 padding. */
  inds: Tensor;
  /** `[N·S, 5]` f32 rows `(image, x1, y1, x2, y2)` (mmdetection's `bbox2roi`); image −1 on padding rows. */
  rois: Tensor;
  /** `[N·S]` i32: gt label of positives, `numClasses` for negatives and padding. */
  labels: Tensor;
  /** `[N·S]` f32: `pos_weight` (or 1) positives, 1 negatives, 0 padding. */
  labelWeights: Tensor;
  /** `[N·S, 4]` f32: encoded targets of positives, 0 otherwise. */
  bboxTargets: Tensor;
  /** `[N·S, 4]` f32: 1 for positives. */
  bboxWeights: Tensor;
  /** `[N, 2]` u32: positives and negatives per image (the sampling's counts, not a copy). */
  counts: Tensor;
}

/**
 * mmdetection's `BBoxHead.get_targets(concat=True)` for sampled RoIs: per image the sampled
 * boxes in `SamplingResult` order (positives ascending, then negatives ascending), padded to
 * `capacity` slots.
 */
export function roiTargetsGpu(
  s: SamplingResultGpu,
  gts: GtBatchGpu,
  coder: GpuCoder,
  opts: TargetOptionsGpu,
): RoiTargetsGpu {
  const N = gts.layout.numImages, S = s.capacity;
  const inds = sampledIndices(s.sampled.raw, s.counts.raw, S);
  const t = buildTargets(s.boxes.raw, s.assign.raw, s.sampled.raw, inds, {
    data: gts.pack.raw,
    layout: gts.layout,
  }, { ...opts, encoding: coder.gpuEncoding() });
  const gpu = getGpu();
  const flat = (r: typeof inds, shape: number[]) => {
    const v = new Tensor(gpu.view(r, shape));
    r.release();
    return v;
  };
  return {
    inds: new Tensor(inds),
    rois: flat(t.rois!, [N * S, 5]),
    labels: flat(t.labels, [N * S]),
    labelWeights: flat(t.labelWeights, [N * S]),
    bboxTargets: flat(t.bboxTargets, [N * S, 4]),
    bboxWeights: flat(t.bboxWeights, [N * S, 4]),
    counts: s.counts,
  };
}

/** Releases the gts of a batch. */
export function releaseGts(g: GtBatchGpu): void {
  g.pack.dispose();
}
