/**
 * mmdetection's `FocalLoss` (sigmoid only, as in mmdetection v2.11).
 *
 * @module
 */
import { sigmoidFocalLoss } from "../../autograd/losses.ts";
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

/** Config of `FocalLoss`. */
export interface FocalLossCfg extends BaseLossCfg {
  /** Only `true` is supported (mmdetection v2.11 raises otherwise). */
  use_sigmoid?: boolean;
  /** Default 2. */
  gamma?: number;
  /** Default 0.25. */
  alpha?: number;
}

/**
 * Sigmoid focal loss, fused forward and gradient (`kernels/focal_loss.wgsl`), numerically stable
 * for any logit (softplus form, as PyTorch's path of mmdetection; mmcv's CUDA kernel clamps
 * `log(p)` at `FLT_MIN`, which differs only for |logit| > 87).
 *
 * @example
 * ```ts ignore
 * const loss = LOSSES.build({ type: "FocalLoss", use_sigmoid: true, gamma: 2, alpha: 0.25 }) as FocalLoss;
 * const l = loss.forward(clsScore, labels, { weight: labelWeights, avgFactor: numTotalPos });
 * ```
 */
export class FocalLoss implements Loss {
  /** Always true: only the sigmoid form is supported. */
  readonly useSigmoid: boolean;
  /** Focusing exponent γ. */
  readonly gamma: number;
  /** Weight α of positives (1 − α for negatives). */
  readonly alpha: number;
  /** Reduction mode (`"mean"` by default). */
  readonly reduction: Reduction;
  /** Multiplier of the reduced loss. */
  readonly lossWeight: number;
  /** Whether `avgFactor` gets float32 eps added (mmdetection ≥ 2.2x). */
  readonly avgEps: boolean;

  /** Reads the config; throws `RangeError` for `use_sigmoid: false`. */
  constructor(cfg: FocalLossCfg = {}) {
    this.useSigmoid = cfg.use_sigmoid ?? true;
    if (!this.useSigmoid) {
      throw new RangeError(
        "Cannot build FocalLoss: only the sigmoid focal loss is supported: set use_sigmoid to true",
      );
    }
    this.gamma = cfg.gamma ?? 2;
    this.alpha = cfg.alpha ?? 0.25;
    ({ reduction: this.reduction, lossWeight: this.lossWeight, avgEps: this.avgEps } =
      baseLossSettings("FocalLoss", cfg));
  }

  /**
   * The weighted, reduced sigmoid focal loss times `lossWeight`.
   *
   * @param pred logits `[M, C]`, or a conv output `[N, A·C, H, W]` whose rows are ordered as
   *   mmdetection's `permute(0, 2, 3, 1).reshape(-1, C)` (spec §2.8).
   * @param target `[M]` i32 labels; `C` is background.
   * @returns `[]` (`[M, C]`-sized weighted losses in `pred`'s shape for `"none"`).
   */
  forward(pred: Tensor, target: Tensor, opts: LossForwardOptions = {}): Tensor {
    return sigmoidFocalLoss(pred, target, {
      ...callReduce(this, opts),
      weight: opts.weight,
      gamma: this.gamma,
      alpha: this.alpha,
    });
  }
}

LOSSES.register("FocalLoss", FocalLoss);
