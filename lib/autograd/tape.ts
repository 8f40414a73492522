/**
 * The tape: primitives record a {@linkcode GradNode} on their output; `backward()` walks the graph
 * in reverse topological order and accumulates gradients with `+`, so fan-out is correct by
 * construction (micrograd's scheme).
 *
 * @module
 */
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape } from "../gpu/raw_tensor.ts";
import * as ew from "../ops/elementwise.ts";
import { sumMulti } from "../ops/sum_multi.ts";
import { type GradNode, Tensor } from "./tensor.ts";

/** A gradient entry: from the output gradient to one gradient (or null) per input. */
export type GradFn = (gradOut: Tensor, node: GradNode, out: Tensor) => (Tensor | null)[];

/**
 * A gradient entry that takes the output gradient as its parts (≥ 2, in arrival order) rather
 * than their sum, so that it can fuse the sum into its own first pass.
 */
export type GradPartsFn = (parts: Tensor[], node: GradNode, out: Tensor) => (Tensor | null)[];

const table = new Map<string, GradFn>();
const partsTable = new Map<string, GradPartsFn>();
let enabled = true;

/** Registers the gradient entry of primitive `op` (one per primitive). */
export function registerGradient(op: string, fn: GradFn): void {
  if (table.has(op)) {
    throw new RangeError(`Cannot register the gradient of "${op}": it is already registered`);
  }
  table.set(op, fn);
}

/**
 * Registers the parts-taking variant of the gradient entry of `op` (used when its output
 * received several gradient parts; `registerGradient`'s entry handles a single one).
 */
export function registerGradientParts(op: string, fn: GradPartsFn): void {
  if (partsTable.has(op)) {
    throw new RangeError(`Cannot register the parts gradient of "${op}": it is already registered`);
  }
  partsTable.set(op, fn);
}

/** Names of the primitives that have gradient entries. */
export function gradientOps(): string[] {
  return [...table.keys()];
}

/** Whether primitives are currently recorded. */
export function isGradEnabled(): boolean {
  return enabled;
}

/** Runs `fn` without recording primitives on the tape. */
export function noGrad<T>(fn: () => T): T {
  const prev = enabled;
  enabled = false;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}

/** Records `op` on `out` when gradients are enabled and some input requires them. */
export function record(
  op: string,
  inputs: Tensor[],
  out: Tensor,
  // deno-lint-ignore no-explicit-any
  ctx: Record<string, any> = {},
): Tensor {
  if (enabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, ctx };
  }
  return out;
}

// The three operations backward itself needs, on raw kernels (recording is off during backward,
// so these equal functional.ts's add, ones and clone without importing it).
function addT(a: Tensor, b: Tensor): Tensor {
  return new Tensor(ew.binary(a.raw, b.raw, "add"));
}
function onesT(shape: readonly number[]): Tensor {
  const t = new Tensor(ew.full(shape, 1));
  ones.add(t);
  return t;
}

/**
 * Gradients known to hold exactly 1 everywhere: the seed of `backward()` and its views (the
 * gradient of `add` and `reshape` passes them on unchanged). A gradient entry that would multiply
 * by such a gradient may skip the multiplication (x·1 = x exactly): one dispatch fewer per loss.
 */
const ones = new WeakSet<Tensor>();

/** Whether the gradient `g` is known to be all ones (see `markOnes`). */
export function isOnes(g: Tensor): boolean {
  return ones.has(g);
}

/** Marks `view` as all ones when `of` is (for gradient entries that return a view of `of`). */
export function markOnes(view: Tensor, of: Tensor): Tensor {
  if (ones.has(of)) ones.add(view);
  return view;
}
/** The sum of gradient parts, left to right as a chain of adds (one dispatch for several). */
function sumParts(parts: Tensor[]): Tensor {
  return parts.length === 1 ? parts[0] : new Tensor(sumMulti([parts.map((p) => p.raw)])[0]);
}
function cloneT(a: Tensor): Tensor {
  return new Tensor(ew.unary(a.raw, "copy"));
}

/**
 * Back-propagates from `root` (a scalar unless `gradRoot` is given) and accumulates gradients into
 * `.grad` of every leaf tensor that requires them. Leaf gradients survive enclosing `tidy` scopes.
 * The graph is freed afterwards unless `retainGraph`.
 */
export function backward(
  root: Tensor,
  gradRoot?: Tensor,
  opts: { retainGraph?: boolean } = {},
): void {
  if (!root.requiresGrad) {
    throw new TypeError(
      `Cannot run backward from ${root}: it does not require gradients (no input has requiresGrad)`,
    );
  }
  if (!gradRoot && root.size !== 1) {
    throw new TypeError(`Cannot run backward from ${root} without a gradient: it is not a scalar`);
  }
  // 1. topological order (iterative DFS: deep graphs must not overflow the stack)
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const ins = t.node?.inputs ?? [];
    if (i < ins.length) {
      top[1]++;
      const c = ins[i];
      if (c.requiresGrad && !seen.has(c)) {
        seen.add(c);
        stack.push([c, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  const gpu = getGpu();
  const prev = enabled;
  enabled = false;
  try {
    // 2. seed
    // every tensor's gradient parts, in arrival order (fan-out): summed when the tensor's node
    // is processed, in one dispatch (or fused into its gradient entry's first pass)
    const grads = new Map<Tensor, Tensor[]>();
    // a leaf's gradient parts, in arrival order: summed for all leaves at once after the walk (a
    // head shared by the pyramid levels gives each of its parameters one part per level)
    const leafParts = new Map<Tensor, Tensor[]>();
    const leaves: Tensor[] = [];
    const seed = gradRoot ?? onesT(root.shape);
    if (root.node) grads.set(root, [seed]);
    else leafParts.set(root, [seed]);
    // 3. reverse walk
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k];
      if (!t.node) {
        if (leafParts.has(t)) leaves.push(t);
        continue;
      }
      const parts = grads.get(t);
      if (!parts) continue;
      const fn = table.get(t.node.op);
      if (!fn) {
        throw new ReferenceError(
          `Cannot apply gradient for ${t.node.op}: no gradient entry is registered`,
        );
      }
      const ins = t.node.inputs;
      const pfn = parts.length > 1 ? partsTable.get(t.node.op) : undefined;
      const gi = pfn ? pfn(parts, t.node, t) : fn(sumParts(parts), t.node, t);
      // arity check
      if (gi.length !== ins.length) {
        throw new TypeError(
          `Cannot apply gradient for ${t.node.op}: expected ${ins.length} input gradients, got ${gi.length}`,
        );
      }
      for (let j = 0; j < ins.length; j++) {
        const x = ins[j], gx = gi[j];
        if (!gx || !x.requiresGrad) continue;
        if (gx.size !== x.size) {
          throw new TypeError(
            `Cannot apply gradient for ${t.node.op}: input ${j} gradient ${
              fmtShape(gx.shape)
            } does not match ${fmtShape(x.shape)}`,
          );
        }
        if (!x.node) {
          const parts = leafParts.get(x);
          if (parts) parts.push(gx);
          else leafParts.set(x, [gx]);
          continue;
        }
        const acc = grads.get(x);
        if (acc) acc.push(gx);
        else grads.set(x, [gx]);
      }
      if (!opts.retainGraph) grads.delete(t);
    }
    // 4. leaves: the parts of each summed left to right (as a chain of adds), all in a few
    // multi-tensor dispatches, then accumulated into .grad
    const multi = leaves.filter((t) => leafParts.get(t)!.length > 1);
    const sums = new Map<Tensor, Tensor>();
    sumMulti(multi.map((t) => leafParts.get(t)!.map((p) => p.raw))).forEach((r, i) => {
      sums.set(multi[i], new Tensor(r));
    });
    const owned = new Set<Tensor>(); // gradients already stored on a leaf: never share one
    for (const t of leaves) {
      const g = sums.get(t) ?? leafParts.get(t)![0];
      if (t.grad?.disposed) t.grad = null;
      if (t.grad) {
        const sum = addT(t.grad, g);
        t.grad.dispose();
        t.grad = sum;
      } else t.grad = owned.has(g) || g === gradRoot ? cloneT(g) : g;
      owned.add(t.grad);
      gpu.keep(t.grad.raw);
    }
  } finally {
    enabled = prev;
  }
  if (!opts.retainGraph) { for (const t of order) if (t.node) t.node = null; }
}
