/**
 * mmdetection's `GIoULoss` (for heads that regress decoded boxes, `reg_decoded_bbox: true`).
 *
 * @module
 */
import { giouLoss } from "../../autograd/losses.ts";
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

/** Config of `GIoULoss`. */
export interface GIoULossCfg extends BaseLossCfg {
  /** Lower clamp of union and enclosing area (default 1e-6). */
  eps?: number;
}

/**
 * `1 − GIoU(pred, target)` per aligned pair of xyxy boxes. `[M, 4]` weights are averaged over the
 * coordinates, as mmdetection does. mmdetection returns `(pred·weight).sum()` when no weight is
 * positive (to avoid a readback this version instead zeroes every zero-weight element, which
 * gives the same 0 and no NaN).
 */
export class GIoULoss implements Loss {
  /** Lower clamp of union and enclosing area. */
  readonly eps: number;
  /** Reduction mode (`"mean"` by default). */
  readonly reduction: Reduction;
  /** Multiplier of the reduced loss. */
  readonly lossWeight: number;
  /** Whether `avgFactor` gets float32 eps added (mmdetection ≥ 2.2x). */
  readonly avgEps: boolean;

  /** Reads `eps` and the shared keys. */
  constructor(cfg: GIoULossCfg = {}) {
    this.eps = cfg.eps ?? 1e-6;
    ({ reduction: this.reduction, lossWeight: this.lossWeight, avgEps: this.avgEps } =
      baseLossSettings("GIoULoss", cfg));
  }

  /**
   * The weighted, reduced GIoU loss times `lossWeight`.
   *
   * @param pred `[M, 4]` xyxy boxes, absolute pixels.
   * @param target `[M, 4]` xyxy boxes.
   * @returns `[]` (`[M]` for `"none"`).
   */
  forward(pred: Tensor, target: Tensor, opts: LossForwardOptions = {}): Tensor {
    return giouLoss(pred, target, {
      ...callReduce(this, opts),
      weight: opts.weight,
      eps: this.eps,
    });
  }
}

LOSSES.register("GIoULoss", GIoULoss);
