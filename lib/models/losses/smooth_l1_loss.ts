/**
 * mmdetection's `L1Loss` (RetinaNet v2's box loss) and `SmoothL1Loss` (v1's, β = 0.11).
 *
 * @module
 */
import { l1Loss } from "../../autograd/losses.ts";
import type { Tensor } from "../../autograd/tensor.ts";
import { LOSSES } from "../registry.ts";
import {
  type BaseLossCfg,
  baseLossSettings,
  callReduce,
  type Loss,
  type LossForwardOptions,
  type Reduction,
} from "./utils.ts";

/**
 * `|pred − target|`, weighted and reduced; the gradient is `sign(pred − target)` (0 at 0).
 *
 * @example
 * ```ts ignore
 * const loss = new L1Loss({ loss_weight: 1 });
 * const l = loss.forward(bboxPred, bboxTargets, { weight: bboxWeights, avgFactor: numTotalPos });
 * ```
 */
export class L1Loss implements Loss {
  /** Reduction mode (`"mean"` by default). */
  readonly reduction: Reduction;
  /** Multiplier of the reduced loss. */
  readonly lossWeight: number;
  /** Whether `avgFactor` gets float32 eps added (mmdetection ≥ 2.2x). */
  readonly avgEps: boolean;

  /** Reads `reduction`, `loss_weight` and `avg_factor_eps`. */
  constructor(cfg: BaseLossCfg = {}) {
    ({ reduction: this.reduction, lossWeight: this.lossWeight, avgEps: this.avgEps } =
      baseLossSettings("L1Loss", cfg));
  }

  /**
   * The weighted, reduced L1 loss times `lossWeight`.
   *
   * @param pred `[M, K]` (or any shape of `target`'s size), or a conv output `[N, A·K, H, W]`.
   * @param target `[M, K]` f32.
   */
  forward(pred: Tensor, target: Tensor, opts: LossForwardOptions = {}): Tensor {
    return l1Loss(pred, target, { ...callReduce(this, opts), weight: opts.weight });
  }
}

/** Config of `SmoothL1Loss`. */
export interface SmoothL1LossCfg extends BaseLossCfg {
  /** Default 1. */
  beta?: number;
}

/** `|d| < β ? 0.5·d²/β : |d| − 0.5·β` with `d = pred − target`, weighted and reduced. */
export class SmoothL1Loss implements Loss {
  /** Width of the quadratic zone. */
  readonly beta: number;
  /** Reduction mode (`"mean"` by default). */
  readonly reduction: Reduction;
  /** Multiplier of the reduced loss. */
  readonly lossWeight: number;
  /** Whether `avgFactor` gets float32 eps added (mmdetection ≥ 2.2x). */
  readonly avgEps: boolean;

  /** Reads `beta` and the shared keys; throws `RangeError` for `beta` ≤ 0. */
  constructor(cfg: SmoothL1LossCfg = {}) {
    this.beta = cfg.beta ?? 1;
    if (!(this.beta > 0)) {
      throw new RangeError(`Cannot build SmoothL1Loss: beta must be > 0, got ${cfg.beta}`);
    }
    ({ reduction: this.reduction, lossWeight: this.lossWeight, avgEps: this.avgEps } =
      baseLossSettings("SmoothL1Loss", cfg));
  }

  /** Same shapes as `L1Loss.forward`. */
  forward(pred: Tensor, target: Tensor, opts: LossForwardOptions = {}): Tensor {
    return l1Loss(pred, target, {
      ...callReduce(this, opts),
      weight: opts.weight,
      beta: this.beta,
    });
  }
}

LOSSES.register("L1Loss", L1Loss);
LOSSES.register("SmoothL1Loss", SmoothL1Loss);
