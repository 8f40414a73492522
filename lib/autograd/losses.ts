/**
 * Differentiable fused losses: each is ONE primitive on the tape whose kernel computes the loss
 * and its gradient together (`lib/ops/losses.ts`); the gradient entries live in
 * `loss_gradients.ts`. Only the prediction receives a gradient; targets, weights and `avgFactor`
 * are constants.
 *
 * @module
 */
import * as ops from "../ops/losses.ts";
import type { RawTensor } from "../gpu/raw_tensor.ts";
import { fmtShape } from "../gpu/raw_tensor.ts";
import { isGradEnabled, record } from "./tape.ts";
import { Tensor } from "./tensor.ts";
import "./loss_gradients.ts";

/**
 * `weight_reduce_loss` settings (`lib/ops/loss_reduce.ts`'s {@linkcode ops.ReduceOptions} with a
 * {@linkcode Tensor} `avgFactor`; the gradient is the tape's business).
 */
export type LossReduceOptions = Omit<ops.ReduceOptions<Tensor>, "wantGrad">;

function reduceOpts(pred: Tensor, o: LossReduceOptions): ops.ReduceOptions {
  const avg = o.avgFactor;
  return {
    reduction: o.reduction,
    avgFactor: avg instanceof Tensor ? avg.raw : avg ?? null,
    lossWeight: o.lossWeight,
    avgEps: o.avgEps,
    wantGrad: pred.requiresGrad && isGradEnabled(),
  };
}

function finish(op: string, pred: Tensor, r: ops.LossResult): Tensor {
  return record(op, [pred], new Tensor(r.loss), { grad: r.grad });
}

function raw(t: Tensor | null | undefined): RawTensor | null {
  return t ? t.raw : null;
}

/**
 * Sigmoid focal loss (mmdetection `sigmoid_focal_loss`, spec §2.8), stable softplus form.
 *
 * @param pred logits `[M, C]` or a conv output `[N, A·C, H, W]` (rows ordered as spec §2.8).
 * @param labels `[M]` i32; `C` (background) and any label outside `[0, C)` is all-negative.
 * @returns `[]` (or, for `reduction: "none"`, the weighted elementwise loss in `pred`'s shape).
 *
 * @example
 * ```ts ignore
 * const loss = sigmoidFocalLoss(logits, labels, { weight: labelWeights, avgFactor: numTotalPos });
 * backward(loss);
 * ```
 */
export function sigmoidFocalLoss(
  pred: Tensor,
  labels: Tensor,
  opts: LossReduceOptions & { weight?: Tensor | null; gamma?: number; alpha?: number } = {},
): Tensor {
  const r = ops.sigmoidFocalLoss(pred.raw, labels.raw, {
    ...reduceOpts(pred, opts),
    weight: raw(opts.weight),
    gamma: opts.gamma,
    alpha: opts.alpha,
  });
  return finish("sigmoid_focal_loss", pred, r);
}

/**
 * Binary cross-entropy with logits (mmdetection `binary_cross_entropy`).
 *
 * @param target `[M]` i32 labels (one-hot expanded) or f32 targets `[M, C]`.
 */
export function sigmoidBinaryCrossEntropy(
  pred: Tensor,
  target: Tensor,
  opts: LossReduceOptions & { weight?: Tensor | null; classWeight?: Tensor | null } = {},
): Tensor {
  const r = ops.sigmoidBinaryCrossEntropy(pred.raw, target.raw, {
    ...reduceOpts(pred, opts),
    weight: raw(opts.weight),
    classWeight: raw(opts.classWeight),
  });
  return finish("sigmoid_bce_loss", pred, r);
}

/**
 * Softmax cross-entropy (mmdetection `cross_entropy`).
 *
 * @param pred logits `[M, C]` (or `[N, A·C, H, W]`, not with `reduction: "none"`).
 * @param labels `[M]` i32; `ignoreIndex` (default −100) rows give 0.
 */
export function softmaxCrossEntropy(
  pred: Tensor,
  labels: Tensor,
  opts: LossReduceOptions & {
    weight?: Tensor | null;
    classWeight?: Tensor | null;
    ignoreIndex?: number;
  } = {},
): Tensor {
  if (opts.reduction === "none" && pred.shape.length === 4 && pred.requiresGrad) {
    throw new TypeError(
      `Cannot differentiate cross-entropy of a conv output ${
        fmtShape(pred.shape)
      } with reduction "none": reshape pred to [M, C] first`,
    );
  }
  const r = ops.softmaxCrossEntropy(pred.raw, labels.raw, {
    ...reduceOpts(pred, opts),
    weight: raw(opts.weight),
    classWeight: raw(opts.classWeight),
    ignoreIndex: opts.ignoreIndex,
  });
  return finish("softmax_ce_loss", pred, r);
}

/**
 * L1 loss (mmdetection `l1_loss`), or smooth L1 when `beta` is given (`smooth_l1_loss`).
 *
 * @param pred `[M, K]` (any shape equal to `target`'s) or a conv output `[N, A·K, H, W]`.
 * @param target `[M, K]` f32.
 */
export function l1Loss(
  pred: Tensor,
  target: Tensor,
  opts: LossReduceOptions & { weight?: Tensor | null; beta?: number } = {},
): Tensor {
  const r = ops.l1Loss(pred.raw, target.raw, {
    ...reduceOpts(pred, opts),
    weight: raw(opts.weight),
    beta: opts.beta,
  });
  return finish(opts.beta === undefined ? "l1_loss" : "smooth_l1_loss", pred, r);
}

/**
 * GIoU loss (mmdetection `giou_loss`): `1 − GIoU` per aligned pair of xyxy boxes `[M, 4]`.
 */
export function giouLoss(
  pred: Tensor,
  target: Tensor,
  opts: LossReduceOptions & { weight?: Tensor | null; eps?: number } = {},
): Tensor {
  const r = ops.giouLoss(pred.raw, target.raw, {
    ...reduceOpts(pred, opts),
    weight: raw(opts.weight),
    eps: opts.eps,
  });
  return finish("giou_loss", pred, r);
}
