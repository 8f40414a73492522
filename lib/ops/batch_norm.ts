/**
 * BatchNorm over NCHW tensors (`kernels/batch_norm_*.wgsl`) and per-channel sums: training mode
 * normalises with the batch statistics (biased variance, two-pass) and updates the running
 * statistics in place (unbiased variance, as PyTorch); eval mode uses the running statistics.
 * Normalisation itself is the per-channel affine epilogue of `conv2d_epilogue.wgsl`.
 *
 * @module
 */
import statsSrc from "../../kernels/batch_norm_stats.wgsl" with { type: "text" };
import finalizeSrc from "../../kernels/batch_norm_finalize.wgsl" with { type: "text" };
import backwardSrc from "../../kernels/batch_norm_backward.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor, shapeSize } from "../gpu/raw_tensor.ts";
import { channelAffine, checkBindingSize } from "./conv2d.ts";
import { reduceRows } from "./reduce.ts";

/** `kernels/batch_norm_stats.wgsl`. */
export const BATCH_NORM_STATS: KernelSpec = {
  name: "batch_norm_stats",
  source: statsSrc,
  params: "uuuuufuu",
};
/** `kernels/batch_norm_finalize.wgsl`. */
export const BATCH_NORM_FINALIZE: KernelSpec = {
  name: "batch_norm_finalize",
  source: finalizeSrc,
  params: "ufff",
};
/** `kernels/batch_norm_backward.wgsl`. */
export const BATCH_NORM_BACKWARD: KernelSpec = {
  name: "batch_norm_backward",
  source: backwardSrc,
  params: "uuuu",
};

const CHUNK = 4096;

/** What {@linkcode channelSums} adds up per channel c. */
export type ChannelSumMode =
  /** Σ x */
  | "sum"
  /** Σ (x − s[c]/count)², with `s` per-channel sums */
  | "centeredSquares"
  /** Σ x·(y − s[c]/count) (or Σ x·y without `s`) */
  | "dot";

/**
 * Per-channel sums over N, H, W of an NCHW (or [N, C, …]) tensor: returns [C]. Two passes: chunks
 * of the N·HW values of each channel, then the chunks.
 */
export function channelSums(
  x: RawTensor,
  mode: ChannelSumMode = "sum",
  opts: { y?: RawTensor; sums?: RawTensor; count?: number } = {},
): RawTensor {
  if (x.shape.length < 2) {
    throw new TypeError(`Cannot sum per channel over ${fmtShape(x.shape)}: expected [N, C, ...]`);
  }
  const gpu = getGpu();
  const [n, c] = x.shape;
  const hw = shapeSize(x.shape.slice(2));
  const len = n * hw;
  if (len === 0) return gpu.zeros([c], "f32", "channel_sums");
  const nchunks = Math.min(Math.ceil(len / CHUNK), 1024);
  const chunk = Math.ceil(len / nchunks);
  const part = gpu.empty([c * nchunks], "f32", "channel_sums_part");
  const code = mode === "sum" ? 0 : mode === "centeredSquares" ? 1 : 2;
  if (mode === "dot" && (!opts.y || opts.y.size !== x.size)) {
    throw new TypeError(
      `Cannot compute per-channel dot products: y must have the shape of x ${fmtShape(x.shape)}`,
    );
  }
  if (mode === "centeredSquares" && !opts.sums) {
    throw new TypeError("Cannot sum centered squares without the per-channel sums");
  }
  gpu.dispatch(BATCH_NORM_STATS, {
    bindings: [x, opts.y ?? x, opts.sums ?? x, part],
    params: [n, c, hw, chunk, nchunks, opts.count ? 1 / opts.count : 0, 0, 0],
    overrides: { MODE: code, CENTER: opts.sums ? 1 : 0 },
    workgroups: c * nchunks,
  });
  if (nchunks === 1) {
    const r = gpu.view(part, [c]);
    part.release();
    return r;
  }
  const r = reduceRows(part, c, nchunks, "sum");
  part.release();
  return r;
}

/** Options of {@linkcode batchNormForward}. */
export interface BatchNormForwardOptions {
  training: boolean;
  /** Weight of the new statistics in the running averages (default 0.1). */
  momentum?: number;
  eps?: number;
  act?: "none" | "relu";
}

/** The result of {@linkcode batchNormForward}. */
export interface BatchNormForwardResult {
  y: RawTensor;
  /**
   * [4, C]: mean, 1/√(var + eps), scale, shift used for the normalisation (batch statistics when
   * training, running ones in eval); the backward pass needs it.
   */
  saved: RawTensor;
}

function checkChannelVec(
  t: RawTensor | null,
  c: number,
  what: string,
  xShape: readonly number[],
): void {
  if (t && (t.size !== c || t.dtype !== "f32")) {
    throw new TypeError(
      `Cannot run batchNorm2d on input ${fmtShape(xShape)}: ${what} has shape ${
        fmtShape(t.shape)
      }, expected [${c}] f32`,
    );
  }
}

/**
 * BatchNorm forward. Training: batch statistics, running statistics updated in place on the GPU.
 * Eval: running statistics. `weight`/`bias` may be null (1 and 0).
 */
export function batchNormForward(
  x: RawTensor,
  runningMean: RawTensor,
  runningVar: RawTensor,
  weight: RawTensor | null,
  bias: RawTensor | null,
  opts: BatchNormForwardOptions,
): BatchNormForwardResult {
  if (x.shape.length < 2) {
    throw new TypeError(
      `Cannot run batchNorm2d on input ${fmtShape(x.shape)}: expected [N, C, H, W]`,
    );
  }
  const [n, c] = x.shape;
  if (n === 0) {
    throw new RangeError(
      `Cannot run batchNorm2d on an empty batch: input ${
        fmtShape(x.shape)
      } has batch size 0; skip the call for empty batches`,
    );
  }
  for (
    const [t, what] of [[runningMean, "running_mean"], [runningVar, "running_var"], [
      weight,
      "weight",
    ], [bias, "bias"]] as const
  ) {
    checkChannelVec(t, c, what, x.shape);
  }
  checkBindingSize("batchNorm2d", "input", x.shape);
  const count = x.size / c;
  const gpu = getGpu();
  const saved = gpu.empty([4, c], "f32", "batch_norm_saved");
  let s1: RawTensor | null = null, s2: RawTensor | null = null;
  if (opts.training) {
    if (count <= 1) {
      throw new RangeError(
        `Cannot run batchNorm2d in training mode on input ${
          fmtShape(x.shape)
        }: expected more than 1 value per channel`,
      );
    }
    s1 = channelSums(x, "sum");
    s2 = channelSums(x, "centeredSquares", { sums: s1, count });
  }
  gpu.dispatch(BATCH_NORM_FINALIZE, {
    bindings: [s1 ?? x, s2 ?? x, weight ?? x, bias ?? x, x, runningMean, runningVar, saved],
    params: [c, count, opts.eps ?? 1e-5, opts.momentum ?? 0.1],
    overrides: {
      MODE: opts.training ? 0 : 1,
      UPDATE: 1,
      HAS_W: weight ? 1 : 0,
      HAS_B: bias ? 1 : 0,
    },
    workgroups: Math.ceil(c / 64),
  });
  s1?.release();
  s2?.release();
  // Rows 2 and 3 of `saved` are the scale and shift; copy them out to bind them as vectors.
  const sc = gpu.empty([c], "f32", "bn_scale"), sh = gpu.empty([c], "f32", "bn_shift");
  gpu.copy(saved, 8 * c, sc, 0, 4 * c);
  gpu.copy(saved, 12 * c, sh, 0, 4 * c);
  const y = channelAffine(x, sc, sh, { act: opts.act });
  sc.release();
  sh.release();
  return { y, saved };
}

/** The gradients of {@linkcode batchNormBackward}; null where not requested. */
export interface BatchNormGrads {
  dx: RawTensor | null;
  dw: RawTensor | null;
  db: RawTensor | null;
}

/**
 * BatchNorm backward from the (already ReLU-masked, if fused) output gradient `dy`, the input
 * `x`, the forward's `saved` rows and `weight` (null: 1). `training` must match the forward.
 */
export function batchNormBackward(
  dy: RawTensor,
  x: RawTensor,
  saved: RawTensor,
  weight: RawTensor | null,
  opts: { training: boolean; needDx?: boolean; needDw?: boolean; needDb?: boolean },
): BatchNormGrads {
  const gpu = getGpu();
  const c = x.shape[1];
  const count = x.size / c;
  const hw = shapeSize(x.shape.slice(2));
  const sdy = channelSums(dy, "sum");
  // Σ dy·(x − mean) with the saved mean (row 0 of `saved`) as the "sums" and a count of 1.
  const mean = gpu.empty([c], "f32", "bn_mean");
  gpu.copy(saved, 0, mean, 0, 4 * c);
  const sdyxc = channelSums(dy, "dot", { y: x, sums: mean, count: 1 });
  mean.release();
  const coef = gpu.empty([5, c], "f32", "bn_coef");
  const d1 = gpu.empty([1], "f32", "bn_dummy"), d2 = gpu.empty([1], "f32", "bn_dummy");
  gpu.dispatch(BATCH_NORM_FINALIZE, {
    bindings: [sdy, sdyxc, weight ?? sdy, sdy, saved, d1, d2, coef],
    params: [c, count, 0, 0],
    overrides: { MODE: 2, TRAIN: opts.training ? 1 : 0, HAS_W: weight ? 1 : 0, HAS_B: 0 },
    workgroups: Math.ceil(c / 64),
  });
  d1.release();
  d2.release();
  sdy.release();
  sdyxc.release();
  let dx: RawTensor | null = null, dw: RawTensor | null = null, db: RawTensor | null = null;
  if (opts.needDx ?? true) {
    dx = gpu.empty(x.shape, "f32", "bn_dx");
    gpu.dispatch(BATCH_NORM_BACKWARD, {
      bindings: [dy, x, coef, dx],
      params: [x.size, hw, c, 0],
      workgroups: Math.ceil(x.size / 256),
    });
  }
  if (opts.needDw) {
    dw = gpu.empty([c], "f32", "bn_dw");
    gpu.copy(coef, 12 * c, dw, 0, 4 * c);
  }
  if (opts.needDb) {
    db = gpu.empty([c], "f32", "bn_db");
    gpu.copy(coef, 16 * c, db, 0, 4 * c);
  }
  coef.release();
  return { dx, dw, db };
}
