/**
 * Fused in-place optimizer updates (one dispatch per parameter tensor).
 *
 * @module
 */
import sgdSrc from "../../kernels/sgd.wgsl" with { type: "text" };
import adamwSrc from "../../kernels/adamw.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import type { RawTensor } from "../gpu/raw_tensor.ts";

/** `kernels/sgd.wgsl`. */
export const SGD_STEP: KernelSpec = { name: "sgd", source: sgdSrc, params: "uuuuffff" };
/** `kernels/adamw.wgsl`. */
export const ADAMW_STEP: KernelSpec = { name: "adamw", source: adamwSrc, params: "uuuuffffffff" };

/** Hyper-parameters of one SGD step. */
export interface SgdStepOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  /** True on the parameter's first step: the momentum buffer is initialised to the gradient. */
  first: boolean;
}

/** Updates `param` (and `buf`) in place from `grad`. */
export function sgdStep(
  param: RawTensor,
  grad: RawTensor,
  buf: RawTensor,
  o: SgdStepOptions,
): void {
  getGpu().dispatch(SGD_STEP, {
    bindings: [grad, param, buf],
    params: [
      param.size,
      o.first ? 1 : 0,
      o.nesterov ? 1 : 0,
      0,
      o.lr,
      o.momentum,
      o.dampening,
      o.weightDecay,
    ],
    workgroups: Math.ceil(param.size / 256),
  });
}

/** Hyper-parameters of one AdamW step (`step` counts from 1). */
export interface AdamwStepOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

/** Updates `param`, `m` and `v` in place from `grad`. */
export function adamwStep(
  param: RawTensor,
  grad: RawTensor,
  m: RawTensor,
  v: RawTensor,
  o: AdamwStepOptions,
): void {
  getGpu().dispatch(ADAMW_STEP, {
    bindings: [grad, param, m, v],
    params: [
      param.size,
      0,
      0,
      0,
      o.lr,
      o.beta1,
      o.beta2,
      o.eps,
      o.weightDecay,
      1 - o.beta1 ** o.step,
      1 - o.beta2 ** o.step,
      0,
    ],
    workgroups: Math.ceil(param.size / 256),
  });
}
