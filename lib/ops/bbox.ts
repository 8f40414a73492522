/**
 * Box kernels: overlaps (IoU / IoF / GIoU, mmdetection v2 convention) and per-image anchor flags.
 *
 * @module
 */
import overlapsSrc from "../../kernels/bbox_overlaps.wgsl" with { type: "text" };
import validSrc from "../../kernels/anchor_valid.wgsl" with { type: "text" };
import scoresSrc from "../../kernels/anchor_scores.wgsl" with { type: "text" };
import decodeSrc from "../../kernels/delta_decode.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";
import type { TargetPackLayout } from "./targets.ts";

/** `kernels/bbox_overlaps.wgsl`. */
export const BBOX_OVERLAPS: KernelSpec = {
  name: "bbox_overlaps",
  source: overlapsSrc,
  params: "uuff",
};
/** `kernels/anchor_valid.wgsl`. */
export const ANCHOR_VALID: KernelSpec = {
  name: "anchor_valid",
  source: validSrc,
  params: "uuuuuuuuffuuffuu",
};

/** `kernels/anchor_scores.wgsl`. */
export const ANCHOR_SCORES: KernelSpec = {
  name: "anchor_scores",
  source: scoresSrc,
  params: "uuuuuufu",
};
/** `kernels/delta_decode.wgsl`. */
export const DELTA_DECODE: KernelSpec = {
  name: "delta_decode",
  source: decodeSrc,
  params: "uuuuuuuuuuuffufu" + "ffffffff",
};

/** Overlap measure: intersection over union, over the first box's area, or generalised IoU. */
export type OverlapMode = "iou" | "iof" | "giou";
const MODE: Record<OverlapMode, number> = { iou: 0, iof: 1, giou: 2 };

/** Options of {@linkcode bboxOverlaps}. */
export interface BboxOverlapsOptions {
  /** Default `"iou"`. */
  mode?: OverlapMode;
  /** Pair `a[i]` with `b[i]` only (needs equal counts) instead of all pairs. */
  isAligned?: boolean;
  /** Lower clamp of the denominators (default 1e-6, mmdetection's). */
  eps?: number;
}

function checkBoxes(t: RawTensor, name: string): number {
  if (t.dtype !== "f32" || t.shape.length !== 2 || t.shape[1] !== 4) {
    throw new TypeError(
      `Cannot compute box overlaps: "${name}" must be an f32 [n, 4] tensor, got ${
        fmtShape(t.shape)
      } ${t.dtype}`,
    );
  }
  return t.shape[0];
}

/**
 * mmdetection v2's `bbox_overlaps` on the GPU (spec §2.4): no "+1", areas unclamped,
 * denominators clamped below at `eps`, quotients correctly rounded as in PyTorch.
 *
 * @param a `[m, 4]` xyxy boxes, absolute pixels, f32.
 * @param b `[n, 4]` xyxy boxes.
 * @returns `[m, n]` f32, or `[m]` when `isAligned`.
 *
 * @example
 * ```ts
 * import { initGpu } from "../gpu/runtime.ts";
 * import { bboxOverlaps } from "./bbox.ts";
 * const gpu = await initGpu();
 * const iou = bboxOverlaps(gpu.upload([0, 0, 10, 10], [1, 4]), gpu.upload([5, 0, 15, 10], [1, 4]));
 * const v = await gpu.read(iou); // [[0.33333334]]
 * if (Math.abs(v[0] - 1 / 3) > 1e-6) throw new Error(`IoU ${v[0]}`);
 * ```
 */
export function bboxOverlaps(
  a: RawTensor,
  b: RawTensor,
  opts: BboxOverlapsOptions = {},
): RawTensor {
  const { mode = "iou", isAligned = false, eps = 1e-6 } = opts;
  if (!(mode in MODE)) {
    throw new RangeError(
      `Cannot compute box overlaps: mode "${mode}" is not one of "iou", "iof", "giou"`,
    );
  }
  const m = checkBoxes(a, "a"), n = checkBoxes(b, "b");
  if (isAligned && m !== n) {
    throw new TypeError(`Cannot compute aligned box overlaps: ${m} boxes in "a" but ${n} in "b"`);
  }
  const gpu = getGpu();
  const out = gpu.empty(isAligned ? [m] : [m, n], "f32", "bbox_overlaps");
  gpu.dispatch(BBOX_OVERLAPS, {
    bindings: [a, b, out],
    params: [m, n, eps, 1],
    overrides: { MODE: MODE[mode], ALIGNED: isAligned ? 1 : 0 },
    workgroups: Math.ceil(out.size / 256),
  });
  return out;
}

/** One pyramid level of a concatenated anchor list. */
export interface AnchorLevel {
  /** First anchor of the level in the concatenated list. */
  start: number;
  /** Feature-map height and width. */
  featH: number;
  featW: number;
  /** Anchors per feature-map cell. */
  numBase: number;
}

/** The `[L, 4]` u32 level table that {@linkcode anchorFlags} reads (upload once per size set). */
export function levelTable(levels: readonly AnchorLevel[]): Uint32Array {
  return Uint32Array.from(levels.flatMap((l) => [l.start, l.featH, l.featW, l.numBase]));
}

/** Options of {@linkcode anchorFlags}: mmdetection's `allowed_border` and ignore settings. */
export interface AnchorFlagsOptions {
  /** `< 0` (default −1): valid flags only; `≥ 0`: anchors must also lie within the image ± border. */
  allowedBorder?: number;
  /** `> 0`: anchors whose IoF with an ignore box exceeds it are marked 2. Default −1 (off). */
  ignoreIofThr?: number;
  /** IoF over the anchor (true, default) or over the ignore box. */
  ignoreWrtCandidates?: boolean;
}

/**
 * Anchor flags of every image: 0 outside (beyond `ceil(pad / stride)`, or outside the image by more
 * than `allowedBorder`), 1 inside, 2 inside but in an ignore region.
 *
 * @param anchors `[A, 4]` xyxy, all levels concatenated (level order, then `(y·W + x)·A + a`).
 * @param levels `[L, 4]` u32 table from {@linkcode levelTable}.
 * @param pack the step pack of {@linkcode packTargetInputs} (valid sizes, image shapes, ignores).
 * @returns `[N, A]` u32.
 */
export function anchorFlags(
  anchors: RawTensor,
  levels: RawTensor,
  pack: { data: RawTensor; layout: TargetPackLayout },
  opts: AnchorFlagsOptions = {},
): RawTensor {
  const { allowedBorder = -1, ignoreIofThr = -1, ignoreWrtCandidates = true } = opts;
  const A = checkBoxes(anchors, "anchors");
  const L = levels.size / 4, lay = pack.layout;
  if (L !== lay.numLevels) {
    throw new TypeError(
      `Cannot compute anchor flags: the level table has ${L} levels but the step pack ${lay.numLevels}`,
    );
  }
  const gpu = getGpu();
  const flags = gpu.empty([lay.numImages, A], "u32", "anchor_flags");
  gpu.dispatch(ANCHOR_VALID, {
    bindings: [anchors, levels, pack.data, flags],
    params: [
      lay.numImages,
      A,
      L,
      lay.imgStride,
      lay.imgOff,
      lay.ignOff,
      lay.ignCountOff,
      lay.maxIgnore,
      allowedBorder,
      ignoreIofThr,
      ignoreWrtCandidates ? 1 : 0,
      allowedBorder >= 0 ? 1 : 0,
      1e-6,
      1,
      0,
      0,
    ],
    workgroups: Math.ceil(flags.size / 256),
  });
  return flags;
}

/** Options of {@linkcode levelScoresInto}. */
export interface LevelScoresOptions {
  numAnchors: number;
  numClasses: number;
  /** Anchors per image over all levels (the row count of `vals`). */
  rows: number;
  /** First anchor of this level. */
  start: number;
  /** Pair scores `≤` this are written as −1 (pairs only). */
  scoreThr: number;
  /** false: max-over-classes score per anchor (`[N, rows]`); true: every (anchor, class) score (`[N, rows·C]`). */
  pairs: boolean;
  /** sigmoid (true) or softmax over C + 1 channels. */
  sigmoid: boolean;
}

/**
 * Writes one level's test-time scores into `vals` (spec §2.10).
 *
 * @param cls the level's logits `[N, A·Cout, H, W]` (Cout = C, or C + 1 with softmax).
 */
export function levelScoresInto(cls: RawTensor, vals: RawTensor, o: LevelScoresOptions): void {
  const [N, , H, W] = cls.shape;
  getGpu().dispatch(ANCHOR_SCORES, {
    bindings: [cls, vals],
    params: [N, H * W, o.numAnchors, o.numClasses, o.rows, o.start, o.scoreThr, 0],
    overrides: { MODE: o.pairs ? 1 : 0, SIGMOID: o.sigmoid ? 1 : 0 },
    workgroups: Math.ceil((N * o.numAnchors * H * W) / 256),
  });
}

/** Options of {@linkcode decodeSelectedInto}. */
export interface DecodeSelectedOptions {
  numAnchors: number;
  numClasses: number;
  /** Selected candidates of this level per image, and where they go among the K of a row. */
  k: number;
  kOff: number;
  /** Where this level's top-k results start in `perm` (image-major inside the level). */
  selOff: number;
  /** First anchor of this level. */
  start: number;
  rescale: boolean;
  clip: boolean;
  pairs: boolean;
  sigmoid: boolean;
  means: readonly number[];
  stds: readonly number[];
  /** Default 16/1000. */
  whRatioClip?: number;
  /**
   * `"delta"` (default) `DeltaXYWHBBoxCoder`; `"ctr_clamp"` with `add_ctr_clamp` (needs `ctrClamp`);
   * `"legacy"` `LegacyDeltaXYWHBBoxCoder` (+1 widths, clipped to `[0, w − 1]`, `[0, h − 1]`).
   */
  coder?: "delta" | "ctr_clamp" | "legacy";
  /** `ctr_clamp` in pixels (default 32). */
  ctrClamp?: number;
}

const CODER_KIND = { delta: 0, legacy: 1, ctr_clamp: 2 } as const;

/**
 * Decodes one level's selected anchors (`DeltaXYWHBBoxCoder.decode` or its `add_ctr_clamp` and
 * legacy variants, see `DecodeSelectedOptions.coder`; clipped to `img_shape`,
 * flipped back and divided by `scale_factor` as the per-image `meta` `[N, 8]` says) and writes
 * their boxes `[N, K, 4]`, scores `[N, K, S]` and, for pairs, labels `[N, K]`.
 */
export function decodeSelectedInto(
  inp: {
    anchors: RawTensor;
    cls: RawTensor;
    reg: RawTensor;
    sel: RawTensor;
    perm: RawTensor;
    meta: RawTensor;
  },
  out: { boxes: RawTensor; scores: RawTensor; labels: RawTensor },
  o: DecodeSelectedOptions,
): void {
  const [N, , H, W] = inp.cls.shape;
  const K = out.boxes.shape[1];
  const maxRatio = Math.fround(Math.abs(Math.log(o.whRatioClip ?? 16 / 1000)));
  getGpu().dispatch(DELTA_DECODE, {
    bindings: [
      inp.anchors,
      inp.cls,
      inp.reg,
      inp.sel,
      inp.perm,
      inp.meta,
      out.boxes,
      out.scores,
      out.labels,
    ],
    params: [
      N,
      H * W,
      o.numAnchors,
      o.numClasses,
      o.k,
      K,
      o.kOff,
      o.selOff,
      o.start,
      o.rescale ? 1 : 0,
      o.clip ? 1 : 0,
      1,
      maxRatio,
      CODER_KIND[o.coder ?? "delta"],
      o.ctrClamp ?? 32,
      0,
      ...o.means,
      ...o.stds,
    ],
    overrides: { MODE: o.pairs ? 1 : 0, SIGMOID: o.sigmoid ? 1 : 0 },
    workgroups: Math.ceil((N * o.k) / 256),
  });
}
