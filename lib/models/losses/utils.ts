/**
 * What every loss of `LOSSES` shares: mmdetection's `reduction` / `loss_weight` config keys, the
 * call options (`weight`, `avgFactor`, `reductionOverride`) and `weight_reduce_loss` semantics:
 * multiply by the weights, then `"none"` keeps elements, `"sum"` sums, `"mean"` divides the sum by
 * the element count or by `avgFactor` when given (a number, or a `[]` f32 GPU tensor such as
 * `num_total_pos` — read by the kernel, never by the CPU). `avgFactor` with `"sum"` is an error.
 *
 * Normalisation follows mmdetection v2.11 (`sum / avg_factor`); the wgdet-only config key
 * `avg_factor_eps: true` selects v2.2x's `sum / (avg_factor + float32 eps)`.
 *
 * @module
 */
import type { Tensor } from "../../autograd/tensor.ts";
import type { ReduceOptions, Reduction } from "../../ops/loss_reduce.ts";

export type { Reduction } from "../../ops/loss_reduce.ts";

/** Config keys shared by every loss. */
export interface BaseLossCfg {
  /** Registry name (e.g. `"FocalLoss"`). */
  type?: string;
  /** Default `"mean"`. */
  reduction?: Reduction;
  /** Default 1. */
  loss_weight?: number;
  /** wgdet extension: add float32 eps to `avg_factor` as mmdetection ≥ 2.2x (default false). */
  avg_factor_eps?: boolean;
}

/** Options of a loss's `forward`. */
export interface LossForwardOptions {
  /** Element or row weights (e.g. `label_weights` `[M]`, `bbox_weights` `[M, 4]`). */
  weight?: Tensor | null;
  /** Normaliser for `"mean"`: a number or a `[]` f32 tensor. */
  avgFactor?: ReduceOptions<Tensor>["avgFactor"];
  /** Overrides the configured reduction for this call. */
  reductionOverride?: Reduction | null;
}

/** A loss of the `LOSSES` registry. */
export interface Loss {
  /** Multiplier of the reduced loss (`loss_weight`). */
  readonly lossWeight: number;
  /** Reduction mode used unless a call overrides it. */
  readonly reduction: Reduction;
  /** The weighted, reduced loss times `lossWeight` for `pred` against `target`. */
  forward(pred: Tensor, target: Tensor, opts?: LossForwardOptions): Tensor;
}

/** Reads and checks the shared keys. */
export function baseLossSettings(
  name: string,
  cfg: BaseLossCfg,
): { reduction: Reduction; lossWeight: number; avgEps: boolean } {
  const reduction = cfg.reduction ?? "mean";
  if (reduction !== "none" && reduction !== "mean" && reduction !== "sum") {
    throw new RangeError(
      `Cannot build ${name}: reduction "${reduction}" is not one of "none", "mean", "sum"`,
    );
  }
  const lossWeight = cfg.loss_weight ?? 1;
  if (typeof lossWeight !== "number" || !Number.isFinite(lossWeight)) {
    throw new TypeError(
      `Cannot build ${name}: loss_weight must be a finite number, got ${
        JSON.stringify(cfg.loss_weight)
      }`,
    );
  }
  return { reduction, lossWeight, avgEps: cfg.avg_factor_eps ?? false };
}

/** The reduce options of one call. */
export function callReduce(
  loss: { reduction: Reduction; lossWeight: number; avgEps: boolean },
  opts: LossForwardOptions,
): {
  reduction: Reduction;
  avgFactor: number | Tensor | null;
  lossWeight: number;
  avgEps: boolean;
} {
  return {
    reduction: opts.reductionOverride ?? loss.reduction,
    avgFactor: opts.avgFactor ?? null,
    lossWeight: loss.lossWeight,
    avgEps: loss.avgEps,
  };
}
