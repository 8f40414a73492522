/**
 * mmdetection's `CrossEntropyLoss`: softmax cross-entropy, or (`use_sigmoid: true`) binary
 * cross-entropy with logits, which anchor heads use with one output per class.
 *
 * @module
 */
import { sigmoidBinaryCrossEntropy, softmaxCrossEntropy } from "../../autograd/losses.ts";
import { keep, Tensor } from "../../autograd/tensor.ts";
import { LOSSES } from "../registry.ts";
import {
  type BaseLossCfg,
  baseLossSettings,
  callReduce,
  type Loss,
  type LossForwardOptions,
  type Reduction,
} from "./utils.ts";

/** Config of `CrossEntropyLoss`. */
export interface CrossEntropyLossCfg extends BaseLossCfg {
  /** Binary cross-entropy with logits instead of softmax (default false). */
  use_sigmoid?: boolean;
  /** Mask losses are not supported (default false). */
  use_mask?: boolean;
  /** Per-class weights: softmax `weight` or sigmoid `pos_weight`. */
  class_weight?: number[] | null;
  /** Softmax rows with this label give 0 (default −100). */
  ignore_index?: number;
}

/**
 * Cross-entropy with mmdetection's semantics (`weight_reduce_loss`, `class_weight`).
 *
 * @example
 * ```ts ignore
 * const loss = new CrossEntropyLoss({ use_sigmoid: true, loss_weight: 1 });
 * const l = loss.forward(clsScore, labels, { weight: labelWeights, avgFactor: 8 });
 * ```
 */
export class CrossEntropyLoss implements Loss {
  /** Whether the loss is binary cross-entropy with logits (else softmax cross-entropy). */
  readonly useSigmoid: boolean;
  /** Per-class weights, or null. */
  readonly classWeight: number[] | null;
  /** Softmax rows with this label contribute 0. */
  readonly ignoreIndex: number;
  /** Reduction mode (`"mean"` by default). */
  readonly reduction: Reduction;
  /** Multiplier of the reduced loss. */
  readonly lossWeight: number;
  /** Whether `avgFactor` gets float32 eps added (mmdetection ≥ 2.2x). */
  readonly avgEps: boolean;
  #classWeight: Tensor | null = null;

  /** Reads the config; throws `RangeError` for `use_mask: true`. */
  constructor(cfg: CrossEntropyLossCfg = {}) {
    if (cfg.use_mask) {
      throw new RangeError(
        "Cannot build CrossEntropyLoss: use_mask is not supported: set it to false",
      );
    }
    this.useSigmoid = cfg.use_sigmoid ?? false;
    this.classWeight = cfg.class_weight ?? null;
    this.ignoreIndex = cfg.ignore_index ?? -100;
    ({ reduction: this.reduction, lossWeight: this.lossWeight, avgEps: this.avgEps } =
      baseLossSettings("CrossEntropyLoss", cfg));
  }

  #cw(): Tensor | null {
    if (!this.classWeight) return null;
    if (!this.#classWeight || this.#classWeight.disposed) {
      // uploaded once and owned by the loss, whatever scope the first call runs in
      this.#classWeight = keep(
        Tensor.from(Float32Array.from(this.classWeight), [this.classWeight.length], {
          label: "class_weight",
        }),
      );
    }
    return this.#classWeight;
  }

  /**
   * The weighted, reduced cross-entropy times `lossWeight`.
   *
   * @param pred logits `[M, C]` or `[N, A·C, H, W]`.
   * @param target `[M]` i32 labels (sigmoid: one-hot expanded, labels outside `[0, C)` give zeros),
   *   or for sigmoid f32 targets `[M, C]`.
   */
  forward(pred: Tensor, target: Tensor, opts: LossForwardOptions = {}): Tensor {
    const r = callReduce(this, opts);
    const cw = this.#cw();
    if (this.useSigmoid) {
      return sigmoidBinaryCrossEntropy(pred, target, {
        ...r,
        weight: opts.weight,
        classWeight: cw,
      });
    }
    return softmaxCrossEntropy(pred, target, {
      ...r,
      weight: opts.weight,
      classWeight: cw,
      ignoreIndex: this.ignoreIndex,
    });
  }
}

LOSSES.register("CrossEntropyLoss", CrossEntropyLoss);
