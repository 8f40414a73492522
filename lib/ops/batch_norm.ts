/**
 * BatchNorm over NCHW tensors (`kernels/batch_norm_*.wgsl`) and per-channel sums: training mode
 * normalises with the batch statistics (biased variance) and updates the running statistics in
 * place (unbiased variance, as PyTorch); eval mode uses the running statistics. Forward: one pass
 * of per-chunk shifted moments, then one pass that merges them (Chan et al.), writes the saved
 * statistics and applies the affine transform and the optional ReLU. Backward: one pass of
 * per-chunk Σdy, Σdy·(x − mean), then one pass for dx, grad_w and grad_b.
 *
 * @module
 */
import statsSrc from "../../kernels/batch_norm_stats.wgsl" with { type: "text" };
import momentsSrc from "../../kernels/batch_norm_moments.wgsl" with { type: "text" };
import applySrc from "../../kernels/batch_norm_apply.wgsl" with { type: "text" };
import applyResSrc from "../../kernels/batch_norm_apply_residual.wgsl" with { type: "text" };
import backwardSrc from "../../kernels/batch_norm_backward.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor, shapeSize } from "../gpu/raw_tensor.ts";
import { checkBindingSize } from "./conv2d.ts";
import { reduceRows } from "./reduce.ts";

/** `kernels/batch_norm_stats.wgsl`. */
export const BATCH_NORM_STATS: KernelSpec = {
  name: "batch_norm_stats",
  source: statsSrc,
  params: "uuuuufuu",
};
/** `kernels/batch_norm_moments.wgsl`. */
export const BATCH_NORM_MOMENTS: KernelSpec = {
  name: "batch_norm_moments",
  source: momentsSrc,
  params: "uuuuuuuu",
};
/** `kernels/batch_norm_apply.wgsl`. */
export const BATCH_NORM_APPLY: KernelSpec = {
  name: "batch_norm_apply",
  source: applySrc,
  params: "uuuuuuuuffff",
};
/** `kernels/batch_norm_apply_residual.wgsl`: the apply pass with a residual added before the ReLU. */
export const BATCH_NORM_APPLY_RESIDUAL: KernelSpec = {
  name: "batch_norm_apply_residual",
  source: applyResSrc,
  params: "uuuuuuuuffff",
};
let residualFusion = true;
/**
 * Turns the residual fusion of the BatchNorm forward on or off (default on, where the device
 * allows it); returns the previous setting. Off, a block runs BN then `addRelu` (as on devices
 * with 8 storage bindings per stage), which the tests compare against.
 */
export function setResidualFusion(enabled: boolean): boolean {
  const prev = residualFusion;
  residualFusion = enabled;
  return prev;
}
/** Whether this device can fuse a residual into the BatchNorm forward (9 storage bindings). */
export function canFuseResidual(): boolean {
  return residualFusion && getGpu().info.limits.maxStorageBuffersPerShaderStage >= 9;
}
/** `kernels/batch_norm_backward.wgsl`. */
export const BATCH_NORM_BACKWARD: KernelSpec = {
  name: "batch_norm_backward",
  source: backwardSrc,
  params: "uuuuuuuuffff",
};

/** How the BatchNorm kernels split each channel's N·HW values into workgroups. */
export interface BnChunking {
  /** Workgroups per channel. */
  nchunks: number;
  /** Segments per (n, c) plane (> 1: each chunk is one segment of one plane). */
  segs: number;
  /** Pixels per segment. */
  segLen: number;
  /** Whole planes per chunk (when segs is 1). */
  planes: number;
  /** Threads per workgroup. */
  wg: number;
  /** Virtual lanes per thread of the moments kernel (wg·lanes lanes in all). */
  lanes: number;
}

/**
 * The per-adapter reduction shape: on a software adapter few large workgroups of 8 threads (one
 * 256-bit SIMD vector of lavapipe; 1.5–3× faster than 64 in the tiny RetinaNet step) of 8
 * virtual lanes each (the sums of 64 threads, bit for bit) that each add up long serial runs (a tree reduction costs a fixed 15–30 µs per workgroup there); on a
 * GPU more, smaller chunks of 256 threads, for parallelism.
 */
export function bnChunking(n: number, hw: number, fallback: boolean): BnChunking {
  const target = fallback ? 16384 : 4096;
  const wg = fallback ? 8 : 256;
  const lanes = fallback ? 8 : 1;
  if (hw >= target && hw > 0) {
    const segs = Math.ceil(hw / target);
    const segLen = Math.ceil(hw / segs);
    return {
      nchunks: n * Math.ceil(hw / segLen),
      segs: Math.ceil(hw / segLen),
      segLen,
      planes: 1,
      wg,
      lanes,
    };
  }
  const planes = Math.max(1, Math.min(n, Math.floor(target / Math.max(hw, 1))));
  return { nchunks: Math.ceil(n / planes), segs: 1, segLen: hw, planes, wg, lanes };
}

function chunkParams(n: number, c: number, hw: number, k: BnChunking): number[] {
  return [n, c, hw, k.nchunks, k.segs, k.segLen, k.planes, 0];
}

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
  if (mode === "sum") return channelTotals(x, n, c, hw);
  const nchunks = Math.min(Math.ceil(len / CHUNK), 1024);
  const chunk = Math.ceil(len / nchunks);
  const part = gpu.empty([c * nchunks], "f32", "channel_sums_part");
  const code = mode === "centeredSquares" ? 1 : 2;
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

/**
 * Σx per channel with the BatchNorm chunking (few large workgroups of serial sums on a software
 * adapter, no per-element division): one pass, plus a row reduction when a channel spans several
 * chunks.
 */
function channelTotals(x: RawTensor, n: number, c: number, hw: number): RawTensor {
  const gpu = getGpu();
  const k = bnChunking(n, hw, gpu.info.isFallbackAdapter);
  const part = gpu.empty([c * k.nchunks], "f32", "channel_sums_part");
  const spare = gpu.empty([1], "i32", "channel_sums_unused");
  gpu.dispatch(BATCH_NORM_MOMENTS, {
    bindings: [x, x, x, part, x, spare],
    params: chunkParams(n, c, hw, k),
    overrides: { MODE: 2, WG: k.wg, LANES: k.lanes, HAS_COUNT: 0 },
    workgroups: [k.nchunks, c, 1],
  });
  spare.release();
  if (k.nchunks === 1) {
    const r = gpu.view(part, [c]);
    part.release();
    return r;
  }
  const r = reduceRows(part, c, k.nchunks, "sum");
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
  /** The module's `num_batches_tracked` (one i32): incremented on the GPU in training mode. */
  numBatchesTracked?: RawTensor;
  /** Added before the activation, x's shape (needs {@linkcode canFuseResidual}). */
  residual?: RawTensor | null;
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
  const hw = shapeSize(x.shape.slice(2));
  const k = bnChunking(n, hw, gpu.info.isFallbackAdapter);
  const grid: [number, number, number] = [k.nchunks, c, 1];
  const saved = gpu.empty([4, c], "f32", "batch_norm_saved");
  let part: RawTensor | null = null;
  if (opts.training) {
    if (count <= 1) {
      throw new RangeError(
        `Cannot run batchNorm2d in training mode on input ${
          fmtShape(x.shape)
        }: expected more than 1 value per channel`,
      );
    }
    const nbt = opts.numBatchesTracked ?? null;
    if (nbt && (nbt.dtype !== "i32" || nbt.size !== 1)) {
      throw new TypeError(
        `Cannot run batchNorm2d: num_batches_tracked has shape ${
          fmtShape(nbt.shape)
        } ${nbt.dtype}, expected one i32`,
      );
    }
    part = gpu.empty([c * k.nchunks * 3], "f32", "bn_moments");
    gpu.dispatch(BATCH_NORM_MOMENTS, {
      bindings: [x, x, x, part, x, nbt ?? saved],
      params: chunkParams(n, c, hw, k),
      overrides: { MODE: 0, WG: k.wg, LANES: k.lanes, HAS_COUNT: nbt ? 1 : 0 },
      workgroups: grid,
    });
  }
  const y = gpu.empty(x.shape, "f32", "batch_norm");
  const res = opts.residual ?? null;
  if (res && (res.size !== x.size || res.dtype !== "f32" || !canFuseResidual())) {
    throw new TypeError(
      `Cannot add residual ${fmtShape(res.shape)} in batchNorm2d on input ${
        fmtShape(x.shape)
      }: expected an f32 tensor of the input's shape on a device with 9 storage buffers per stage`,
    );
  }
  gpu.dispatch(res ? BATCH_NORM_APPLY_RESIDUAL : BATCH_NORM_APPLY, {
    bindings: res
      ? [x, part ?? x, weight ?? x, bias ?? x, res, runningMean, runningVar, saved, y]
      : [x, part ?? x, weight ?? x, bias ?? x, runningMean, runningVar, saved, y],
    params: [...chunkParams(n, c, hw, k), opts.eps ?? 1e-5, opts.momentum ?? 0.1, 0, 0],
    overrides: {
      MODE: opts.training ? 0 : 1,
      WG: k.wg,
      HAS_W: weight ? 1 : 0,
      HAS_B: bias ? 1 : 0,
      RELU: opts.act === "relu" ? 1 : 0,
    },
    workgroups: grid,
  });
  part?.release();
  return { y, saved };
}

/** The gradients of {@linkcode batchNormBackward}; null where not requested. */
export interface BatchNormGrads {
  dx: RawTensor | null;
  dw: RawTensor | null;
  db: RawTensor | null;
}

/**
 * BatchNorm backward from the output gradient `dy`, the input `x` and the forward's `saved` rows
 * (its scale row is weight·invstd, so the weight itself is not read). `training` must match the
 * forward. With `reluOut`, the output of a forward with a fused ReLU, `dy` is masked by
 * `reluOut > 0` inside both passes (no separate ReLU-gradient pass).
 */
export function batchNormBackward(
  dy: RawTensor,
  x: RawTensor,
  saved: RawTensor,
  opts: {
    training: boolean;
    needDx?: boolean;
    needDw?: boolean;
    needDb?: boolean;
    reluOut?: RawTensor | null;
  },
): BatchNormGrads {
  const gpu = getGpu();
  const [n, c] = x.shape;
  const count = x.size / c;
  const hw = shapeSize(x.shape.slice(2));
  const k = bnChunking(n, hw, gpu.info.isFallbackAdapter);
  const grid: [number, number, number] = [k.nchunks, c, 1];
  const needDx = opts.needDx ?? true;
  const part = gpu.empty([c * k.nchunks * 2], "f32", "bn_grad_moments");
  const relu = opts.reluOut ?? null;
  // placeholders for bindings a mode does not use (never written: their constants are off)
  const spares: RawTensor[] = [];
  const spare = () => {
    const t = gpu.empty([1], "i32", "bn_unused");
    spares.push(t);
    return t;
  };
  gpu.dispatch(BATCH_NORM_MOMENTS, {
    bindings: [x, dy, saved, part, relu ?? x, spare()],
    params: chunkParams(n, c, hw, k),
    overrides: { MODE: 1, WG: k.wg, LANES: k.lanes, HAS_COUNT: 0, RELU: relu ? 1 : 0 },
    workgroups: grid,
  });
  const dx = needDx ? gpu.empty(x.shape, "f32", "bn_dx") : null;
  const dw = opts.needDw ? gpu.empty([c], "f32", "bn_dw") : null;
  const db = opts.needDb ? gpu.empty([c], "f32", "bn_db") : null;
  gpu.dispatch(BATCH_NORM_BACKWARD, {
    bindings: [dy, x, saved, relu ?? x, part, dx ?? spare(), dw ?? spare(), db ?? spare()],
    params: [...chunkParams(n, c, hw, k), count, 0, 0, 0],
    overrides: {
      WG: k.wg,
      TRAIN: opts.training ? 1 : 0,
      RELU: relu ? 1 : 0,
      NEED_DX: needDx ? 1 : 0,
      NEED_DW: dw ? 1 : 0,
      NEED_DB: db ? 1 : 0,
    },
    // only the chunk-0 workgroups have work when dx is not needed
    workgroups: [needDx ? k.nchunks : 1, c, 1],
  });
  for (const t of spares) t.release();
  part.release();
  return { dx, dw, db };
}
