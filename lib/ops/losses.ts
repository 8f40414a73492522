/**
 * Fused loss kernels: each computes the loss and its gradient with respect to the prediction in
 * one pass, with mmdetection's `weight_reduce_loss` semantics (element weights, reduction
 * `none`/`mean`/`sum`, `avg_factor` as a number or a GPU scalar that is never read back, and
 * `loss_weight`). Forward only; `lib/autograd/losses.ts` records them on the tape.
 *
 * `avg_factor` normalisation follows mmdetection v2.11 (`sum / avg_factor`); `avgEps: true` gives
 * v2.2x's `sum / (avg_factor + float32 eps)`.
 *
 * @module
 */
import focalSrc from "../../kernels/focal_loss.wgsl" with { type: "text" };
import l1Src from "../../kernels/l1_loss.wgsl" with { type: "text" };
import ceSrc from "../../kernels/cross_entropy.wgsl" with { type: "text" };
import giouSrc from "../../kernels/giou_loss.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";
import {
  dummy,
  type LossResult,
  type PredLayout,
  predLayout,
  type ReduceOptions,
  runLoss,
  weightKind,
} from "./loss_reduce.ts";

export { FLOAT32_EPS, LOSS_FINALIZE, type LossResult, type ReduceOptions } from "./loss_reduce.ts";

/** `kernels/focal_loss.wgsl` (sigmoid focal loss and sigmoid BCE). */
export const FOCAL_LOSS: KernelSpec = {
  name: "focal_loss",
  source: focalSrc,
  params: "uuuuffffffuu",
};
/** `kernels/l1_loss.wgsl` (L1 and smooth L1). */
export const L1_LOSS: KernelSpec = { name: "l1_loss", source: l1Src, params: "uuuuffff" };
/** `kernels/cross_entropy.wgsl` (softmax cross-entropy). */
export const CROSS_ENTROPY: KernelSpec = {
  name: "cross_entropy",
  source: ceSrc,
  params: "uuuuifff",
};
/** `kernels/giou_loss.wgsl`. */
export const GIOU_LOSS: KernelSpec = { name: "giou_loss", source: giouSrc, params: "uffffuuu" };
/** Options of {@linkcode sigmoidFocalLoss}. */
export interface FocalOptions extends ReduceOptions {
  /** `[M]` per-row or `[M, C]` per-element weights (e.g. `label_weights`). */
  weight?: RawTensor | null;
  /** Default 2. */
  gamma?: number;
  /** Default 0.25. */
  alpha?: number;
}

/**
 * mmdetection's sigmoid focal loss (spec §2.8) in the numerically stable softplus form.
 *
 * @param pred logits `[M, C]`, or a conv output `[N, A·C, H, W]` (rows as spec §2.8), f32.
 * @param target `[M]` i32 class indices (a label outside `[0, C)`, e.g. background `C`, is
 *   all-negative), or f32 binary targets `[M, C]` in row layout (torchvision's form).
 * @returns the loss (`[]`; for `none` the weighted elementwise loss in `pred`'s shape) and the gradient.
 */
export function sigmoidFocalLoss(
  pred: RawTensor,
  target: RawTensor,
  opts: FocalOptions = {},
): LossResult {
  const what = "sigmoid focal loss";
  const dense = target.dtype === "f32";
  if (!dense && target.dtype !== "i32") {
    throw new TypeError(
      `Cannot compute ${what}: target must be i32 labels or f32 targets, got ${target.dtype}`,
    );
  }
  const L = predLayout(what, pred, dense ? target.shape[0] : target.size);
  if (dense && target.size !== L.rows * L.cols) {
    throw new TypeError(
      `Cannot compute ${what}: f32 targets ${
        fmtShape(target.shape)
      } do not match ${L.rows} rows of ${L.cols}`,
    );
  }
  const wk = weightKind(what, opts.weight, L.rows, L.cols);
  const alpha = opts.alpha ?? 0.25, gamma = opts.gamma ?? 2;
  return sigmoidFamily(what, pred, target, L, {
    wk,
    wp: alpha,
    wn: 1 - alpha,
    gamma,
    target: dense ? 1 : 0,
    cw: null,
  }, opts);
}

/** Options of {@linkcode sigmoidBinaryCrossEntropy}. */
export interface BceOptions extends ReduceOptions {
  /** `[M]` per-row or `[M, C]` per-element weights. */
  weight?: RawTensor | null;
  /** `[C]` per-class weight of the positive term (PyTorch's `pos_weight`, mmdetection's `class_weight`). */
  classWeight?: RawTensor | null;
}

/**
 * mmdetection's `binary_cross_entropy` with logits (CrossEntropyLoss with `use_sigmoid=True`).
 *
 * @param pred logits `[M, C]` or `[N, A·C, H, W]`.
 * @param target `[M]` i32 labels (expanded to one-hot; labels outside `[0, C)` give zeros) or f32
 *   targets in row layout `[M, C]`.
 */
export function sigmoidBinaryCrossEntropy(
  pred: RawTensor,
  target: RawTensor,
  opts: BceOptions = {},
): LossResult {
  const what = "binary cross-entropy";
  const dense = target.dtype === "f32";
  const rows = dense ? target.shape[0] : target.size;
  const L = predLayout(what, pred, rows);
  if (dense && target.size !== L.rows * L.cols) {
    throw new TypeError(
      `Cannot compute ${what}: f32 targets ${
        fmtShape(target.shape)
      } do not match ${L.rows} rows of ${L.cols}`,
    );
  }
  const wk = weightKind(what, opts.weight, L.rows, L.cols);
  const cw = opts.classWeight ?? null;
  if (cw && cw.size !== L.cols) {
    throw new TypeError(
      `Cannot compute ${what}: class_weight has ${cw.size} values for ${L.cols} classes`,
    );
  }
  return sigmoidFamily(what, pred, target, L, {
    wk,
    wp: 1,
    wn: 1,
    gamma: 0,
    target: dense ? 1 : 0,
    cw,
  }, opts);
}

function sigmoidFamily(
  what: string,
  pred: RawTensor,
  target: RawTensor,
  L: PredLayout,
  k: { wk: number; wp: number; wn: number; gamma: number; target: number; cw: RawTensor | null },
  opts: ReduceOptions & { weight?: RawTensor | null },
): LossResult {
  const gpu = getGpu();
  const numel = L.rows * L.cols;
  return runLoss(FOCAL_LOSS, {
    what,
    inputs: [pred, target, opts.weight ?? dummy(gpu), k.cw ?? dummy(gpu)],
    pred,
    numel,
    lossShape: pred.shape,
    workgroups: Math.ceil(numel / 2048),
    params: (
      d,
    ) => [
      numel,
      L.cols,
      L.HW,
      L.A,
      k.wp,
      k.wn,
      k.gamma,
      opts.lossWeight ?? 1,
      d.denom,
      d.eps,
      0,
      0,
    ],
    overrides: { LAYOUT: L.layout, TARGET: k.target, WKIND: k.wk, CW: k.cw ? 1 : 0 },
    avgSlot: 4,
  }, opts);
}

/** Options of {@linkcode l1Loss}. */
export interface L1Options extends ReduceOptions {
  /** `[M]` per-row or `[M, K]` per-element weights (e.g. `bbox_weights`). */
  weight?: RawTensor | null;
  /** Smooth L1 with this β (> 0); omit for plain L1. */
  beta?: number;
}

/**
 * mmdetection's `L1Loss` (or `SmoothL1Loss` when `beta` is given).
 *
 * @param pred `[M, K]`, any same-size tensor, or a conv output `[N, A·K, H, W]` (rows as spec §2.8).
 * @param target `[M, K]` in row layout (e.g. `bbox_targets` `[M, 4]`).
 */
export function l1Loss(pred: RawTensor, target: RawTensor, opts: L1Options = {}): LossResult {
  const smooth = opts.beta !== undefined;
  const what = smooth ? "smooth L1 loss" : "L1 loss";
  if (smooth && !(opts.beta! > 0)) {
    throw new RangeError(`Cannot compute ${what}: beta must be > 0, got ${opts.beta}`);
  }
  if (target.dtype !== "f32") {
    throw new TypeError(`Cannot compute ${what}: target must be f32, got ${target.dtype}`);
  }
  let L: PredLayout;
  const rows = target.shape.length >= 2 ? target.shape[0] : target.size;
  const cols = target.shape.length >= 2 ? target.size / Math.max(rows, 1) : 1;
  if (pred.size === target.size && pred.shape.length !== 4) {
    L = { layout: 0, rows, cols, HW: 1, A: 1 };
  } else L = predLayout(what, pred, rows);
  if (pred.size !== target.size || L.cols !== cols) {
    throw new TypeError(
      `Cannot compute ${what}: pred ${fmtShape(pred.shape)} does not match target ${
        fmtShape(target.shape)
      }`,
    );
  }
  const wk = weightKind(what, opts.weight, L.rows, L.cols);
  const gpu = getGpu();
  const numel = pred.size;
  return runLoss(L1_LOSS, {
    what,
    inputs: [pred, target, opts.weight ?? dummy(gpu)],
    pred,
    numel,
    lossShape: pred.shape,
    workgroups: Math.ceil(numel / 2048),
    params: (d) => [numel, L.cols, L.HW, L.A, opts.beta ?? 1, opts.lossWeight ?? 1, d.denom, d.eps],
    overrides: { LAYOUT: L.layout, WKIND: wk, SMOOTH: smooth ? 1 : 0 },
    avgSlot: 3,
  }, opts);
}

/** Options of {@linkcode softmaxCrossEntropy}. */
export interface CeOptions extends ReduceOptions {
  /** `[M]` per-row weights. */
  weight?: RawTensor | null;
  /** `[C]` per-class weights (PyTorch's `weight` of `cross_entropy`). */
  classWeight?: RawTensor | null;
  /** Rows with this label give 0 (default −100). */
  ignoreIndex?: number;
}

/**
 * mmdetection's softmax `cross_entropy`.
 *
 * @param pred logits `[M, C]` or `[N, A·C, H, W]`.
 * @param labels `[M]` i32.
 * @returns for `none` the weighted loss per row `[M]`.
 */
export function softmaxCrossEntropy(
  pred: RawTensor,
  labels: RawTensor,
  opts: CeOptions = {},
): LossResult {
  const what = "cross-entropy loss";
  if (labels.dtype !== "i32") {
    throw new TypeError(`Cannot compute ${what}: labels must be i32, got ${labels.dtype}`);
  }
  const L = predLayout(what, pred, labels.size);
  const w = opts.weight ?? null, cw = opts.classWeight ?? null;
  if (w && (w.dtype !== "f32" || w.size !== L.rows)) {
    throw new TypeError(
      `Cannot compute ${what}: weight ${fmtShape(w.shape)} must have ${L.rows} f32 values`,
    );
  }
  if (cw && cw.size !== L.cols) {
    throw new TypeError(
      `Cannot compute ${what}: class_weight has ${cw.size} values for ${L.cols} classes`,
    );
  }
  const gpu = getGpu();
  return runLoss(CROSS_ENTROPY, {
    what,
    inputs: [pred, labels, w ?? dummy(gpu), cw ?? dummy(gpu)],
    pred,
    numel: L.rows,
    lossShape: [L.rows],
    workgroups: Math.ceil(L.rows / 256),
    params: (
      d,
    ) => [
      L.rows,
      L.cols,
      L.HW,
      L.A,
      opts.ignoreIndex ?? -100,
      opts.lossWeight ?? 1,
      d.denom,
      d.eps,
    ],
    overrides: { LAYOUT: L.layout, HAS_W: w ? 1 : 0, CW: cw ? 1 : 0 },
    avgSlot: 4,
  }, opts);
}

/** Options of {@linkcode giouLoss}. */
export interface GiouOptions extends ReduceOptions {
  /** `[M]` or `[M, 4]` (averaged over the coordinates) weights. */
  weight?: RawTensor | null;
  /** Default 1e-6 (GIoULoss's). */
  eps?: number;
}

/**
 * mmdetection's `GIoULoss`: `1 − GIoU(pred, target)` per aligned box pair.
 *
 * @param pred `[M, 4]` xyxy boxes.
 * @param target `[M, 4]` xyxy boxes.
 * @returns for `none` the weighted loss per box `[M]`.
 */
export function giouLoss(pred: RawTensor, target: RawTensor, opts: GiouOptions = {}): LossResult {
  const what = "GIoU loss";
  if (
    pred.shape.length !== 2 || pred.shape[1] !== 4 || target.size !== pred.size ||
    target.dtype !== "f32"
  ) {
    throw new TypeError(
      `Cannot compute ${what}: pred ${fmtShape(pred.shape)} and target ${
        fmtShape(target.shape)
      } must both be f32 [M, 4]`,
    );
  }
  const M = pred.shape[0];
  const wk = weightKind(what, opts.weight, M, 4);
  const gpu = getGpu();
  return runLoss(GIOU_LOSS, {
    what,
    inputs: [pred, target, opts.weight ?? dummy(gpu)],
    pred,
    numel: M,
    lossShape: [M],
    workgroups: Math.ceil(M / 256),
    params: (d) => [M, opts.eps ?? 1e-6, opts.lossWeight ?? 1, d.denom, d.eps, 0, 0, 0],
    overrides: { WKIND: wk },
    avgSlot: 3,
  }, opts);
}
