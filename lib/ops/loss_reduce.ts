/**
 * The shared half of the fused loss kernels (`losses.ts`): mmdetection's `weight_reduce_loss`
 * options and denominators, the layout of `pred` (rows or a conv output), the weight kinds, and
 * the driver that runs a loss kernel and then `kernels/loss_finalize.wgsl`.
 *
 * @module
 */
import finalizeSrc from "../../kernels/loss_finalize.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu, type Gpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";

/** `kernels/loss_finalize.wgsl`. */
export const LOSS_FINALIZE: KernelSpec = {
  name: "loss_finalize",
  source: finalizeSrc,
  params: "ufff",
};

/** Float32 machine epsilon, which mmdetection ≥ 2.2x adds to `avg_factor`. */
export const FLOAT32_EPS = 1.1920928955078125e-7;

/** `weight_reduce_loss` settings shared by every loss. */
/** A reduction mode of mmdetection's `weight_reduce_loss`. */
export type Reduction = "none" | "mean" | "sum";

/**
 * The one definition of `weight_reduce_loss`'s options, for every layer: `T` is the tensor type of
 * `avgFactor` (`RawTensor` here, `Tensor` in `lib/autograd/losses.ts`).
 */
export interface ReduceOptions<T = RawTensor> {
  /** Default `"mean"`. */
  reduction?: Reduction;
  /** Divide the sum by this instead of the element count (`"mean"` only): a number or a `[]` f32 GPU tensor. */
  avgFactor?: number | T | null;
  /** Multiplies the result (default 1). */
  lossWeight?: number;
  /** Add float32 eps to `avgFactor` (mmdetection ≥ 2.2x); default false (v2.11). */
  avgEps?: boolean;
  /** Also compute d(result)/d(pred) (default true). */
  wantGrad?: boolean;
}

/** A loss and, when requested, its gradient with respect to `pred` (same shape as `pred`). */
export interface LossResult {
  /** `[]` for `mean`/`sum`; for `none` the weighted elementwise loss (shape documented per loss). */
  loss: RawTensor;
  /** d(loss)/d(pred) for a unit upstream gradient (elementwise for `none`). */
  grad: RawTensor | null;
}

const dummies = new WeakMap<Gpu, RawTensor>();
/** A 4-element zero buffer bound where a kernel's optional input is absent. */
export function dummy(gpu: Gpu): RawTensor {
  let d = dummies.get(gpu);
  if (!d || d.released) {
    d = gpu.upload([0, 0, 0, 0], [4], "f32", "loss_dummy");
    gpu.keep(d);
    dummies.set(gpu, d);
  }
  return d;
}

export interface Denominator {
  reduce: 0 | 1;
  denom: number;
  buf: RawTensor | null;
  eps: number;
}

export function denominator(what: string, numel: number, o: ReduceOptions): Denominator {
  const reduction = o.reduction ?? "mean";
  if (reduction !== "none" && reduction !== "mean" && reduction !== "sum") {
    throw new RangeError(
      `Cannot compute ${what}: reduction "${reduction}" is not one of "none", "mean", "sum"`,
    );
  }
  const avg = o.avgFactor ?? null;
  const eps = o.avgEps ? FLOAT32_EPS : 0;
  if (reduction === "none") return { reduce: 0, denom: 1, buf: null, eps: 0 };
  if (avg === null) {
    return { reduce: 1, denom: reduction === "mean" ? numel : 1, buf: null, eps: 0 };
  }
  if (reduction === "sum") {
    throw new RangeError(`Cannot compute ${what}: avg_factor can not be used with reduction "sum"`);
  }
  if (typeof avg === "number") return { reduce: 1, denom: avg + eps, buf: null, eps: 0 };
  if (avg.dtype !== "f32" || avg.size !== 1) {
    throw new TypeError(
      `Cannot compute ${what}: avg_factor must be a number or a one-element f32 tensor, got ${
        fmtShape(avg.shape)
      } ${avg.dtype}`,
    );
  }
  return { reduce: 1, denom: 1, buf: avg, eps };
}

/** Runs a fused loss kernel and, when reducing, the finalize kernel. */
export function runLoss(
  spec: KernelSpec,
  args: {
    what: string;
    inputs: RawTensor[];
    pred: RawTensor;
    numel: number;
    lossShape: readonly number[];
    workgroups: number;
    params: (d: Denominator) => number[];
    overrides: Record<string, number>;
    avgSlot: number;
  },
  o: ReduceOptions,
): LossResult {
  const gpu = getGpu();
  const d = denominator(args.what, args.numel, o);
  const lw = o.lossWeight ?? 1;
  const wantGrad = o.wantGrad ?? true;
  if (args.numel === 0) {
    return {
      loss: gpu.zeros(d.reduce ? [] : args.lossShape, "f32", args.what),
      grad: wantGrad ? gpu.zeros(args.pred.shape, "f32", `${args.what}_grad`) : null,
    };
  }
  const out = gpu.empty(
    d.reduce ? [args.workgroups] : args.lossShape,
    "f32",
    d.reduce ? `${args.what}_partials` : args.what,
  );
  const grad = wantGrad ? gpu.empty(args.pred.shape, "f32", `${args.what}_grad`) : null;
  // a writable binding may not alias another binding: without a gradient, write into a small sink
  const sink = grad ? null : gpu.empty([4], "f32", "loss_grad_sink");
  const bindings = [...args.inputs];
  bindings.splice(args.avgSlot, 0, d.buf ?? dummy(gpu));
  gpu.dispatch(spec, {
    bindings: [...bindings, out, grad ?? sink!],
    params: args.params(d),
    overrides: {
      ...args.overrides,
      DENOM_BUF: d.buf ? 1 : 0,
      REDUCE: d.reduce,
      GRAD: grad ? 1 : 0,
    },
    workgroups: args.workgroups,
  });
  sink?.release();
  if (!d.reduce) return { loss: out, grad };
  const loss = gpu.empty([], "f32", args.what);
  gpu.dispatch(LOSS_FINALIZE, {
    bindings: [out, d.buf ?? dummy(gpu), loss],
    params: [args.workgroups, lw, d.denom, d.eps],
    overrides: { DENOM_BUF: d.buf ? 1 : 0 },
    workgroups: 1,
  });
  out.release();
  return { loss, grad };
}

/** How `pred` is laid out, inferred from its shape and the number of target rows. */
export interface PredLayout {
  layout: 0 | 1;
  /** Rows M. */
  rows: number;
  /** Values per row (classes, or 4 for boxes). */
  cols: number;
  HW: number;
  A: number;
}

/**
 * `pred` is either `[M, K]` rows, or a conv output `[N, A·K, H, W]` whose rows are mmdetection's
 * `permute(0, 2, 3, 1).reshape(-1, K)` (spec §2.8), with `M = N·H·W·A` given by the targets.
 */
export function predLayout(what: string, pred: RawTensor, rows: number): PredLayout {
  if (pred.dtype !== "f32") {
    throw new TypeError(`Cannot compute ${what}: pred must be f32, got ${pred.dtype}`);
  }
  if (pred.shape.length === 2 && pred.shape[0] === rows) {
    return { layout: 0, rows, cols: pred.shape[1], HW: 1, A: 1 };
  }
  if (pred.shape.length === 4) {
    const [N, ch, H, W] = pred.shape;
    const A = rows / (N * H * W);
    if (Number.isInteger(A) && A > 0 && ch % A === 0) {
      return { layout: 1, rows, cols: ch / A, HW: H * W, A };
    }
  }
  throw new TypeError(
    `Cannot compute ${what}: pred ${
      fmtShape(pred.shape)
    } is neither [${rows}, K] nor a conv output [N, A·K, H, W] ` +
      `with N·H·W·A = ${rows} rows`,
  );
}

export function weightKind(
  what: string,
  weight: RawTensor | null | undefined,
  rows: number,
  cols: number,
): 0 | 1 | 2 {
  if (!weight) return 0;
  if (weight.dtype !== "f32") {
    throw new TypeError(`Cannot compute ${what}: weight must be f32, got ${weight.dtype}`);
  }
  if (weight.size === rows * cols) return 2;
  if (weight.size === rows) return 1;
  throw new TypeError(
    `Cannot compute ${what}: weight ${fmtShape(weight.shape)} has neither ${rows} (per row) nor ${
      rows * cols
    } (per element) values`,
  );
}
