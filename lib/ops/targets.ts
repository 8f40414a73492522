/**
 * Anchor target assignment on the GPU for a whole batch: the step pack (one upload of every
 * per-image input), mmdetection's `MaxIoUAssigner` + `PseudoSampler` + target builder, and the
 * `num_total_pos` normaliser that stays on the GPU.
 *
 * @module
 */
import gtMaxSrc from "../../kernels/max_iou_assign_gt_max.wgsl" with { type: "text" };
import assignSrc from "../../kernels/max_iou_assign.wgsl" with { type: "text" };
import finalSrc from "../../kernels/anchor_targets.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";

/** `kernels/max_iou_assign_gt_max.wgsl`. */
export const MAX_IOU_GT_MAX: KernelSpec = {
  name: "max_iou_assign_gt_max",
  source: gtMaxSrc,
  params: "uuuuuuuuffuu",
};
/** `kernels/max_iou_assign.wgsl`. */
export const MAX_IOU_ASSIGN: KernelSpec = {
  name: "max_iou_assign",
  source: assignSrc,
  params: "uuuuuuuufffffffu" + "ffffffff" + "uuuu",
};
/** `kernels/anchor_targets.wgsl`. */
export const ANCHOR_TARGETS: KernelSpec = {
  name: "anchor_targets",
  source: finalSrc,
  params: "uuuu",
};

/** Where each input lives in the step pack (offsets in 4-byte words). */
export interface TargetPackLayout {
  numImages: number;
  numLevels: number;
  /** Gts per image after padding (the largest count). */
  maxGt: number;
  /** Ignore boxes per image after padding. */
  maxIgnore: number;
  /** Per image: `[validH, validW]` per level, then the image shape `[h, w]` as f32 bits. */
  imgOff: number;
  imgStride: number;
  /** `[N, maxGt, 4]` f32 gt boxes. */
  gtOff: number;
  /** `[N, maxGt]` i32 gt labels. */
  labelOff: number;
  /** `[N]` u32 gt counts. */
  countOff: number;
  /** `[N, maxIgnore, 4]` f32 ignore boxes. */
  ignOff: number;
  /** `[N]` u32 ignore counts. */
  ignCountOff: number;
}

/** Per-image inputs of one training step, as host arrays. */
export interface TargetPackInput {
  /** Per image `[k, 4]` xyxy gt boxes (degenerate boxes already dropped). */
  gtBboxes: readonly Float32Array[];
  /** Per image `[k]` labels in `[0, numClasses)`. */
  gtLabels: readonly Int32Array[];
  /** Per image `[m, 4]` ignore boxes, or null. */
  gtBboxesIgnore?: readonly (Float32Array | null)[] | null;
  /** Per image, per level `[validH, validW] = [min(ceil(h / s_h), H_l), min(ceil(w / s_w), W_l)]`. */
  validSizes: readonly (readonly [number, number])[][];
  /** Per image `[h, w]` of the unpadded image (`img_shape`), for `allowed_border ≥ 0`. */
  imgShapes: readonly (readonly number[])[];
}

/**
 * Packs every per-image input of a step into one u32 array, uploaded with a single write: valid
 * sizes and image shapes, padded gt boxes, labels and counts, padded ignore boxes and counts.
 */
export function packTargetInputs(
  input: TargetPackInput,
): { data: Uint32Array; layout: TargetPackLayout } {
  const N = input.gtBboxes.length;
  if (
    input.gtLabels.length !== N || input.validSizes.length !== N || input.imgShapes.length !== N
  ) {
    throw new TypeError(
      `Cannot pack targets: ${N} gt box lists, ${input.gtLabels.length} label lists, ` +
        `${input.validSizes.length} valid-size lists and ${input.imgShapes.length} image shapes must all match`,
    );
  }
  const L = N > 0 ? input.validSizes[0].length : 0;
  const ign = input.gtBboxesIgnore ?? null;
  const counts = input.gtBboxes.map((b, i) => {
    const k = b.length / 4;
    if (!Number.isInteger(k) || input.gtLabels[i].length !== k) {
      throw new TypeError(
        `Cannot pack targets of image ${i}: ${b.length / 4} gt boxes do not match ${
          input.gtLabels[i].length
        } labels`,
      );
    }
    return k;
  });
  const ignCounts = Array.from({ length: N }, (_, i) => (ign?.[i] ? ign[i]!.length / 4 : 0));
  const G = Math.max(0, ...counts), I = Math.max(0, ...ignCounts);
  const imgStride = 2 * L + 2;
  const layout: TargetPackLayout = {
    numImages: N,
    numLevels: L,
    maxGt: G,
    maxIgnore: I,
    imgOff: 0,
    imgStride,
    gtOff: N * imgStride,
    labelOff: N * imgStride + N * G * 4,
    countOff: N * imgStride + N * G * 5,
    ignOff: N * imgStride + N * G * 5 + N,
    ignCountOff: N * imgStride + N * G * 5 + N + N * I * 4,
  };
  const data = new Uint32Array(layout.ignCountOff + N);
  const f32 = new Float32Array(data.buffer), i32 = new Int32Array(data.buffer);
  for (let n = 0; n < N; n++) {
    const vs = input.validSizes[n];
    if (vs.length !== L) {
      throw new TypeError(
        `Cannot pack targets of image ${n}: ${vs.length} levels of valid sizes, expected ${L}`,
      );
    }
    vs.forEach(([h, w], l) => data.set([h, w], n * imgStride + 2 * l));
    f32.set([input.imgShapes[n][0], input.imgShapes[n][1]], n * imgStride + 2 * L);
    f32.set(input.gtBboxes[n], layout.gtOff + n * G * 4);
    i32.set(input.gtLabels[n], layout.labelOff + n * G);
    data[layout.countOff + n] = counts[n];
    if (ign?.[n]) f32.set(ign[n]!, layout.ignOff + n * I * 4);
    data[layout.ignCountOff + n] = ignCounts[n];
  }
  return { data, layout };
}

/** Assigner and target settings (mmdetection's `MaxIoUAssigner` and `train_cfg` keys, camelCased). */
export interface AssignTargetsOptions {
  posIouThr: number;
  /** `thr` means `[0, thr)`; `[lo, hi]` means `lo ≤ IoU < hi`. */
  negIouThr: number | readonly [number, number];
  /** Default 0. */
  minPosIou?: number;
  /** Default true. */
  gtMaxAssignAll?: boolean;
  /** Default true. */
  matchLowQuality?: boolean;
  /** Background label. */
  numClasses: number;
  /** `train_cfg.pos_weight`: ≤ 0 (default −1) gives positives weight 1. */
  posWeight?: number;
  /** Targets are the gt boxes themselves instead of encoded deltas (default false). */
  regDecodedBbox?: boolean;
  /** `DeltaXYWHBBoxCoder` `target_means` / `target_stds` (default 0s / 1s). */
  targetMeans?: readonly number[];
  targetStds?: readonly number[];
}

/** Targets of every anchor of every image (images major, anchors in concatenated level order). */
export interface AnchorTargetsRaw {
  /** `[N, A]` i32: gt label of positives, `numClasses` otherwise. */
  labels: RawTensor;
  /** `[N, A]` f32: 1 (or `pos_weight`) for positives, 1 for negatives, 0 for ignored/outside. */
  labelWeights: RawTensor;
  /** `[N, A, 4]` f32: encoded deltas (or gt boxes) of positives, 0 otherwise. */
  bboxTargets: RawTensor;
  /** `[N, A, 4]` f32: 1 for positives. */
  bboxWeights: RawTensor;
  /** `[N, A, 2]` i32: `gt_inds` (see `AssignResult`; −1 also for outside anchors) and the f32 bits of `max_overlaps`. */
  assign: RawTensor;
  /** `[N, 2]` u32: positives and negatives per image. */
  counts: RawTensor;
  /** `[]` f32: Σ_images max(#pos, 1), the losses' `avg_factor`. */
  numTotalPos: RawTensor;
  /** `[]` f32: Σ_images max(#neg, 1). */
  numTotalNeg: RawTensor;
}

/** Anchors per `max_iou_assign_gt_max` workgroup. */
const GT_MAX_CHUNK = 2048;

/**
 * Assigns every anchor of every image and builds its targets (spec §2.5–§2.7), with no readback.
 *
 * @param anchors `[A, 4]` f32 xyxy.
 * @param flags `[N, A]` u32 from `anchorFlags` (0 outside, 1 inside, 2 ignore region).
 * @param pack the uploaded step pack and its layout (`packTargetInputs`).
 */
export function assignTargets(
  anchors: RawTensor,
  flags: RawTensor,
  pack: { data: RawTensor; layout: TargetPackLayout },
  opts: AssignTargetsOptions,
): AnchorTargetsRaw {
  const lay = pack.layout, N = lay.numImages, G = lay.maxGt;
  const A = anchors.shape[0];
  if (anchors.shape.length !== 2 || anchors.shape[1] !== 4 || flags.size !== N * A) {
    throw new TypeError(
      `Cannot assign targets: anchors ${fmtShape(anchors.shape)} and flags ${
        fmtShape(flags.shape)
      } do not describe ${N} images`,
    );
  }
  const neg = typeof opts.negIouThr === "number" ? [0, opts.negIouThr] : opts.negIouThr;
  const means = opts.targetMeans ?? [0, 0, 0, 0], stds = opts.targetStds ?? [1, 1, 1, 1];
  const gpu = getGpu();
  // 1. per gt: best IoU over inside anchors and its first anchor
  const gtBest = gtMaxStage(anchors, flags, pack, A, 0);
  // 2. assign, sample and encode, anchor by anchor
  const out: AnchorTargetsRaw = {
    labels: gpu.empty([N, A], "i32", "labels"),
    labelWeights: gpu.empty([N, A], "f32", "label_weights"),
    bboxTargets: gpu.empty([N, A, 4], "f32", "bbox_targets"),
    bboxWeights: gpu.empty([N, A, 4], "f32", "bbox_weights"),
    assign: gpu.empty([N, A, 2], "i32", "assign"),
    counts: gpu.zeros([N, 2], "u32", "target_counts"),
    numTotalPos: gpu.empty([], "f32", "num_total_pos"),
    numTotalNeg: gpu.empty([], "f32", "num_total_neg"),
  };
  const opt = (opts.matchLowQuality ?? true ? 1 : 0) | (opts.gtMaxAssignAll ?? true ? 2 : 0) |
    (opts.regDecodedBbox ? 4 : 0);
  const wpi = Math.ceil(A / 256);
  gpu.dispatch(MAX_IOU_ASSIGN, {
    bindings: [
      anchors,
      flags,
      pack.data,
      gtBest,
      out.labels,
      out.labelWeights,
      out.bboxTargets,
      out.bboxWeights,
      out.assign,
      out.counts,
    ],
    params: [
      N,
      A,
      G,
      wpi,
      lay.gtOff,
      lay.labelOff,
      lay.countOff,
      opts.numClasses,
      opts.posIouThr,
      neg[0],
      neg[1],
      opts.minPosIou ?? 0,
      opts.posWeight ?? -1,
      1e-6,
      1,
      opt,
      ...means,
      ...stds,
      0,
      0,
      0,
      0,
    ],
    overrides: { FUSED: 1 },
    workgroups: N * wpi,
  });
  // 3. normalisers
  targetNormalisersInto(out.counts, out.numTotalPos, out.numTotalNeg);
  gtBest.release();
  return out;
}

/**
 * `num_total_pos` / `num_total_neg` (Σ over images of max(#pos, 1), max(#neg, 1)) of per-image
 * counts `[N, 2]` u32, written into two `[]` f32 tensors on the GPU.
 */
export function targetNormalisersInto(
  counts: RawTensor,
  numTotalPos: RawTensor,
  numTotalNeg: RawTensor,
): void {
  getGpu().dispatch(ANCHOR_TARGETS, {
    bindings: [counts, numTotalPos, numTotalNeg],
    params: [counts.size / 2, 0, 0, 0],
    workgroups: 1,
  });
}

/**
 * The per-gt half of `MaxIoUAssigner`: for every gt of every image its best IoU over the
 * candidate boxes (flag ≠ 0; flag 2 counts as IoU −1) and the first box reaching it.
 *
 * @param boxes `[B, 4]` shared (`stride` 0) or `[N, B, 4]` per image (`stride` B).
 * @returns `[N · maxGt, 2]` u32: f32 bits of the best IoU (−inf without candidates), its box.
 */
export function gtMaxStage(
  boxes: RawTensor,
  flags: RawTensor,
  pack: { data: RawTensor; layout: TargetPackLayout },
  B: number,
  stride: number,
): RawTensor {
  const lay = pack.layout, N = lay.numImages, G = lay.maxGt;
  const gpu = getGpu();
  const nchunks = Math.max(1, Math.ceil(B / GT_MAX_CHUNK));
  const part = gpu.empty([N * G * nchunks, 2], "u32", "gt_max_part");
  const gtBest = gpu.empty([N * G, 2], "u32", "gt_best");
  const gmParams = [N, B, G, GT_MAX_CHUNK, nchunks, lay.gtOff, lay.countOff, stride, 1e-6, 1, 0, 0];
  const gmBind = [boxes, flags, pack.data, part, gtBest];
  gpu.dispatch(MAX_IOU_GT_MAX, {
    bindings: gmBind,
    params: gmParams,
    overrides: { PASS: 0 },
    workgroups: N * G * nchunks,
  });
  gpu.dispatch(MAX_IOU_GT_MAX, {
    bindings: gmBind,
    params: gmParams,
    overrides: { PASS: 1 },
    workgroups: Math.ceil((N * G) / 256),
  });
  part.release();
  return gtBest;
}
