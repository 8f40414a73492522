/**
 * The gradient table: one entry per primitive of `functional.ts`, computed with the same
 * primitives (recording is off during `backward`).
 *
 * @module
 */
import { getGpu } from "../gpu/runtime.ts";
import { scatterAddInto } from "../ops/gather.ts";
import { copyInto } from "../ops/copy.ts";
import type { MatmulOptions } from "../ops/matmul.ts";
import { reluGrad } from "../ops/elementwise.ts";
import { sumMulti } from "../ops/sum_multi.ts";
import { markOnes, registerGradient, registerGradientParts } from "./tape.ts";
import { Tensor } from "./tensor.ts";

/**
 * The primitives of `functional.ts` the gradients are computed with. `functional.ts` imports this
 * module and provides them ({@linkcode providePrimitives}), so neither imports the other twice
 * round (no import cycle).
 */
export interface Primitives {
  add(a: Tensor, b: Tensor): Tensor;
  addScalar(x: Tensor, s: number): Tensor;
  broadcastTo(x: Tensor, shape: readonly number[]): Tensor;
  cast(x: Tensor, dtype: "f32" | "i32" | "u32"): Tensor;
  div(a: Tensor, b: Tensor): Tensor;
  equal(a: Tensor, b: Tensor): Tensor;
  full(shape: readonly number[], value: number, dtype?: "f32" | "i32" | "u32"): Tensor;
  greater(a: Tensor, b: Tensor): Tensor;
  matmul(a: Tensor, b: Tensor, opts?: MatmulOptions): Tensor;
  mul(a: Tensor, b: Tensor): Tensor;
  mulScalar(x: Tensor, s: number): Tensor;
  neg(x: Tensor): Tensor;
  permute(x: Tensor, dims: readonly number[]): Tensor;
  powScalar(x: Tensor, p: number): Tensor;
  reshape(x: Tensor, shape: readonly number[]): Tensor;
  slice(x: Tensor, starts: readonly number[], ends: readonly number[]): Tensor;
  sub(a: Tensor, b: Tensor): Tensor;
  sum(x: Tensor, axes?: number | readonly number[], keepdim?: boolean): Tensor;
}

const F = {} as Primitives;

/** Called once by `functional.ts` with its primitives (the gradient entries compute with them). */
export function providePrimitives(p: Primitives): void {
  Object.assign(F, p);
}

/** Sums `g` down to `shape` (undoes broadcasting). */
export function unbroadcast(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const off = g.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.shape.length; i++) {
    if (i < off || (shape[i - off] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const s = axes.length ? F.sum(g, axes, true) : g;
  return F.reshape(s, shape);
}

/** Reshapes a reduced gradient so that it broadcasts against the input of the reduction. */
function expandReduced(g: Tensor, inShape: readonly number[], axes: number[]): Tensor {
  return F.reshape(g, inShape.map((d, i) => (axes.includes(i) ? 1 : d)));
}

registerGradient(
  "add",
  (g, n) => [unbroadcast(g, n.inputs[0].shape), unbroadcast(g, n.inputs[1].shape)],
);
// relu(a + b): the output is > 0 exactly where a + b is, so the output masks the gradient
registerGradient("addRelu", (g, n, out) => {
  const gm = new Tensor(reluGrad(g.raw, out.raw));
  return [unbroadcast(gm, n.inputs[0].shape), unbroadcast(gm, n.inputs[1].shape)];
});
// a block output used by the next block and a neck: its gradient parts summed and masked in one
// pass (equal to adding them, then masking)
registerGradientParts("addRelu", (parts, n, out) => {
  const gm = new Tensor(sumMulti([parts.map((p) => p.raw)], [out.raw])[0]);
  return [unbroadcast(gm, n.inputs[0].shape), unbroadcast(gm, n.inputs[1].shape)];
});
registerGradient(
  "sub",
  (g, n) => [unbroadcast(g, n.inputs[0].shape), unbroadcast(F.neg(g), n.inputs[1].shape)],
);
registerGradient("mul", (g, n) => {
  const [a, b] = n.inputs;
  return [
    a.requiresGrad ? unbroadcast(F.mul(g, b), a.shape) : null,
    b.requiresGrad ? unbroadcast(F.mul(g, a), b.shape) : null,
  ];
});
registerGradient("div", (g, n, out) => {
  const [a, b] = n.inputs;
  return [
    a.requiresGrad ? unbroadcast(F.div(g, b), a.shape) : null,
    // d(a/b)/db = −(a/b)/b
    b.requiresGrad ? unbroadcast(F.neg(F.div(F.mul(g, out), b)), b.shape) : null,
  ];
});
registerGradient("maximum", (g, n) => {
  const [a, b] = n.inputs;
  const ma = F.cast(F.cast(F.greater(b, a), "i32"), "f32"); // 1 where b > a
  return [
    a.requiresGrad ? unbroadcast(F.mul(g, F.addScalar(F.neg(ma), 1)), a.shape) : null,
    b.requiresGrad ? unbroadcast(F.mul(g, ma), b.shape) : null,
  ];
});
registerGradient("addScalar", (g) => [g]);
registerGradient("mulScalar", (g, n) => [F.mulScalar(g, n.ctx.s)]);
registerGradient(
  "powScalar",
  (g, n) => [F.mul(g, F.mulScalar(F.powScalar(n.inputs[0], n.ctx.p - 1), n.ctx.p))],
);
registerGradient("neg", (g) => [F.neg(g)]);
registerGradient("exp", (g, _n, out) => [F.mul(g, out)]);
registerGradient("log", (g, n) => [F.div(g, n.inputs[0])]);
registerGradient("sigmoid", (g, _n, out) => [F.mul(g, F.mul(out, F.addScalar(F.neg(out), 1)))]);
// relu: the gradient at exactly 0 is 0, as PyTorch's threshold_backward.
registerGradient("relu", (g, n) => [new Tensor(reluGrad(g.raw, n.inputs[0].raw))]);
registerGradient("abs", (g, n) => {
  const x = n.inputs[0];
  const zero = F.full([], 0);
  return [F.mul(g, F.sub(F.greater(x, zero), F.greater(zero, x)))];
});
registerGradient("sqrt", (g, _n, out) => [F.div(F.mulScalar(g, 0.5), out)]);
registerGradient("clamp", (g, n) => {
  const x = n.inputs[0];
  const inside = F.mul(F.greater(x, F.full([], n.ctx.lo)), F.greater(F.full([], n.ctx.hi), x));
  const atLo = F.equal(x, F.full([], n.ctx.lo)), atHi = F.equal(x, F.full([], n.ctx.hi));
  return [F.mul(g, F.add(inside, F.add(atLo, atHi)))];
});
registerGradient("clone", (g) => [g]);
registerGradient("reshape", (g, n) => [markOnes(F.reshape(g, n.ctx.shape), g)]);
registerGradient("permute", (g, n) => {
  const dims: number[] = n.ctx.dims;
  const inv = new Array<number>(dims.length);
  dims.forEach((d, i) => (inv[d] = i));
  return [F.permute(g, inv)];
});
registerGradient("broadcastTo", (g, n) => [unbroadcast(g, n.inputs[0].shape)]);
registerGradient("concat", (g, n) => {
  const axis: number = n.ctx.axis;
  let off = 0;
  return n.inputs.map((x) => {
    const starts = g.shape.map((_, i) => (i === axis ? off : 0));
    const ends = g.shape.map((d, i) => (i === axis ? off + x.shape[axis] : d));
    off += x.shape[axis];
    return x.requiresGrad ? F.slice(g, starts, ends) : null;
  });
});
registerGradient("slice", (g, n) => {
  const x = n.inputs[0];
  const gx = getGpu().zeros(x.shape, "f32", "slice_grad");
  copyInto(g.raw, gx, n.ctx.starts);
  return [new Tensor(gx)];
});
registerGradient("gather", (g, n) => {
  const [x, idx] = n.inputs;
  const gx = getGpu().zeros(x.shape, "f32", "gather_grad");
  scatterAddInto(gx, g.raw, idx.raw, n.ctx.axis);
  return [new Tensor(gx), null];
});
registerGradient("sum", (g, n) => {
  const x = n.inputs[0];
  return [F.broadcastTo(expandReduced(g, x.shape, n.ctx.axes), x.shape)];
});
registerGradient("mean", (g, n) => {
  const x = n.inputs[0];
  return [F.broadcastTo(expandReduced(F.mulScalar(g, 1 / n.ctx.n), x.shape, n.ctx.axes), x.shape)];
});
registerGradient("max", (g, n, out) => {
  const x = n.inputs[0];
  const m = expandReduced(out, x.shape, n.ctx.axes);
  return [F.mul(F.equal(x, m), expandReduced(g, x.shape, n.ctx.axes))];
});
registerGradient("matmul", (g, n) => {
  const [a, b] = n.inputs;
  const { transA, transB } = n.ctx as { transA: boolean; transB: boolean };
  let ga: Tensor | null = null, gb: Tensor | null = null;
  if (a.requiresGrad) {
    // C = op(A)·op(B): d op(A) = G·op(B)ᵀ; dA = that, or its transpose when A was transposed.
    ga = transA
      ? F.matmul(b, g, { transA: transB, transB: true })
      : F.matmul(g, b, { transB: !transB });
    if (ga.shape.length > a.shape.length) ga = F.sum(ga, 0);
    else if (ga.shape[0] !== a.shape[0]) ga = F.sum(ga, 0, true);
  }
  if (b.requiresGrad) {
    gb = transB
      ? F.matmul(g, a, { transA: true, transB: transA })
      : F.matmul(a, g, { transA: !transA });
    if (gb.shape.length > b.shape.length) gb = F.sum(gb, 0);
    else if (gb.shape[0] !== b.shape[0]) gb = F.sum(gb, 0, true);
  }
  return [ga, gb];
});
