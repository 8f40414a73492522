/**
 * Online hard negative mining (mmdetection `SSDHead.loss_single`) on the GPU: per image the
 * positives and the `min(ratio · #pos, #neg)` negatives with the largest weighted cross-entropy,
 * as a weight mask, without any readback.
 *
 * @module
 */
import src from "../../kernels/hard_negative.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";

/** `kernels/hard_negative.wgsl`. */
export const HARD_NEGATIVE: KernelSpec = { name: "hard_negative", source: src, params: "uuuu" };

/** The result of {@linkcode hardNegativeWeights}. */
export interface HardNegativeResult {
  /** `[N, A]` f32: the label weight of positives and kept negatives, 0 elsewhere. */
  weights: RawTensor;
  /** `[N, 2]` u32: number of positives and of kept negatives per image. */
  stats: RawTensor;
}

/**
 * Hard negative mining weights.
 *
 * @param ce `[N, A]` f32 per-anchor cross-entropy (unweighted).
 * @param labels `[N, A]` i32: `[0, C)` positives, `C` negatives, anything else neither.
 * @param labelWeights `[N, A]` f32; a negative's value is `ce · weight`.
 * @param opts `numClasses` C and the integer `negPosRatio` (mmdet's `neg_pos_ratio`).
 */
export function hardNegativeWeights(
  ce: RawTensor,
  labels: RawTensor,
  labelWeights: RawTensor,
  opts: { numClasses: number; negPosRatio: number },
): HardNegativeResult {
  const [N, A] = ce.shape;
  const same = (t: RawTensor, dtype: string) =>
    t.shape.length === 2 && t.shape[0] === N && t.shape[1] === A && t.dtype === dtype;
  if (
    ce.shape.length !== 2 || ce.dtype !== "f32" || !same(labels, "i32") ||
    !same(labelWeights, "f32")
  ) {
    throw new TypeError(
      `Cannot mine hard negatives: ce ${fmtShape(ce.shape)} f32, labels ${
        fmtShape(labels.shape)
      } i32 and label weights ${fmtShape(labelWeights.shape)} f32 must all be [N, A]`,
    );
  }
  const r = opts.negPosRatio;
  if (!Number.isInteger(r) || r < 0) {
    throw new RangeError(
      `Cannot mine hard negatives: neg_pos_ratio must be a non-negative integer, got ${r}`,
    );
  }
  const gpu = getGpu();
  const weights = gpu.empty([N, A], "f32", "ohem_weights");
  const stats = gpu.empty([N, 2], "u32", "ohem_stats");
  gpu.dispatch(HARD_NEGATIVE, {
    bindings: [ce, labels, labelWeights, weights, stats],
    params: [N, A, opts.numClasses, r],
    workgroups: N,
  });
  return { weights, stats };
}
