/**
 * Differentiable CNN primitives on {@linkcode Tensor} (NCHW f32, OIHW weights, as PyTorch):
 * convolution with a fused bias/ReLU epilogue, BatchNorm (training and eval), GroupNorm, max
 * pooling, nearest interpolation and the per-channel affine of a frozen BatchNorm. Each records
 * itself on the tape; its gradient entry lives in `cnn_gradients.ts` under the same name.
 *
 * @module
 */
import * as cv from "../ops/conv2d.ts";
import * as bn from "../ops/batch_norm.ts";
import * as gn from "../ops/group_norm.ts";
import * as pl from "../ops/pool.ts";
import * as ip from "../ops/interpolate.ts";
import { record } from "./tape.ts";
import { Tensor } from "./tensor.ts";
// The gradient entries register themselves.
import "./cnn_gradients.ts";

/** Options of {@linkcode conv2d}. */
export interface Conv2dOptions {
  /** Stride, one value or [h, w] (default 1). */
  stride?: number | [number, number];
  /** Zero padding on each side, one value or [h, w] (default 0). */
  padding?: number | [number, number];
  /** Spacing of the kernel taps, one value or [h, w] (default 1). */
  dilation?: number | [number, number];
  /** Channel groups: Cin and Cout are both divisible by it (default 1). */
  groups?: number;
  /** Fused activation (default "none"). */
  act?: "none" | "relu";
}

function geometry(o: Conv2dOptions): cv.Conv2dGeometry {
  return { stride: o.stride, padding: o.padding, dilation: o.dilation, groups: o.groups };
}

/**
 * 2-D convolution `act(conv(x, w) + bias)`: x [N, Cin, H, W], w [Cout, Cin/groups, KH, KW], bias
 * [Cout] or null. Gradients flow to x, w and bias (and through the fused ReLU).
 */
export function conv2d(
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  opts: Conv2dOptions = {},
): Tensor {
  const out = new Tensor(
    cv.conv2dForward(x.raw, w.raw, bias?.raw ?? null, { ...geometry(opts), act: opts.act }),
  );
  const inputs = bias ? [x, w, bias] : [x, w];
  return record("conv2d", inputs, out, { geo: geometry(opts), relu: opts.act === "relu" });
}

/** Options of {@linkcode batchNorm2d}. */
export interface BatchNormOptions {
  /** Batch statistics and running-statistics update (true) or running statistics (false). */
  training: boolean;
  /** Default 0.1. */
  momentum?: number;
  /** Default 1e-5. */
  eps?: number;
  /** Fused activation after the affine transform (default "none"). */
  act?: "none" | "relu";
  /** The module's `num_batches_tracked` (one i32), incremented on the GPU in training mode. */
  numBatchesTracked?: Tensor;
  /**
   * Added after the affine transform, before the activation (a ResNet block's shortcut), in the
   * same pass; x's shape. Needs `canFuseResidual()` of `lib/ops/batch_norm.ts`.
   */
  residual?: Tensor | null;
}

/**
 * BatchNorm over NCHW. Training: normalises with the batch statistics (biased variance) and
 * updates `runningMean`/`runningVar` in place on the GPU (unbiased variance, `momentum`); eval:
 * uses the running statistics. `weight`/`bias` may be null or frozen (no gradient then).
 */
export function batchNorm2d(
  x: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  opts: BatchNormOptions,
): Tensor {
  const { y, saved } = bn.batchNormForward(
    x.raw,
    runningMean.raw,
    runningVar.raw,
    weight?.raw ?? null,
    bias?.raw ?? null,
    {
      training: opts.training,
      momentum: opts.momentum,
      eps: opts.eps,
      act: opts.act,
      numBatchesTracked: opts.numBatchesTracked?.raw,
      residual: opts.residual?.raw ?? null,
    },
  );
  const out = new Tensor(y);
  const res = opts.residual ?? null;
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : []), ...(res ? [res] : [])];
  const savedT = new Tensor(saved);
  const r = record("batchNorm2d", inputs, out, {
    saved: savedT,
    training: opts.training,
    relu: opts.act === "relu",
    hasWeight: !!weight,
    hasBias: !!bias,
    hasResidual: !!res,
  });
  if (!r.node) savedT.dispose();
  return r;
}

/** GroupNorm over [N, C, …] with `numGroups` groups; `weight`/`bias` [C] or null. */
export function groupNorm(
  x: Tensor,
  numGroups: number,
  weight: Tensor | null,
  bias: Tensor | null,
  eps = 1e-5,
  act: "none" | "relu" = "none",
): Tensor {
  const { y, stats } = gn.groupNormForward(
    x.raw,
    numGroups,
    weight?.raw ?? null,
    bias?.raw ?? null,
    eps,
    act,
  );
  const statsT = new Tensor(stats);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const r = record("groupNorm", inputs, new Tensor(y), {
    stats: statsT,
    groups: numGroups,
    relu: act === "relu",
    hasWeight: !!weight,
    hasBias: !!bias,
  });
  if (!r.node) statsT.dispose();
  return r;
}

/** Options of {@linkcode maxPool2d}. */
export interface MaxPool2dOptions {
  /** Window size (square). */
  kernelSize: number;
  /** Step between windows (default `kernelSize`). */
  stride?: number;
  /** Implicit -inf padding on each side (default 0). */
  padding?: number;
  /** Round the output size up instead of down, as PyTorch's `ceil_mode` (default false). */
  ceilMode?: boolean;
}

/** 2-D max pooling (the gradient goes to the first maximum of each window, as PyTorch). */
export function maxPool2d(x: Tensor, opts: MaxPool2dOptions): Tensor {
  const { y, argmax } = pl.maxPool2dForward(x.raw, opts);
  const argT = new Tensor(argmax);
  const r = record("maxPool2d", [x], new Tensor(y), { argmax: argT, opts: { ...opts } });
  if (!r.node) argT.dispose();
  return r;
}

/** Options of {@linkcode interpolateNearest}: exactly one of `size` and `scaleFactor`. */
export interface InterpolateOptions {
  /** Output size [h, w]. */
  size?: [number, number];
  /** Output size = floor(input size × scaleFactor). */
  scaleFactor?: number;
}

/** Nearest-neighbour resize with PyTorch's index rule `src = floor(dst · in/out)`. */
export function interpolateNearest(x: Tensor, opts: InterpolateOptions): Tensor {
  const o = { size: opts.size, scaleFactor: opts.scaleFactor };
  return record("interpolateNearest", [x], new Tensor(ip.interpolateNearestForward(x.raw, o)), {
    opts: o,
  });
}

/**
 * `y = act(x·scale[c] + shift[c])` over [N, C, …]: the frozen-BatchNorm evaluation path. Gradients
 * for x, and for scale/shift when they require them.
 */
export function affineChannel(
  x: Tensor,
  scale: Tensor,
  shift: Tensor,
  opts: { act?: "none" | "relu" } = {},
): Tensor {
  const y = cv.channelAffine(x.raw, scale.raw, shift.raw, { act: opts.act });
  return record("affineChannel", [x, scale, shift], new Tensor(y), { relu: opts.act === "relu" });
}
