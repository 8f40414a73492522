/**
 * Data movement on the strided-copy kernel: permute, slice, concat, broadcast and padding, for
 * every 4-byte dtype (the kernel copies bits).
 *
 * @module
 */
import copySrc from "../../kernels/strided_copy.wgsl" with { type: "text" };
import splitSrc from "../../kernels/split_rows.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor, stridesOf } from "../gpu/raw_tensor.ts";
import { broadcastStrides, elementGrid } from "./elementwise.ts";

/** `kernels/strided_copy.wgsl`. */
export const STRIDED_COPY: KernelSpec = {
  name: "strided_copy",
  source: copySrc,
  params: "u".repeat(28),
};

/** `kernels/split_rows.wgsl`. */
export const SPLIT_ROWS: KernelSpec = {
  name: "split_rows",
  source: splitSrc,
  params: "u".repeat(8),
};

/** Most parts of one {@linkcode splitRows} dispatch. */
const SPLIT_PARTS = 5;

const MAX_RANK = 8;

function pad8(v: readonly number[]): number[] {
  const r = [...v];
  while (r.length < MAX_RANK) r.push(0);
  return r;
}

/**
 * The same window with size-1 dimensions dropped and each dimension merged into the one before
 * it where both sides are contiguous across them (fewer index steps per element).
 */
export function mergeDims(
  shape: readonly number[],
  src: readonly number[],
  dst: readonly number[],
): { shape: number[]; src: number[]; dst: number[] } {
  const o = { shape: [] as number[], src: [] as number[], dst: [] as number[] };
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const k = o.shape.length - 1;
    if (k >= 0 && o.src[k] === src[d] * shape[d] && o.dst[k] === dst[d] * shape[d]) {
      o.shape[k] *= shape[d];
      o.src[k] = src[d];
      o.dst[k] = dst[d];
    } else {
      o.shape.push(shape[d]);
      o.src.push(src[d]);
      o.dst.push(dst[d]);
    }
  }
  if (!o.shape.length) return { shape: [1], src: [0], dst: [0] };
  return o;
}

/**
 * Copies a window of `shape` elements from `src` (strides `srcStrides` from `srcBase`) into `dst`
 * (strides `dstStrides` from `dstBase`). All counts are in elements.
 */
export function stridedCopy(
  src: RawTensor,
  dst: RawTensor,
  shape: readonly number[],
  strides: { src: readonly number[]; dst: readonly number[]; srcBase?: number; dstBase?: number },
): void {
  if (shape.length > MAX_RANK) {
    throw new RangeError(
      `Cannot copy a window of rank ${shape.length}: at most ${MAX_RANK} dimensions`,
    );
  }
  let n = 1;
  for (const d of shape) n *= d;
  if (n === 0) return;
  const m = mergeDims(shape, strides.src, strides.dst);
  const eg = elementGrid(n);
  getGpu().dispatch(STRIDED_COPY, {
    bindings: [src, dst],
    params: [
      n,
      m.shape.length,
      strides.srcBase ?? 0,
      strides.dstBase ?? 0,
      ...pad8(m.shape),
      ...pad8(m.src),
      ...pad8(m.dst),
    ],
    overrides: { PER: eg.per },
    workgroups: eg.workgroups,
  });
}

/** Permutes the dimensions of `x`: `out.shape[i] = x.shape[dims[i]]`. */
export function permute(x: RawTensor, dims: readonly number[]): RawTensor {
  if (dims.length !== x.shape.length || [...dims].sort((a, b) => a - b).some((d, i) => d !== i)) {
    throw new TypeError(
      `Cannot permute tensor ${fmtShape(x.shape)} by [${
        dims.join(", ")
      }]: not a permutation of its ${x.shape.length} dimensions`,
    );
  }
  const gpu = getGpu();
  const shape = dims.map((d) => x.shape[d]);
  const out = gpu.empty(shape, x.dtype, "permute");
  const st = stridesOf(x.shape);
  stridedCopy(x, out, shape, { src: dims.map((d) => st[d]), dst: stridesOf(shape) });
  return out;
}

/** The window `starts[i] ≤ c_i < ends[i]` of `x` (a copy). */
export function slice(x: RawTensor, starts: readonly number[], ends: readonly number[]): RawTensor {
  const r = x.shape.length;
  if (starts.length !== r || ends.length !== r) {
    throw new TypeError(
      `Cannot slice tensor ${fmtShape(x.shape)}: starts and ends need ${r} entries`,
    );
  }
  for (let i = 0; i < r; i++) {
    if (!(0 <= starts[i] && starts[i] <= ends[i] && ends[i] <= x.shape[i])) {
      throw new RangeError(
        `Cannot slice tensor ${fmtShape(x.shape)}: dimension ${i} window [${starts[i]}, ${
          ends[i]
        }) is out of range`,
      );
    }
  }
  const gpu = getGpu();
  const shape = starts.map((s, i) => ends[i] - s);
  const out = gpu.empty(shape, x.dtype, "slice");
  const st = stridesOf(x.shape);
  const base = starts.reduce((acc, s, i) => acc + s * st[i], 0);
  stridedCopy(x, out, shape, { src: st, dst: stridesOf(shape), srcBase: base });
  return out;
}

/** Concatenates tensors of equal dtype and equal shape except along `axis`. */
export function concat(xs: readonly RawTensor[], axis: number): RawTensor {
  if (xs.length === 0) throw new RangeError("Cannot concatenate an empty list of tensors");
  const r = xs[0].shape.length;
  const ax = axis < 0 ? axis + r : axis;
  for (const t of xs) {
    if (
      t.shape.length !== r || t.dtype !== xs[0].dtype ||
      t.shape.some((d, i) => i !== ax && d !== xs[0].shape[i])
    ) {
      throw new TypeError(
        `Cannot concatenate ${fmtShape(t.shape)} (${t.dtype}) with ${fmtShape(xs[0].shape)} (${
          xs[0].dtype
        }) along axis ${ax}`,
      );
    }
  }
  const shape = [...xs[0].shape];
  shape[ax] = xs.reduce((s, t) => s + t.shape[ax], 0);
  const gpu = getGpu();
  const out = gpu.empty(shape, xs[0].dtype, "concat");
  const ost = stridesOf(shape);
  let off = 0;
  for (const t of xs) {
    stridedCopy(t, out, t.shape, { src: stridesOf(t.shape), dst: ost, dstBase: off * ost[ax] });
    off += t.shape[ax];
  }
  return out;
}

/** A materialised broadcast of `x` to `shape`. */
export function broadcastTo(x: RawTensor, shape: readonly number[]): RawTensor {
  const gpu = getGpu();
  const out = gpu.empty(shape, x.dtype, "broadcast");
  stridedCopy(x, out, shape, { src: broadcastStrides(x.shape, shape), dst: stridesOf(shape) });
  return out;
}

/** Copies `x` into the window of `dst` starting at `starts` (in place). */
export function copyInto(x: RawTensor, dst: RawTensor, starts: readonly number[]): void {
  const ost = stridesOf(dst.shape);
  const base = starts.reduce((acc, s, i) => acc + s * ost[i], 0);
  stridedCopy(x, dst, x.shape, { src: stridesOf(x.shape), dst: ost, dstBase: base });
}

/**
 * Splits `x` `[N, A]` or `[N, A, W]` along A at the row offsets `starts` (ascending, `starts[0]`
 * 0): one contiguous tensor `[N, A_l(, W)]` per part, rows `[starts[l], starts[l + 1])` (the last
 * part ends at A). One dispatch per 5 parts, instead of one strided copy per part.
 */
export function splitRows(x: RawTensor, starts: readonly number[]): RawTensor[] {
  const [n, a] = x.shape;
  const w = x.shape.length === 3 ? x.shape[2] : 1;
  if (x.shape.length < 2 || x.shape.length > 3) {
    throw new TypeError(`Cannot split tensor ${fmtShape(x.shape)} by rows: expected [N, A(, W)]`);
  }
  if (starts[0] !== 0 || starts.some((s, i) => s > (starts[i + 1] ?? a))) {
    throw new RangeError(
      `Cannot split ${a} rows at [${
        starts.join(", ")
      }]: offsets must ascend from 0 to at most ${a}`,
    );
  }
  if (starts.length > SPLIT_PARTS) {
    const k = starts[SPLIT_PARTS];
    const head = slice(x, [0, 0, 0].slice(0, x.shape.length), [n, k, w].slice(0, x.shape.length));
    const tail = slice(x, [0, k, 0].slice(0, x.shape.length), [n, a, w].slice(0, x.shape.length));
    const r = [
      ...splitRows(head, starts.slice(0, SPLIT_PARTS)),
      ...splitRows(tail, starts.slice(SPLIT_PARTS).map((s) => s - k)),
    ];
    head.release();
    tail.release();
    return r;
  }
  const gpu = getGpu();
  const outs = starts.map((s, l) => {
    const rows = (starts[l + 1] ?? a) - s;
    return gpu.empty(x.shape.length === 3 ? [n, rows, w] : [n, rows], x.dtype, "split_rows");
  });
  const total = n * a * w;
  if (total === 0) return outs;
  // unused outputs: distinct placeholders (writable bindings may not alias)
  const spares: RawTensor[] = [];
  const bound = Array.from({ length: SPLIT_PARTS }, (_, l) => {
    if (l < outs.length && outs[l].size > 0) return outs[l];
    const t = gpu.empty([1], "u32", "split_rows_unused");
    spares.push(t);
    return t;
  });
  const eg = elementGrid(total);
  const s = [1, 2, 3, 4].map((l) => starts[l] ?? a);
  gpu.dispatch(SPLIT_ROWS, {
    bindings: [x, ...bound],
    params: [n, a, w, starts.length, ...s],
    overrides: { PER: eg.per },
    workgroups: eg.workgroups,
  });
  for (const t of spares) t.release();
  return outs;
}
