/**
 * Reference of mmdetection's `weight_reduce_loss` (spec §2.8): multiply by the element weights,
 * then reduce. With `avgFactor` only `"mean"` (sum / avgFactor) and `"none"` are allowed; version
 * `"v2.2x"` divides by `avgFactor + float32 eps` (1.1920929e-07) as mmdetection ≥ 2.2x does.
 *
 * @module
 */

/** Reduction settings. */
export interface ReduceRefOptions {
  reduction?: "none" | "mean" | "sum";
  avgFactor?: number | null;
  /** `"v2.11"` (default): plain division; `"v2.2x"`: adds float32 eps to `avgFactor`. */
  version?: "v2.11" | "v2.2x";
}

/** The float32 machine epsilon mmdetection adds to `avg_factor` from v2.2x on. */
export const FLOAT32_EPS = 1.1920928955078125e-7;

/**
 * Weighted, reduced loss and the factor `d(result)/d(loss_i)` for each element (for gradients):
 * `value` is a number for "mean"/"sum" and the weighted array for "none".
 */
export function weightReduceRef(
  loss: ArrayLike<number>,
  weight: ArrayLike<number> | null,
  opts: ReduceRefOptions = {},
): { value: number | Float64Array; dLoss: Float64Array } {
  const { reduction = "mean", avgFactor = null, version = "v2.11" } = opts;
  const w = (i: number) => (weight ? weight[i] : 1);
  const weighted = Float64Array.from({ length: loss.length }, (_, i) => loss[i] * w(i));
  const n = loss.length;
  if (reduction === "none") {
    return {
      value: weighted,
      dLoss: Float64Array.from({ length: n }, (_, i) => w(i)),
    };
  }
  let denom: number;
  if (avgFactor == null) denom = reduction === "mean" ? n : 1;
  else if (reduction === "mean") denom = version === "v2.2x" ? avgFactor + FLOAT32_EPS : avgFactor;
  else throw new RangeError('avg_factor can not be used with reduction="sum"');
  let sum = 0;
  for (const v of weighted) sum += v;
  return { value: sum / denom, dLoss: Float64Array.from({ length: n }, (_, i) => w(i) / denom) };
}
