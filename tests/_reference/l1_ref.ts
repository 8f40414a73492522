/**
 * Reference L1 loss (mmdetection `L1Loss`, spec §2.8): |pred − target| element-wise, gradient
 * sign(pred − target) with 0 at 0 (PyTorch's `abs`), weighted and reduced.
 *
 * @module
 */
import { type ReduceRefOptions, weightReduceRef } from "./weight_reduce_ref.ts";

/** L1 loss and d(loss)/d(pred); `weights` has the shape of `pred` (e.g. `[N, 4]` bbox weights). */
export function l1LossRef(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  opts: ReduceRefOptions & { weights?: ArrayLike<number> | null; lossWeight?: number } = {},
): { value: number | Float64Array; grad: Float64Array } {
  const diff = Float64Array.from({ length: pred.length }, (_, i) => pred[i] - target[i]);
  const { value, dLoss } = weightReduceRef(diff.map(Math.abs), opts.weights ?? null, opts);
  const lw = opts.lossWeight ?? 1;
  return {
    value: typeof value === "number" ? lw * value : value.map((v) => lw * v),
    grad: diff.map((d, i) => lw * Math.sign(d) * dLoss[i]),
  };
}
