/**
 * Index select along an axis and its gradient, scatter-add.
 *
 * @module
 */
import gatherSrc from "../../kernels/gather.wgsl" with { type: "text" };
import scatterSrc from "../../kernels/scatter_add.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";

/** `kernels/gather.wgsl`. */
export const GATHER: KernelSpec = { name: "gather", source: gatherSrc, params: "u".repeat(8) };
/** `kernels/scatter_add.wgsl`. */
export const SCATTER_ADD: KernelSpec = {
  name: "scatter_add",
  source: scatterSrc,
  params: "u".repeat(8),
};

function split(shape: readonly number[], axis: number): [number, number, number] {
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  return [outer, shape[axis], inner];
}

/** `out = x.index_select(axis, idx)`; `idx` is a 1-D i32 tensor; out-of-range indices give 0. */
export function gather(x: RawTensor, idx: RawTensor, axis: number): RawTensor {
  const ax = axis < 0 ? axis + x.shape.length : axis;
  if (idx.dtype !== "i32" || idx.shape.length !== 1) {
    throw new TypeError(
      `Cannot gather from ${fmtShape(x.shape)}: indices must be a 1-D i32 tensor, got ${
        fmtShape(idx.shape)
      } ${idx.dtype}`,
    );
  }
  if (ax < 0 || ax >= x.shape.length) {
    throw new RangeError(`Cannot gather along axis ${axis} of ${fmtShape(x.shape)}`);
  }
  const [outer, len, inner] = split(x.shape, ax);
  const shape = [...x.shape];
  shape[ax] = idx.size;
  const gpu = getGpu();
  const out = gpu.empty(shape, x.dtype, "gather");
  const n = outer * idx.size * inner;
  gpu.dispatch(GATHER, {
    bindings: [x, idx, out],
    params: [outer, idx.size, inner, len, n, 0, 0, 0],
    workgroups: Math.ceil(n / 256),
  });
  return out;
}

/** Adds `g` (shape of a gather result) into `dst` at the gathered positions (in place, f32). */
export function scatterAddInto(dst: RawTensor, g: RawTensor, idx: RawTensor, axis: number): void {
  const ax = axis < 0 ? axis + dst.shape.length : axis;
  const [outer, len, inner] = split(dst.shape, ax);
  const n = outer * idx.size * inner;
  getGpu().dispatch(SCATTER_ADD, {
    bindings: [g, idx, dst],
    params: [outer, idx.size, inner, len, n, 0, 0, 0],
    workgroups: Math.ceil(n / 256),
  });
}
