/**
 * 2-D max pooling over NCHW tensors (`kernels/max_pool*.wgsl`), with the argmax kept for an
 * atomic-free backward pass.
 *
 * @module
 */
import poolSrc from "../../kernels/max_pool.wgsl" with { type: "text" };
import poolBackSrc from "../../kernels/max_pool_backward.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";
import { checkBindingSize } from "./conv2d.ts";

/** `kernels/max_pool.wgsl`. */
export const MAX_POOL: KernelSpec = { name: "max_pool", source: poolSrc, params: "uuuuuuuu" };
/** `kernels/max_pool_backward.wgsl`. */
export const MAX_POOL_BACKWARD: KernelSpec = {
  name: "max_pool_backward",
  source: poolBackSrc,
  params: "uuuuuuuu",
};

/** Options of {@linkcode maxPool2dForward} (PyTorch's `max_pool2d` without dilation). */
export interface MaxPool2dOptions {
  kernelSize: number;
  /** Default: `kernelSize`. */
  stride?: number;
  padding?: number;
  ceilMode?: boolean;
}

function outSize(n: number, k: number, s: number, p: number, ceil: boolean): number {
  let o = Math.floor((n + 2 * p - k + (ceil ? s - 1 : 0)) / s) + 1;
  // with ceil mode the last window must start inside the input or its left padding
  if (ceil && (o - 1) * s >= n + p) o--;
  return o;
}

/** The output shape of a max pooling of `xShape`, validating the options. */
export function maxPool2dShape(xShape: readonly number[], opts: MaxPool2dOptions): number[] {
  if (xShape.length !== 4) {
    throw new TypeError(`Cannot max-pool input ${fmtShape(xShape)}: expected [N, C, H, W]`);
  }
  const k = opts.kernelSize, s = opts.stride ?? k, p = opts.padding ?? 0;
  if (
    !Number.isInteger(k) || k < 1 || !Number.isInteger(s) || s < 1 || !Number.isInteger(p) || p < 0
  ) {
    throw new RangeError(
      `Cannot max-pool with kernelSize ${k}, stride ${s}, padding ${p}: expected positive integers (padding ≥ 0)`,
    );
  }
  if (2 * p > k) {
    throw new RangeError(
      `Cannot max-pool with padding ${p}: it must be at most half the kernel size ${k}`,
    );
  }
  if (xShape[0] === 0) {
    throw new RangeError(
      `Cannot max-pool an empty batch: input ${
        fmtShape(xShape)
      } has batch size 0; skip the call for empty batches`,
    );
  }
  const oh = outSize(xShape[2], k, s, p, !!opts.ceilMode),
    ow = outSize(xShape[3], k, s, p, !!opts.ceilMode);
  if (oh <= 0 || ow <= 0) {
    throw new RangeError(
      `Cannot max-pool input ${fmtShape(xShape)} with kernel ${k}: the output would be empty`,
    );
  }
  return [xShape[0], xShape[1], oh, ow];
}

/** Planes per dispatch (the grid's z dimension). */
const MAX_PLANES = 65535;

/**
 * Records a pooling kernel: grid [1, rows / rows per workgroup, planes] (rows: output rows
 * forward, input rows backward), window, stride and padding as override constants.
 */
function poolDispatch(
  spec: KernelSpec,
  bindings: RawTensor[],
  xShape: readonly number[],
  yShape: readonly number[],
  opts: MaxPool2dOptions,
): void {
  const gpu = getGpu();
  const k = opts.kernelSize, s = opts.stride ?? k;
  const backward = spec === MAX_POOL_BACKWARD;
  const overrides: Record<string, number> = { K: k, S: s, P: opts.padding ?? 0 };
  if (backward) overrides.NW = Math.ceil(k / s);
  const planes = xShape[0] * xShape[1];
  const rows = backward ? xShape[2] : yShape[2];
  // a software adapter pays a fixed cost per workgroup: one workgroup per plane there
  const perWg = gpu.info.isFallbackAdapter ? rows : 1;
  for (let p0 = 0; p0 < planes; p0 += MAX_PLANES) {
    const np = Math.min(MAX_PLANES, planes - p0);
    gpu.dispatch(spec, {
      bindings,
      params: [planes, xShape[2], xShape[3], yShape[2], yShape[3], p0, perWg, 0],
      overrides,
      workgroups: [1, Math.ceil(rows / perWg), np],
    });
  }
}

/** Max pooling: returns the output and the argmax (u32, flat index within each plane). */
export function maxPool2dForward(
  x: RawTensor,
  opts: MaxPool2dOptions,
): { y: RawTensor; argmax: RawTensor } {
  const shape = maxPool2dShape(x.shape, opts);
  if (x.dtype !== "f32") {
    throw new TypeError(`Cannot max-pool tensor "${x.label}": dtype is ${x.dtype}, expected f32`);
  }
  checkBindingSize("maxPool2d", "input", x.shape);
  const gpu = getGpu();
  const y = gpu.empty(shape, "f32", "max_pool");
  const argmax = gpu.empty(shape, "u32", "max_pool_argmax");
  poolDispatch(MAX_POOL, [x, y, argmax], x.shape, shape, opts);
  return { y, argmax };
}

/** The input gradient of max pooling from `dy` and the forward's argmax. */
export function maxPool2dBackward(
  dy: RawTensor,
  argmax: RawTensor,
  xShape: readonly number[],
  opts: MaxPool2dOptions,
): RawTensor {
  const shape = maxPool2dShape(xShape, opts);
  if (dy.shape.some((d, i) => d !== shape[i])) {
    throw new TypeError(
      `Cannot run the maxPool2d backward pass: the gradient has shape ${
        fmtShape(dy.shape)
      }, expected ${fmtShape(shape)}`,
    );
  }
  const gpu = getGpu();
  const dx = gpu.empty(xShape, "f32", "max_pool_dx");
  poolDispatch(MAX_POOL_BACKWARD, [dy, argmax, dx], xShape, shape, opts);
  return dx;
}
