/**
 * Nearest-neighbour resizing of NCHW tensors (`kernels/interpolate.wgsl`) with PyTorch's
 * 'nearest' index rule, and its atomic-free backward pass.
 *
 * @module
 */
import interpSrc from "../../kernels/interpolate.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { defineKernel, kernelParams } from "../gpu/kernel_params.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";
import { checkBindingSize } from "./conv2d.ts";

const INTERPOLATE_PARAMS = kernelParams([
  ["planes", "u32"],
  ["ih", "u32"],
  ["iw", "u32"],
  ["oh", "u32"],
  ["ow", "u32"],
  ["scale_h", "f32"],
  ["scale_w", "f32"],
  ["_p0", "u32"],
]);
/** `kernels/interpolate.wgsl`. */
export const INTERPOLATE: KernelSpec = defineKernel("interpolate", interpSrc, INTERPOLATE_PARAMS, [
  "src",
  "dst",
]);

/** The `Params` of a resize of [n, c, h, w] with plan `pl`. */
function interpolateParams(
  [n, c, h, w]: readonly number[],
  pl: { oh: number; ow: number; scaleH: number; scaleW: number },
): number[] {
  return INTERPOLATE_PARAMS.pack({
    planes: n * c,
    ih: h,
    iw: w,
    oh: pl.oh,
    ow: pl.ow,
    scale_h: pl.scaleH,
    scale_w: pl.scaleW,
  });
}

/** Options of {@linkcode interpolateNearestForward}: exactly one of `size` and `scaleFactor`. */
export interface InterpolateOptions {
  size?: [number, number];
  scaleFactor?: number;
}

/** Output size and the f32 index scales (src = floor(dst·scale)) of a resize. */
export function interpolatePlan(
  xShape: readonly number[],
  opts: InterpolateOptions,
): { oh: number; ow: number; scaleH: number; scaleW: number } {
  if (xShape.length !== 4) {
    throw new TypeError(`Cannot interpolate input ${fmtShape(xShape)}: expected [N, C, H, W]`);
  }
  if ((opts.size === undefined) === (opts.scaleFactor === undefined)) {
    throw new TypeError("Cannot interpolate: give exactly one of size and scaleFactor");
  }
  if (xShape[0] === 0) {
    throw new RangeError(
      `Cannot interpolate an empty batch: input ${
        fmtShape(xShape)
      } has batch size 0; skip the call for empty batches`,
    );
  }
  const [, , h, w] = xShape;
  if (opts.size) {
    const [oh, ow] = opts.size;
    if (!Number.isInteger(oh) || !Number.isInteger(ow) || oh < 1 || ow < 1) {
      throw new RangeError(
        `Cannot interpolate to size ${JSON.stringify(opts.size)}: expected positive integers`,
      );
    }
    return { oh, ow, scaleH: Math.fround(h / oh), scaleW: Math.fround(w / ow) };
  }
  const f = opts.scaleFactor!;
  if (!(f > 0) || !Number.isFinite(f)) {
    throw new RangeError(`Cannot interpolate by scaleFactor ${f}: expected a positive number`);
  }
  const oh = Math.floor(h * f), ow = Math.floor(w * f);
  if (oh < 1 || ow < 1) {
    throw new RangeError(
      `Cannot interpolate ${fmtShape(xShape)} by scaleFactor ${f}: the output would be empty`,
    );
  }
  return { oh, ow, scaleH: Math.fround(1 / f), scaleW: Math.fround(1 / f) };
}

/** Nearest resize of `x` to a size or by a scale factor. */
export function interpolateNearestForward(x: RawTensor, opts: InterpolateOptions): RawTensor {
  const pl = interpolatePlan(x.shape, opts);
  if (x.dtype !== "f32") {
    throw new TypeError(
      `Cannot interpolate tensor "${x.label}": dtype is ${x.dtype}, expected f32`,
    );
  }
  const [n, c] = x.shape;
  checkBindingSize("interpolateNearest", "output", [n, c, pl.oh, pl.ow]);
  const gpu = getGpu();
  const y = gpu.empty([n, c, pl.oh, pl.ow], "f32", "interpolate");
  gpu.dispatch(INTERPOLATE, {
    bindings: [x, y],
    params: interpolateParams(x.shape, pl),
    overrides: { MODE: 0 },
    workgroups: Math.ceil(y.size / 256),
  });
  return y;
}

/** The input gradient of {@linkcode interpolateNearestForward}. */
export function interpolateNearestBackward(
  dy: RawTensor,
  xShape: readonly number[],
  opts: InterpolateOptions,
): RawTensor {
  const pl = interpolatePlan(xShape, opts);
  const [n, c] = xShape;
  if (
    dy.shape.length !== 4 || dy.shape[0] !== n || dy.shape[1] !== c || dy.shape[2] !== pl.oh ||
    dy.shape[3] !== pl.ow
  ) {
    throw new TypeError(
      `Cannot run the interpolate backward pass: the gradient has shape ${
        fmtShape(dy.shape)
      }, expected ${fmtShape([n, c, pl.oh, pl.ow])}`,
    );
  }
  const gpu = getGpu();
  const dx = gpu.empty(xShape, "f32", "interpolate_dx");
  gpu.dispatch(INTERPOLATE, {
    bindings: [dy, dx],
    params: interpolateParams(xShape, pl),
    overrides: { MODE: 1 },
    workgroups: Math.ceil(dx.size / 256),
  });
  return dx;
}
