/**
 * Box overlaps with mmdetection v2's `bbox_overlaps` (spec §2.4): no "+1", areas not clamped,
 * union (and enclosing area for GIoU) clamped below at `eps`. Every step is rounded to float32
 * in PyTorch's order, so exact ties (which the assigner depends on) match mmdetection's.
 *
 * @module
 */
import { Registry } from "../../utils/registry.ts";

const f = Math.fround;

/** `"iou"`: intersection/union; `"iof"`: intersection/area of the first box; `"giou"`: generalised IoU. */
export type IouMode = "iou" | "iof" | "giou";

/** Options of `bboxOverlaps`. */
export interface BboxOverlapsOptions {
  /** Default `"iou"`. */
  mode?: IouMode;
  /** Pairs `a[i]` with `b[i]` only (needs `m == n`) instead of all `m × n` pairs. */
  isAligned?: boolean;
  /** Lower clamp of the denominators; default 1e-6. */
  eps?: number;
}

function checkBoxes(boxes: Float32Array, name: string): number {
  if (!(boxes instanceof Float32Array) || boxes.length % 4 !== 0) {
    throw new TypeError(
      `Cannot compute overlaps: "${name}" must be a Float32Array of [n, 4] xyxy boxes, got length ${boxes?.length}`,
    );
  }
  return boxes.length / 4;
}

/**
 * Overlaps between boxes `a` `[m, 4]` and `b` `[n, 4]` (xyxy, absolute pixels, row-major).
 *
 * @returns `[m, n]` row-major, or `[m]` when `isAligned`; empty when `m` or `n` is 0.
 *
 * @example
 * ```ts
 * import { bboxOverlaps } from "./iou.ts";
 * const iou = bboxOverlaps(Float32Array.of(0, 0, 10, 10), Float32Array.of(5, 0, 15, 10));
 * // iou[0] === Math.fround(50 / 150)
 * ```
 */
export function bboxOverlaps(
  a: Float32Array,
  b: Float32Array,
  opts: BboxOverlapsOptions = {},
): Float32Array {
  const { mode = "iou", isAligned = false, eps = 1e-6 } = opts;
  if (mode !== "iou" && mode !== "iof" && mode !== "giou") {
    throw new RangeError(
      `Cannot compute overlaps: mode "${mode}" is not one of "iou", "iof", "giou"`,
    );
  }
  const m = checkBoxes(a, "a"), n = checkBoxes(b, "b");
  if (isAligned && m !== n) {
    throw new TypeError(`Cannot compute aligned overlaps: ${m} boxes in "a" but ${n} in "b"`);
  }
  const out = new Float32Array(isAligned ? m : m * n);
  if (m === 0 || n === 0) return out;
  const e = f(eps);
  const areaA = new Float32Array(m), areaB = new Float32Array(n);
  for (let i = 0; i < m; i++) {
    areaA[i] = f(a[i * 4 + 2] - a[i * 4]) * f(a[i * 4 + 3] - a[i * 4 + 1]);
  }
  for (let j = 0; j < n; j++) {
    areaB[j] = f(b[j * 4 + 2] - b[j * 4]) * f(b[j * 4 + 3] - b[j * 4 + 1]);
  }
  const pair = (i: number, j: number): number => {
    const ai = i * 4, bj = j * 4;
    const w = Math.max(f(Math.min(a[ai + 2], b[bj + 2]) - Math.max(a[ai], b[bj])), 0);
    const h = Math.max(f(Math.min(a[ai + 3], b[bj + 3]) - Math.max(a[ai + 1], b[bj + 1])), 0);
    const overlap = f(w * h);
    let union = mode === "iof" ? areaA[i] : f(f(areaA[i] + areaB[j]) - overlap);
    union = Math.max(union, e);
    const iou = f(overlap / union);
    if (mode !== "giou") return iou;
    const ew = Math.max(f(Math.max(a[ai + 2], b[bj + 2]) - Math.min(a[ai], b[bj])), 0);
    const eh = Math.max(f(Math.max(a[ai + 3], b[bj + 3]) - Math.min(a[ai + 1], b[bj + 1])), 0);
    const enclose = Math.max(f(ew * eh), e);
    return f(iou - f(f(enclose - union) / enclose));
  };
  if (isAligned) {
    for (let i = 0; i < m; i++) out[i] = pair(i, i);
  } else {
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[i * n + j] = pair(i, j);
  }
  return out;
}

/**
 * mmdetection's `BboxOverlaps2D` IoU calculator (`IOU_CALCULATORS`): a callable wrapper of
 * `bboxOverlaps`.
 */
export class BboxOverlaps2D {
  /** Config accepted for registry builds; no keys are used. */
  constructor(_cfg: { type?: string } = {}) {}

  /** Overlaps of `a` `[m, 4]` with `b` `[n, 4]`; see `bboxOverlaps`. */
  call(a: Float32Array, b: Float32Array, opts: BboxOverlapsOptions = {}): Float32Array {
    return bboxOverlaps(a, b, opts);
  }
}

/** IoU calculators (`BboxOverlaps2D`); also exported by `lib/core/registry.ts`. */
export const IOU_CALCULATORS: Registry<BboxOverlaps2D> = new Registry("IOU_CALCULATORS");

IOU_CALCULATORS.register("BboxOverlaps2D", BboxOverlaps2D);
