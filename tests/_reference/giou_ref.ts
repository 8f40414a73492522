/**
 * Reference generalised IoU: torchvision's `generalized_box_iou` (pairwise, no eps) and
 * mmdetection's `GIoULoss` (aligned, `1 − GIoU` with eps 1e-7) with its gradient.
 *
 * @module
 */
import { iouRef } from "./iou_ref.ts";

/** torchvision's pairwise GIoU of `a` `[m, 4]` and `b` `[n, 4]`, `[m·n]` (NaN for empty unions). */
export function generalizedBoxIouRef(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const m = a.length / 4, n = b.length / 4, out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const [ax1, ay1, ax2, ay2] = [a[4 * i], a[4 * i + 1], a[4 * i + 2], a[4 * i + 3]];
      const [bx1, by1, bx2, by2] = [b[4 * j], b[4 * j + 1], b[4 * j + 2], b[4 * j + 3]];
      const inter = Math.max(Math.min(ax2, bx2) - Math.max(ax1, bx1), 0) *
        Math.max(Math.min(ay2, by2) - Math.max(ay1, by1), 0);
      const union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
      const enclose = Math.max(Math.max(ax2, bx2) - Math.min(ax1, bx1), 0) *
        Math.max(Math.max(ay2, by2) - Math.min(ay1, by1), 0);
      out[i * n + j] = inter / union - (enclose - union) / enclose;
    }
  }
  return out;
}

/**
 * mmdetection's `giou_loss` per box pair (`1 − GIoU`, aligned, eps 1e-7) and its gradient with
 * respect to `pred`, by central finite differences in float64 (a reference, not a fast path).
 */
export function giouLossRef(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  eps = 1e-7,
): { loss: Float64Array; grad: Float64Array } {
  const lossOf = (p: ArrayLike<number>) =>
    iouRef(p, target, { mode: "giou", isAligned: true, eps }).map((g) => 1 - g);
  const loss = lossOf(pred);
  const grad = new Float64Array(pred.length);
  const h = 1e-6;
  for (let k = 0; k < pred.length; k++) {
    const p = Float64Array.from(pred), q = Float64Array.from(pred);
    p[k] += h;
    q[k] -= h;
    const row = Math.floor(k / 4);
    grad[k] = (lossOf(p)[row] - lossOf(q)[row]) / (2 * h);
  }
  return { loss, grad };
}
