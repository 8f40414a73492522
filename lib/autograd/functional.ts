/**
 * Differentiable primitives on {@linkcode Tensor}. Each records itself on the tape; its gradient
 * entry lives in `gradients.ts` under the same name.
 *
 * @module
 */
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, shapeSize } from "../gpu/raw_tensor.ts";
import * as ew from "../ops/elementwise.ts";
import * as cp from "../ops/copy.ts";
import * as rd from "../ops/reduce.ts";
import * as mm from "../ops/matmul.ts";
import * as ga from "../ops/gather.ts";
import { record } from "./tape.ts";
import { Tensor } from "./tensor.ts";
// The gradient table registers itself and computes with these primitives (given to it below):
// importing it here makes every primitive differentiable.
import { providePrimitives } from "./gradients.ts";

export { Tensor };

function wrap(raw: import("../gpu/raw_tensor.ts").RawTensor): Tensor {
  return new Tensor(raw);
}

// ---- elementwise ------------------------------------------------------------------------------

/** `a + b` with broadcasting. */
export function add(a: Tensor, b: Tensor): Tensor {
  return record("add", [a, b], wrap(ew.binary(a.raw, b.raw, "add")));
}
/** `relu(a + b)` with broadcasting, in one pass (a residual block's output). */
export function addRelu(a: Tensor, b: Tensor): Tensor {
  return record("addRelu", [a, b], wrap(ew.binary(a.raw, b.raw, "addRelu")));
}
/** `a − b` with broadcasting. */
export function sub(a: Tensor, b: Tensor): Tensor {
  return record("sub", [a, b], wrap(ew.binary(a.raw, b.raw, "sub")));
}
/** `a · b` with broadcasting. */
export function mul(a: Tensor, b: Tensor): Tensor {
  return record("mul", [a, b], wrap(ew.binary(a.raw, b.raw, "mul")));
}
/** `a / b` with broadcasting. */
export function div(a: Tensor, b: Tensor): Tensor {
  return record("div", [a, b], wrap(ew.binary(a.raw, b.raw, "div")));
}
/** Elementwise maximum (gradient to `a` where a ≥ b, else to `b`). */
export function maximum(a: Tensor, b: Tensor): Tensor {
  return record("maximum", [a, b], wrap(ew.binary(a.raw, b.raw, "max")));
}
/** `x + s`. */
export function addScalar(x: Tensor, s: number): Tensor {
  return record("addScalar", [x], wrap(ew.unary(x.raw, "addScalar", s)), { s });
}
/** `x · s`. */
export function mulScalar(x: Tensor, s: number): Tensor {
  return record("mulScalar", [x], wrap(ew.unary(x.raw, "mulScalar", s)), { s });
}
/** `x ^ p`. */
export function powScalar(x: Tensor, p: number): Tensor {
  return record("powScalar", [x], wrap(ew.unary(x.raw, "powScalar", p)), { p });
}
/** `−x`. */
export function neg(x: Tensor): Tensor {
  return record("neg", [x], wrap(ew.unary(x.raw, "neg")));
}
/** `eˣ`. */
export function exp(x: Tensor): Tensor {
  return record("exp", [x], wrap(ew.unary(x.raw, "exp")));
}
/** Natural logarithm. */
export function log(x: Tensor): Tensor {
  return record("log", [x], wrap(ew.unary(x.raw, "log")));
}
/** Logistic sigmoid, computed stably for large |x|. */
export function sigmoid(x: Tensor): Tensor {
  return record("sigmoid", [x], wrap(ew.unary(x.raw, "sigmoid")));
}
/** `max(x, 0)`. */
export function relu(x: Tensor): Tensor {
  return record("relu", [x], wrap(ew.unary(x.raw, "relu")));
}
/** `|x|` (gradient `sign(x)`, 0 at 0 as PyTorch). */
export function abs(x: Tensor): Tensor {
  return record("abs", [x], wrap(ew.unary(x.raw, "abs")));
}
/** `√x`. */
export function sqrt(x: Tensor): Tensor {
  return record("sqrt", [x], wrap(ew.unary(x.raw, "sqrt")));
}
/** `clamp(x, lo, hi)` (gradient passes where lo ≤ x ≤ hi). */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  return record("clamp", [x], wrap(ew.unary(x.raw, "clamp", lo, hi)), { lo, hi });
}

// ---- creation and non-differentiable helpers ---------------------------------------------------

/** A tensor of `shape` filled with `value`. */
export function full(
  shape: readonly number[],
  value: number,
  dtype: "f32" | "i32" | "u32" = "f32",
): Tensor {
  return wrap(ew.full(shape, value, dtype));
}
/** Ones. */
export function ones(shape: readonly number[]): Tensor {
  return full(shape, 1);
}
/** A copy of `x` (differentiable). */
export function clone(x: Tensor): Tensor {
  return record("clone", [x], wrap(ew.unary(x.raw, "copy")));
}
/** Elementwise comparison `a > b` as 1/0 (not differentiable). */
export function greater(a: Tensor, b: Tensor): Tensor {
  return wrap(ew.binary(a.raw, b.raw, "gt"));
}
/** Elementwise `a == b` as 1/0 (not differentiable). */
export function equal(a: Tensor, b: Tensor): Tensor {
  return wrap(ew.binary(a.raw, b.raw, "eq"));
}
/** Converts to another dtype (not differentiable). */
export function cast(x: Tensor, dtype: "f32" | "i32" | "u32"): Tensor {
  return wrap(ew.cast(x.raw, dtype));
}

// ---- shape -------------------------------------------------------------------------------------

/** A view of `x` with another shape (no copy); one dimension may be −1. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const neg = shape.indexOf(-1);
  let s = [...shape];
  if (neg >= 0) {
    const rest = shape.reduce((a, d, i) => (i === neg ? a : a * d), 1);
    s[neg] = rest === 0 ? 0 : x.size / rest;
  }
  if (shapeSize(s) !== x.size || s.some((d) => !Number.isInteger(d))) {
    throw new TypeError(`Cannot reshape ${fmtShape(x.shape)} to ${fmtShape(shape)}: sizes differ`);
  }
  s = s.map((d) => d);
  return record("reshape", [x], wrap(getGpu().view(x.raw, s)), { shape: x.shape });
}
/** Permutes dimensions. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  return record("permute", [x], wrap(cp.permute(x.raw, dims)), { dims });
}
/** Swaps two dimensions. */
export function transpose(x: Tensor, d0 = -2, d1 = -1): Tensor {
  const r = x.shape.length;
  const dims = [...Array(r).keys()];
  const a = d0 < 0 ? d0 + r : d0, b = d1 < 0 ? d1 + r : d1;
  [dims[a], dims[b]] = [dims[b], dims[a]];
  return permute(x, dims);
}
/** Concatenation along `axis`. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  const ax = axis < 0 ? axis + xs[0].shape.length : axis;
  return record("concat", [...xs], wrap(cp.concat(xs.map((t) => t.raw), ax)), {
    axis: ax,
    sizes: xs.map((t) => t.shape[ax]),
  });
}
/** The window `[starts, ends)` of `x`. */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[]): Tensor {
  return record("slice", [x], wrap(cp.slice(x.raw, starts, ends)), { starts });
}
/** `x.index_select(axis, idx)` with a 1-D i32 index tensor. */
export function gather(x: Tensor, idx: Tensor, axis: number): Tensor {
  const ax = axis < 0 ? axis + x.shape.length : axis;
  return record("gather", [x, idx], wrap(ga.gather(x.raw, idx.raw, ax)), { axis: ax });
}
/** A materialised broadcast of `x` to `shape`. */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  return record("broadcastTo", [x], wrap(cp.broadcastTo(x.raw, shape)));
}

// ---- reductions --------------------------------------------------------------------------------

function keptShape(shape: readonly number[], axes: number[], keepdim: boolean): number[] {
  return keepdim
    ? shape.map((d, i) => (axes.includes(i) ? 1 : d))
    : shape.filter((_, i) => !axes.includes(i));
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const ax = rd.normAxes(x.shape.length, axes);
  const r = rd.reduce(x.raw, ax, "sum");
  const out = wrap(getGpu().view(r, keptShape(x.shape, ax, keepdim)));
  r.release();
  return record("sum", [x], out, { axes: ax });
}
/** Mean over `axes` (all when omitted). */
export function mean(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const ax = rd.normAxes(x.shape.length, axes);
  const n = ax.reduce((a, i) => a * x.shape[i], 1);
  // the mean of one value is that value: a view, no dispatch (a loss scalar's mean, exactly)
  if (n === 1) return reshape(x, keptShape(x.shape, ax, keepdim));
  const r = rd.reduce(x.raw, ax, "sum");
  const m = ew.unary(r, "mulScalar", 1 / n);
  r.release();
  const out = wrap(getGpu().view(m, keptShape(x.shape, ax, keepdim)));
  m.release();
  return record("mean", [x], out, { axes: ax, n });
}
/** Maximum over `axes`; the gradient goes to every element equal to the maximum. */
export function max(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const ax = rd.normAxes(x.shape.length, axes);
  const r = rd.reduce(x.raw, ax, "max");
  const out = wrap(getGpu().view(r, keptShape(x.shape, ax, keepdim)));
  r.release();
  return record("max", [x], out, { axes: ax });
}

// ---- linear algebra ----------------------------------------------------------------------------

/** Batched matrix product (see `lib/ops/matmul.ts`). */
export function matmul(a: Tensor, b: Tensor, opts: mm.MatmulOptions = {}): Tensor {
  return record("matmul", [a, b], wrap(mm.matmul(a.raw, b.raw, opts)), {
    transA: !!opts.transA,
    transB: !!opts.transB,
  });
}

providePrimitives({
  add,
  addScalar,
  broadcastTo,
  cast,
  div,
  equal,
  full,
  greater,
  matmul,
  mul,
  mulScalar,
  neg,
  permute,
  powScalar,
  reshape,
  slice,
  sub,
  sum,
});
