/**
 * Reference sigmoid focal loss and its gradient with respect to the logits (spec §2.8).
 *
 * Two forms of the same function:
 * - `"stable"` (default), written with softplus so it stays exact for any |x| (≥ 30 included):
 *   with p = σ(x), q = σ(−x), sp(z) = ln(1 + eᶻ):
 *   y = 1: FL = α q^γ sp(−x),       dFL/dx = −α q^γ (q + γ p sp(−x))
 *   y = 0: FL = (1−α) p^γ sp(x),    dFL/dx = (1−α) p^γ (p + γ q sp(x))
 *   It equals PyTorch's BCE-with-logits form (mmdetection's CPU path, torchvision).
 * - `"kernel"`: mmcv's CUDA kernel terms, ln(max(p, FLT_MIN)) and ln(max(1−p, FLT_MIN)), with
 *   `f32: true` rounding each step to float32 as the kernel does (it saturates for |x| ≳ 17).
 *
 * @module
 */
import { type ReduceRefOptions, weightReduceRef } from "./weight_reduce_ref.ts";

const FLT_MIN = 1.1754943508222875e-38;

/** softplus(z) = ln(1 + eᶻ), without overflow. */
export function softplus(z: number): number {
  return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
}

/** σ(z) without overflow. */
export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** Focal-loss options. */
export interface FocalRefOptions {
  alpha?: number;
  gamma?: number;
  form?: "stable" | "kernel";
  /** Only for the "kernel" form: float32 rounding of every step. */
  f32?: boolean;
}

/**
 * Element-wise focal loss and dFL/dx for logits `x` and binary targets `y` of the same length
 * (no weights, no reduction; torchvision's `sigmoid_focal_loss(reduction="none")`).
 */
export function sigmoidFocalRef(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  opts: FocalRefOptions = {},
): { loss: Float64Array; grad: Float64Array } {
  const { alpha = 0.25, gamma = 2, form = "stable", f32 = false } = opts;
  const r = f32 ? Math.fround : (v: number) => v;
  const loss = new Float64Array(x.length), grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const t = y[i];
    if (t !== 0 && t !== 1) {
      throw new RangeError(`focal reference: target ${t} at ${i} is not 0 or 1`);
    }
    if (form === "stable") {
      const p = sigmoid(x[i]), q = sigmoid(-x[i]);
      if (t === 1) {
        const sp = softplus(-x[i]);
        loss[i] = alpha * q ** gamma * sp;
        grad[i] = -alpha * q ** gamma * (q + gamma * p * sp);
      } else {
        const sp = softplus(x[i]);
        loss[i] = (1 - alpha) * p ** gamma * sp;
        grad[i] = (1 - alpha) * p ** gamma * (p + gamma * q * sp);
      }
    } else {
      const p = r(1 / r(1 + r(Math.exp(-x[i]))));
      const a = r(alpha), g = r(gamma);
      if (t === 1) {
        const lp = r(Math.log(Math.max(p, FLT_MIN)));
        const w = r(a * r(r(1 - p) ** g));
        loss[i] = r(-w * lp);
        grad[i] = r(-a * r(r(1 - p) ** g) * r(r(1 - p) - r(g * r(p * lp))));
      } else {
        const lq = r(Math.log(Math.max(r(1 - p), FLT_MIN)));
        const w = r(r(1 - a) * r(p ** g));
        loss[i] = r(-w * lq);
        grad[i] = r(-r(1 - a) * r(p ** g) * r(r(g * r(r(1 - p) * lq)) - p));
      }
    }
  }
  return { loss, grad };
}

/**
 * mmdetection's `FocalLoss(use_sigmoid=True)` on `[N, C]` logits with class labels `[N]`
 * (label C = background → all-zero targets), per-anchor weights `[N]` broadcast over classes,
 * `loss_weight`, and `weight_reduce_loss`. Returns the loss and d(loss)/d(logits) `[N·C]`.
 */
export function focalLossRef(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  opts: FocalRefOptions & ReduceRefOptions & {
    weights?: ArrayLike<number> | null;
    lossWeight?: number;
  } = {},
): { value: number | Float64Array; grad: Float64Array } {
  const N = labels.length, C = logits.length / N;
  const y = new Float64Array(N * C);
  for (let i = 0; i < N; i++) if (labels[i] >= 0 && labels[i] < C) y[i * C + labels[i]] = 1;
  const { loss, grad } = sigmoidFocalRef(logits, y, opts);
  const w = opts.weights
    ? Float64Array.from({ length: N * C }, (_, k) => opts.weights![Math.floor(k / C)])
    : null;
  const { value, dLoss } = weightReduceRef(loss, w, opts);
  const lw = opts.lossWeight ?? 1;
  return {
    value: typeof value === "number" ? lw * value : value.map((v) => lw * v),
    grad: grad.map((g, k) => lw * g * dLoss[k]),
  };
}
