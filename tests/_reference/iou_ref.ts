/**
 * Reference IoU / IoF / GIoU of two box sets, written from spec §2.4 (mmdetection v2: no "+1",
 * areas unclamped, denominators clamped at eps). Float64 by default; `f32: true` rounds every
 * step to float32 in PyTorch's order, which exact-tie tests need.
 *
 * @module
 */

/** Options of `iouRef`. */
export interface IouRefOptions {
  mode?: "iou" | "iof" | "giou";
  isAligned?: boolean;
  eps?: number;
  /** Round each step to float32 (PyTorch float32 semantics). */
  f32?: boolean;
}

/** Overlaps of `a` `[m, 4]` and `b` `[n, 4]` (flat xyxy): `[m·n]` row-major, or `[m]` aligned. */
export function iouRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  opts: IouRefOptions = {},
): Float64Array {
  const { mode = "iou", isAligned = false, eps = 1e-6, f32 = false } = opts;
  const r = f32 ? Math.fround : (x: number) => x;
  const m = a.length / 4, n = b.length / 4;
  const one = (i: number, j: number): number => {
    const [ax1, ay1, ax2, ay2] = [a[4 * i], a[4 * i + 1], a[4 * i + 2], a[4 * i + 3]];
    const [bx1, by1, bx2, by2] = [b[4 * j], b[4 * j + 1], b[4 * j + 2], b[4 * j + 3]];
    const areaA = r(r(ax2 - ax1) * r(ay2 - ay1));
    const areaB = r(r(bx2 - bx1) * r(by2 - by1));
    const iw = Math.max(r(Math.min(ax2, bx2) - Math.max(ax1, bx1)), 0);
    const ih = Math.max(r(Math.min(ay2, by2) - Math.max(ay1, by1)), 0);
    const inter = r(iw * ih);
    const union = Math.max(mode === "iof" ? areaA : r(r(areaA + areaB) - inter), r(eps));
    const iou = r(inter / union);
    if (mode !== "giou") return iou;
    const ew = Math.max(r(Math.max(ax2, bx2) - Math.min(ax1, bx1)), 0);
    const eh = Math.max(r(Math.max(ay2, by2) - Math.min(ay1, by1)), 0);
    const enclose = Math.max(r(ew * eh), r(eps));
    return r(iou - r(r(enclose - union) / enclose));
  };
  if (isAligned) return Float64Array.from({ length: m }, (_, i) => one(i, i));
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[i * n + j] = one(i, j);
  return out;
}
