/**
 * Conv → BatchNorm (→ ReLU) with the BatchNorm folded into the conv epilogue whenever it runs
 * in evaluation mode (inference, frozen stages, `norm_eval` during training): one fold dispatch
 * plus the conv instead of conv, fold, affine and their backward passes
 * (`lib/autograd/conv_bn.ts`). A BatchNorm in training mode, a GroupNorm or a conv with a bias
 * keep the unfused path.
 *
 * @module
 */
import { convFrozenBn } from "../autograd/conv_bn.ts";
import * as F from "../autograd/functional.ts";
import type { Tensor } from "../autograd/tensor.ts";
import { Conv2d } from "./conv.ts";
import type { Sequential } from "./layers.ts";
import { BatchNorm2d, type NormLayer } from "./norm.ts";

let fusion = true;

/**
 * Turns the folding on or off (default on) and returns the previous setting: for measurements
 * and equivalence tests; the results agree to rounding either way.
 */
export function setConvBnFusion(on: boolean): boolean {
  const prev = fusion;
  fusion = on;
  return prev;
}

/** Whether `norm` after `conv` is folded into the conv epilogue now. */
export function foldsIntoConv(conv: Conv2d, norm: NormLayer | null): norm is BatchNorm2d {
  return fusion && norm instanceof BatchNorm2d && !norm.training && !conv.bias;
}

/** `act(norm(conv(x)))` (no norm: `act(conv(x))`), folded when {@linkcode foldsIntoConv}. */
export function convNorm(
  conv: Conv2d,
  norm: NormLayer | null,
  x: Tensor,
  act: "none" | "relu" = "none",
): Tensor {
  if (!norm) return conv.forward(x, act);
  if (!foldsIntoConv(conv, norm)) return norm.forward(conv.forward(x), act);
  return convFrozenBn(
    x,
    conv.weight,
    norm.weight,
    norm.bias,
    norm.buffer("running_mean"),
    norm.buffer("running_var"),
    {
      stride: conv.stride,
      padding: conv.padding,
      dilation: conv.dilation,
      groups: conv.groups,
      eps: norm.eps,
      act,
    },
  );
}

/**
 * `relu(norm(conv(x)) + residual)`, a residual block's last conv: a training-mode BatchNorm adds
 * the residual and applies the ReLU in its own normalisation pass; otherwise
 * {@linkcode convNorm} then one `addRelu`.
 */
export function convNormAddRelu(
  conv: Conv2d,
  norm: NormLayer | null,
  x: Tensor,
  residual: Tensor,
): Tensor {
  if (norm instanceof BatchNorm2d && norm.training) { // (a training-mode BN never folds)
    return norm.forward(conv.forward(x), "relu", residual);
  }
  return F.addRelu(convNorm(conv, norm, x), residual);
}

/**
 * A `Sequential` of exactly `[Conv2d, BatchNorm2d]` (a ResNet shortcut) through
 * {@linkcode convNorm}; any other `Sequential` runs as it is.
 */
export function sequentialConvNorm(seq: Sequential, x: Tensor): Tensor {
  const [a, b] = seq.items;
  if (seq.items.length === 2 && a instanceof Conv2d && b instanceof BatchNorm2d) {
    return convNorm(a, b, x);
  }
  return seq.forward(x);
}
