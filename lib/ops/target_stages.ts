/**
 * The composable GPU stages of target assignment, each batched over the images of a step and
 * free of readbacks: `MaxIoUAssigner` (`maxIoUAssignStage`), `PseudoSampler` / `RandomSampler`
 * (`pseudoSampleStage` / `randomSampleStage`, with `addGtAsProposals`), the sampled-index
 * compaction of RoI heads (`sampledIndices`) and the target builder that applies a box coder's
 * encode (`buildTargets`). `lib/core/bbox` classes call these from their `*Gpu` methods.
 *
 * Layouts: boxes are `[B, 4]` (shared by every image: anchors) or `[N, B, 4]` (per image:
 * proposals); `flags` `[N, B]` u32 say 0 not a candidate (outside / padding), 1 candidate, 2
 * candidate in an ignore region (`anchorFlags`, `boxFlags`); `assign` `[N, B, 2]` i32 holds
 * `gt_inds` (mmdetection's encoding, see `AssignResult`) and the f32 bits of `max_overlaps`;
 * `counts` `[N, 2]` u32 are positives and negatives per image.
 *
 * @module
 */
import samplerSrc from "../../kernels/bbox_sampler.wgsl" with { type: "text" };
import targetsSrc from "../../kernels/bbox_targets.wgsl" with { type: "text" };
import compactSrc from "../../kernels/sample_compact.wgsl" with { type: "text" };
import flagsSrc from "../../kernels/box_flags.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";
import { gtMaxStage, MAX_IOU_ASSIGN, type TargetPackLayout } from "./targets.ts";

/** `kernels/bbox_sampler.wgsl`. */
export const BBOX_SAMPLER: KernelSpec = {
  name: "bbox_sampler",
  source: samplerSrc,
  params: "uuuufuuu",
};
/** `kernels/bbox_targets.wgsl`. */
export const BBOX_TARGETS: KernelSpec = {
  name: "bbox_targets",
  source: targetsSrc,
  params: "uuuuuuuufuuu" + "ffffffff",
};
/** `kernels/sample_compact.wgsl`. */
export const SAMPLE_COMPACT: KernelSpec = {
  name: "sample_compact",
  source: compactSrc,
  params: "uuuu",
};
/** `kernels/box_flags.wgsl`. */
export const BOX_FLAGS: KernelSpec = {
  name: "box_flags",
  source: flagsSrc,
  params: "uuuuuufffuuu",
};

/** The uploaded step pack of `packTargetInputs` (gt boxes, labels, counts, ignore boxes). */
export interface GtPack {
  data: RawTensor;
  layout: TargetPackLayout;
}

/** `MaxIoUAssigner` options (camelCased mmdetection keys). */
export interface MaxIoUStageOptions {
  posIouThr: number;
  /** `thr` means `[0, thr)`; `[lo, hi]` means `lo ≤ IoU < hi`. */
  negIouThr: number | readonly [number, number];
  minPosIou?: number;
  gtMaxAssignAll?: boolean;
  matchLowQuality?: boolean;
}

/** An assignment on the GPU. */
export interface AssignStageResult {
  /** `[N, B, 2]` i32: `gt_inds`, f32 bits of `max_overlaps`. */
  assign: RawTensor;
  /** `[N, 2]` u32: positives and negatives available per image. */
  counts: RawTensor;
}

function boxesPerImage(boxes: RawTensor, N: number): { B: number; stride: number } {
  if (boxes.shape.length === 2 && boxes.shape[1] === 4) return { B: boxes.shape[0], stride: 0 };
  if (boxes.shape.length === 3 && boxes.shape[0] === N && boxes.shape[2] === 4) {
    return { B: boxes.shape[1], stride: boxes.shape[1] };
  }
  throw new TypeError(
    `Cannot assign boxes: boxes must be [B, 4] (shared) or [${N}, B, 4] (per image), got ${
      fmtShape(boxes.shape)
    }`,
  );
}

/**
 * mmdetection's `MaxIoUAssigner.assign` for every image (spec §2.5): IoU of every candidate box
 * with every gt of its image, `neg_iou_thr` (number or `[lo, hi)`), `pos_iou_thr`, and the
 * low-quality matches (`min_pos_iou`, `gt_max_assign_all`). Flag-2 boxes (ignore regions) have
 * IoU −1 with every gt; flag-0 boxes are not candidates (`gt_inds` −1).
 */
export function maxIoUAssignStage(
  boxes: RawTensor,
  flags: RawTensor,
  pack: GtPack,
  opts: MaxIoUStageOptions,
): AssignStageResult {
  const lay = pack.layout, N = lay.numImages, G = lay.maxGt;
  const { B, stride } = boxesPerImage(boxes, N);
  if (flags.size !== N * B) {
    throw new TypeError(
      `Cannot assign boxes: flags ${fmtShape(flags.shape)} do not match ${N} images × ${B} boxes`,
    );
  }
  const gpu = getGpu();
  const gtBest = gtMaxStage(boxes, flags, pack, B, stride);
  const out: AssignStageResult = {
    assign: gpu.empty([N, B, 2], "i32", "assign"),
    counts: gpu.zeros([N, 2], "u32", "assign_counts"),
  };
  const neg = typeof opts.negIouThr === "number" ? [0, opts.negIouThr] : opts.negIouThr;
  const opt = (opts.matchLowQuality ?? true ? 1 : 0) | (opts.gtMaxAssignAll ?? true ? 2 : 0);
  const sinks = [0, 1, 2, 3].map(() => gpu.empty([4], "f32", "assign_sink"));
  const wpi = Math.ceil(B / 256);
  gpu.dispatch(MAX_IOU_ASSIGN, {
    bindings: [boxes, flags, pack.data, gtBest, ...sinks, out.assign, out.counts],
    params: [
      N,
      B,
      G,
      wpi,
      lay.gtOff,
      lay.labelOff,
      lay.countOff,
      0,
      opts.posIouThr,
      neg[0],
      neg[1],
      opts.minPosIou ?? 0,
      -1,
      1e-6,
      1,
      opt,
      0,
      0,
      0,
      0,
      1,
      1,
      1,
      1,
      stride,
      0,
      0,
      0,
    ],
    overrides: { FUSED: 0 },
    workgroups: N * wpi,
  });
  for (const s of sinks) s.release();
  gtBest.release();
  return out;
}

/** A sampling on the GPU. */
export interface SampleStageResult {
  /** `[N, B]` u32: 0 unused, 1 positive, 2 negative. */
  sampled: RawTensor;
  /** `[N, 2]` u32: sampled positives and negatives per image. */
  counts: RawTensor;
}

function samplerDispatch(
  pass: number,
  a: { assign: RawTensor; avail: RawTensor; hist: RawTensor; hist2: RawTensor; sel: RawTensor },
  out: SampleStageResult,
  params: number[],
  workgroups: number,
): void {
  getGpu().dispatch(BBOX_SAMPLER, {
    bindings: [a.assign, a.avail, a.hist, a.hist2, a.sel, out.sampled, out.counts],
    params,
    overrides: { PASS: pass },
    workgroups,
  });
}

function checkAssign(assign: RawTensor, counts: RawTensor): [number, number] {
  if (assign.shape.length !== 3 || assign.shape[2] !== 2 || counts.size !== assign.shape[0] * 2) {
    throw new TypeError(
      `Cannot sample: assign ${
        fmtShape(assign.shape)
      } must be [N, B, 2] with counts [N, 2], got counts ${fmtShape(counts.shape)}`,
    );
  }
  return [assign.shape[0], assign.shape[1]];
}

/** `PseudoSampler.sample` of every image: all positives and all negatives. */
export function pseudoSampleStage(assign: RawTensor, counts: RawTensor): SampleStageResult {
  const [N, B] = checkAssign(assign, counts);
  const gpu = getGpu();
  const out: SampleStageResult = {
    sampled: gpu.empty([N, B], "u32", "sampled"),
    counts: gpu.empty([N, 2], "u32", "sample_counts"),
  };
  gpu.copy(counts, 0, out.counts, 0, N * 8);
  // a writable binding may not alias another: one sink per unused output
  const [hist, hist2, sel, cnt] = [0, 1, 2, 3].map(() => gpu.empty([4], "u32", "sampler_sink"));
  const a = { assign, avail: counts, hist, hist2, sel };
  samplerDispatch(
    0,
    a,
    { sampled: out.sampled, counts: cnt },
    [N, B, 0, 0, -1, 0, 0, 0],
    Math.ceil((N * B) / 256),
  );
  for (const t of [hist, hist2, sel, cnt]) t.release();
  return out;
}

/** `RandomSampler` settings (mmdetection keys, camelCased) and the step's seed. */
export interface RandomSampleOptions {
  /** Boxes sampled per image. */
  num: number;
  /** Positives wanted: `floor(num · posFraction)`. */
  posFraction: number;
  /** `< 0`: no bound; else negatives ≤ `floor(negPosUb · max(#pos, 1))`. */
  negPosUb: number;
  /** u32 seed of this step's draw (same seed, same choice). */
  seed: number;
}

/**
 * `RandomSampler.sample` of every image: `k_pos = min(floor(num · pos_fraction), #pos)` random
 * positives and `k_neg = min(num − k_pos (bounded by neg_pos_ub), #neg)` random negatives, drawn
 * without replacement by a seeded pseudo-random permutation of the box indices (the `k` smallest
 * permuted keys win; two-round 16-bit radix select). Deterministic for a seed.
 */
export function randomSampleStage(
  assign: RawTensor,
  counts: RawTensor,
  opts: RandomSampleOptions,
): SampleStageResult {
  const [N, B] = checkAssign(assign, counts);
  const gpu = getGpu();
  const out: SampleStageResult = {
    sampled: gpu.empty([N, B], "u32", "sampled"),
    counts: gpu.empty([N, 2], "u32", "sample_counts"),
  };
  const a = {
    assign,
    avail: counts,
    hist: gpu.zeros([N * 2 * 65536], "u32", "sampler_hist"),
    hist2: gpu.zeros([N * 2 * 65536], "u32", "sampler_hist2"),
    sel: gpu.empty([N * 2, 4], "u32", "sampler_sel"),
  };
  const numPos = Math.floor(opts.num * opts.posFraction);
  const params = [N, B, opts.num, numPos, opts.negPosUb, opts.seed >>> 0, 0, 0];
  const boxWg = Math.ceil((N * B) / 256);
  samplerDispatch(1, a, out, params, boxWg);
  samplerDispatch(2, a, out, params, N * 2);
  samplerDispatch(3, a, out, params, boxWg);
  samplerDispatch(4, a, out, params, N * 2);
  samplerDispatch(5, a, out, params, boxWg);
  a.hist.release();
  a.hist2.release();
  a.sel.release();
  return out;
}

/**
 * mmdetection's `add_gt_as_proposals`: the gts of each image are put before its boxes (rows
 * `[0, maxGt)`, padding rows are not candidates) and assigned to themselves (`gt_inds` g + 1,
 * `max_overlaps` 1), as `AssignResult.add_gt_`. Returns the extended boxes `[N, G + B, 4]`,
 * assignment and recounted `counts`.
 *
 * @param boxes `[B, 4]` or `[N, B, 4]` the assigned boxes.
 */
export function addGtAsProposals(
  boxes: RawTensor,
  assign: RawTensor,
  pack: GtPack,
  gtCounts: readonly number[],
): { boxes: RawTensor; assign: RawTensor; counts: RawTensor } {
  const lay = pack.layout, N = lay.numImages, G = lay.maxGt;
  const { B, stride } = boxesPerImage(boxes, N);
  const gpu = getGpu();
  const E = G + B;
  const outBoxes = gpu.empty([N, E, 4], "f32", "boxes_with_gts");
  const outAssign = gpu.empty([N, E, 2], "i32", "assign_with_gts");
  const gtRows = new Int32Array(Math.max(N * G * 2, 4));
  const one = new Int32Array(new Float32Array([1]).buffer)[0];
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < G; g++) {
      gtRows[(n * G + g) * 2] = g < gtCounts[n] ? g + 1 : -1;
      gtRows[(n * G + g) * 2 + 1] = g < gtCounts[n] ? one : 0;
    }
  }
  const gtAssign = gpu.upload(gtRows, [gtRows.length], "i32", "gt_assign_rows");
  for (let n = 0; n < N; n++) {
    gpu.copy(pack.data, (lay.gtOff + n * G * 4) * 4, outBoxes, n * E * 16, G * 16);
    gpu.copy(boxes, n * stride * 16, outBoxes, (n * E + G) * 16, B * 16);
    gpu.copy(gtAssign, n * G * 8, outAssign, n * E * 8, G * 8);
    gpu.copy(assign, n * B * 8, outAssign, (n * E + G) * 8, B * 8);
  }
  gtAssign.release();
  const counts = gpu.zeros([N, 2], "u32", "assign_counts");
  const dummy = gpu.empty([4], "u32", "sampler_dummy");
  const sinks = [0, 1, 2, 3].map(() => gpu.empty([4], "u32", "sampler_sink"));
  gpu.dispatch(BBOX_SAMPLER, {
    bindings: [outAssign, dummy, ...sinks, counts],
    params: [N, E, 0, 0, -1, 0, 0, 0],
    overrides: { PASS: 6 },
    workgroups: Math.ceil((N * E) / 256),
  });
  dummy.release();
  for (const t of sinks) t.release();
  return { boxes: outBoxes, assign: outAssign, counts };
}

/**
 * The sampled indices of every image, in `SamplingResult` order: positives ascending, then
 * negatives ascending, `-1` after them.
 *
 * @param slots capacity per image (≥ the sampler's `num`).
 * @returns `[N, slots]` i32.
 */
export function sampledIndices(sampled: RawTensor, counts: RawTensor, slots: number): RawTensor {
  const [N, B] = sampled.shape;
  const gpu = getGpu();
  const inds = gpu.empty([N, slots], "i32", "sampled_inds");
  gpu.dispatch(SAMPLE_COMPACT, {
    bindings: [sampled, counts, inds],
    params: [N, B, slots, 0],
    workgroups: N,
  });
  return inds;
}

/** What a box coder contributes to target building (`BaseBBoxCoder.gpuEncoding()`). */
export interface GpuEncoding {
  /** `"delta"`: `DeltaXYWHBBoxCoder` widths `x2 − x1`; `"legacy"`: `x2 − x1 + 1`. */
  kind: "delta" | "legacy";
  means: readonly number[];
  stds: readonly number[];
}

/** Target settings shared by anchor and RoI heads. */
export interface BuildTargetsOptions {
  /** Background label. */
  numClasses: number;
  /** `train_cfg.pos_weight` (≤ 0: 1). */
  posWeight?: number;
  /** Targets are the gt boxes (`reg_decoded_bbox`). */
  regDecoded?: boolean;
  encoding: GpuEncoding;
}

/** Targets built from an assignment and a sampling. */
export interface BuiltTargets {
  /** `[N, R]` i32 (R = B dense, S compact): gt label of positives, `numClasses` otherwise. */
  labels: RawTensor;
  /** `[N, R]` f32. */
  labelWeights: RawTensor;
  /** `[N, R, 4]` f32. */
  bboxTargets: RawTensor;
  /** `[N, R, 4]` f32. */
  bboxWeights: RawTensor;
  /** Compact only: `[N, S, 5]` f32 rows `(image, x1, y1, x2, y2)`, image −1 for padding. */
  rois: RawTensor | null;
}

/**
 * Targets of sampled boxes. Dense (`inds` null): one row per box (anchor heads). Compact: one row
 * per slot of `inds` `[N, S]` from `sampledIndices` (RoI heads), plus the `rois`.
 */
export function buildTargets(
  boxes: RawTensor,
  assign: RawTensor,
  sampled: RawTensor,
  inds: RawTensor | null,
  pack: GtPack,
  opts: BuildTargetsOptions,
): BuiltTargets {
  const lay = pack.layout, N = lay.numImages;
  const { B, stride } = boxesPerImage(boxes, N);
  if (assign.size !== N * B * 2 || sampled.size !== N * B) {
    throw new TypeError(
      `Cannot build targets: assign ${fmtShape(assign.shape)} and sampled ${
        fmtShape(sampled.shape)
      } do not match ${N} images × ${B} boxes`,
    );
  }
  const gpu = getGpu();
  const R = inds ? inds.shape[1] : B;
  const out: BuiltTargets = {
    labels: gpu.empty([N, R], "i32", "labels"),
    labelWeights: gpu.empty([N, R], "f32", "label_weights"),
    bboxTargets: gpu.empty([N, R, 4], "f32", "bbox_targets"),
    bboxWeights: gpu.empty([N, R, 4], "f32", "bbox_weights"),
    rois: inds ? gpu.empty([N, R, 5], "f32", "rois") : null,
  };
  const dummy = inds && out.rois ? null : gpu.empty([4], "i32", "targets_dummy");
  const roiSink = out.rois ?? gpu.empty([4], "f32", "rois_sink");
  const e = opts.encoding;
  gpu.dispatch(BBOX_TARGETS, {
    bindings: [
      boxes,
      assign,
      sampled,
      inds ?? dummy!,
      pack.data,
      out.labels,
      out.labelWeights,
      out.bboxTargets,
      out.bboxWeights,
      roiSink,
    ],
    params: [
      N,
      B,
      stride,
      R,
      lay.gtOff,
      lay.labelOff,
      lay.maxGt,
      opts.numClasses,
      opts.posWeight ?? -1,
      0,
      0,
      0,
      ...e.means,
      ...e.stds,
    ],
    overrides: {
      COMPACT: inds ? 1 : 0,
      REG_DECODED: opts.regDecoded ? 1 : 0,
      SIZE_OFF: e.kind === "legacy" ? 1 : 0,
    },
    workgroups: Math.ceil((N * R) / 256),
  });
  dummy?.release();
  if (!out.rois) roiSink.release();
  return out;
}

/** Options of {@linkcode boxFlags}. */
export interface BoxFlagsOptions {
  /** `> 0`: boxes whose IoF with an ignore box exceeds it get flag 2. Default −1 (off). */
  ignoreIofThr?: number;
  /** IoF over the box (true, default) or over the ignore box. */
  ignoreWrtCandidates?: boolean;
}

/**
 * Flags of per-image boxes (proposals): 1 for rows whose `valid` entry is non-zero, 0 for padding,
 * 2 for real boxes in an ignore region (IoF `> ignoreIofThr`).
 *
 * @param boxes `[N, B, 4]`.
 * @param valid `[N, B]` u32 or f32 (non-zero: a real box).
 */
export function boxFlags(
  boxes: RawTensor,
  valid: RawTensor,
  pack: GtPack,
  opts: BoxFlagsOptions = {},
): RawTensor {
  const lay = pack.layout, N = lay.numImages;
  const { B } = boxesPerImage(boxes, N);
  if (valid.size !== N * B) {
    throw new TypeError(
      `Cannot flag boxes: valid ${fmtShape(valid.shape)} does not match ${N} images × ${B} boxes`,
    );
  }
  const gpu = getGpu();
  const flags = gpu.empty([N, B], "u32", "box_flags");
  gpu.dispatch(BOX_FLAGS, {
    bindings: [boxes, valid, pack.data, flags],
    params: [
      N,
      B,
      lay.ignOff,
      lay.ignCountOff,
      lay.maxIgnore,
      opts.ignoreWrtCandidates ?? true ? 1 : 0,
      opts.ignoreIofThr ?? -1,
      1e-6,
      1,
      0,
      0,
      0,
    ],
    workgroups: Math.ceil((N * B) / 256),
  });
  return flags;
}
