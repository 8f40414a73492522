/**
 * Reference smooth L1 loss (mmdetection `SmoothL1Loss`, v1's RetinaNet box loss with β = 0.11):
 * |d| < β → 0.5·d²/β, else |d| − 0.5·β; gradient d/β or sign(d).
 *
 * @module
 */
import { type ReduceRefOptions, weightReduceRef } from "./weight_reduce_ref.ts";

/** Smooth L1 loss and d(loss)/d(pred). */
export function smoothL1LossRef(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  opts: ReduceRefOptions & {
    beta?: number;
    weights?: ArrayLike<number> | null;
    lossWeight?: number;
  } = {},
): { value: number | Float64Array; grad: Float64Array } {
  const beta = opts.beta ?? 1;
  if (!(beta > 0)) throw new RangeError(`smooth L1 reference: beta must be > 0, got ${beta}`);
  const diff = Float64Array.from({ length: pred.length }, (_, i) => pred[i] - target[i]);
  const elem = diff.map((
    d,
  ) => (Math.abs(d) < beta ? (0.5 * d * d) / beta : Math.abs(d) - 0.5 * beta));
  const { value, dLoss } = weightReduceRef(elem, opts.weights ?? null, opts);
  const lw = opts.lossWeight ?? 1;
  return {
    value: typeof value === "number" ? lw * value : value.map((v) => lw * v),
    grad: diff.map((d, i) => lw * (Math.abs(d) < beta ? d / beta : Math.sign(d)) * dLoss[i]),
  };
}
