/**
 * Reductions (sum, max, min) over any set of axes, on `kernels/reduce.wgsl`.
 *
 * @module
 */
import reduceSrc from "../../kernels/reduce.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";
import { permute } from "./copy.ts";

/** `kernels/reduce.wgsl`. */
export const REDUCE: KernelSpec = { name: "reduce", source: reduceSrc, params: "uuuu" };

/** Reduction operator. */
export type ReduceOp = "sum" | "max" | "min";
const CODE: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2 };

/** Normalises `axes` (negative allowed, undefined = all) to sorted unique non-negative ints. */
export function normAxes(rank: number, axes?: number | readonly number[]): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === "number" ? [axes] : [...axes];
  const out = [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
  for (const a of out) {
    if (a < 0 || a >= rank) {
      throw new RangeError(`Cannot reduce over axis ${a}: tensor has rank ${rank}`);
    }
  }
  return out;
}

/** Reduces each row of a [rows, len] tensor to [rows]. */
export function reduceRows(x: RawTensor, rows: number, len: number, op: ReduceOp): RawTensor {
  const gpu = getGpu();
  if (len === 0) {
    throw new RangeError(
      `Cannot ${op}-reduce tensor "${x.label}" ${fmtShape(x.shape)} over an empty axis`,
    );
  }
  let nchunks = 1;
  if (rows < 512 && len > 4096) nchunks = Math.min(Math.ceil(len / 4096), 4096);
  const chunk = Math.ceil(len / nchunks);
  const out = gpu.empty(nchunks === 1 ? [rows] : [rows, nchunks], "f32", op);
  gpu.dispatch(REDUCE, {
    bindings: [x, out],
    params: [rows, len, chunk, nchunks],
    overrides: { OP: CODE[op] },
    workgroups: rows * nchunks,
  });
  if (nchunks === 1) return out;
  const r = reduceRows(out, rows, nchunks, op);
  out.release();
  return r;
}

/** Reduces `x` over `axes`; the result drops those axes (shape of the kept axes, `[]` for all). */
export function reduce(
  x: RawTensor,
  axes: number | readonly number[] | undefined,
  op: ReduceOp,
): RawTensor {
  if (x.dtype !== "f32") {
    throw new TypeError(
      `Cannot ${op}-reduce tensor "${x.label}": dtype is ${x.dtype}, expected f32`,
    );
  }
  const gpu = getGpu();
  const r = x.shape.length;
  const ax = normAxes(r, axes);
  const kept = [...Array(r).keys()].filter((i) => !ax.includes(i));
  const keptShape = kept.map((i) => x.shape[i]);
  const rows = keptShape.reduce((a, b) => a * b, 1);
  const len = ax.reduce((a, i) => a * x.shape[i], 1);
  if (ax.length === 0) return gpu.view(x, x.shape);
  const trailing = ax.every((a, i) => a === r - ax.length + i);
  let src = x, tmp: RawTensor | null = null;
  if (!trailing) src = tmp = permute(x, [...kept, ...ax]);
  const out = reduceRows(src, rows, len, op);
  tmp?.release();
  const res = gpu.view(out, keptShape);
  out.release();
  return res;
}
