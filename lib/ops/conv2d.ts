/**
 * 2-D convolution (NCHW activations, OIHW weights, as PyTorch) as GEMMs, in two kernel families:
 *
 * - `kernels/conv2d.wgsl` — implicit GEMM with workgroup-memory tiles and register blocking (GPUs):
 *   the forward pass with a fused epilogue (bias, per-channel scale/shift, ReLU), the input
 *   gradient (backward data) and the weight gradient (backward filter), with split-K partial sums
 *   reduced by `conv2d_epilogue.wgsl` instead of float atomics;
 * - `kernels/direct/conv2d_direct*.wgsl` — register-blocked "direct" kernels for CPU adapters such as
 *   lavapipe, where every load is a per-lane gather: TN columns × TM channels per thread, the A
 *   operand read from 64 KiB uniform windows (copied or packed by `conv2d_pack.wgsl`) or from its
 *   own storage buffer for small problems, rows of 3 taps sharing their loads, stride phases of
 *   the input gradient visited separately so that no zero tap is multiplied.
 *
 * A variant is chosen per shape class: tuned on the adapter at hand ({@linkcode tuneConv2d}, the
 * choice kept by `tuning.ts`) or, if not tuned, by a size heuristic. Every variant passes the same
 * tests. {@linkcode gemm} runs plain matrix products through the same kernels.
 *
 * The code is split by concern: `conv2d_geometry.ts` (shapes and the GEMM of each pass),
 * `conv2d_variants.ts` (the kernels, their variants and the choice among them) and
 * `conv2d_direct.ts` (the direct kernels' path); this module runs the tiled GEMM and the
 * epilogue, holds the public functions and re-exports the public parts of the others.
 *
 * @module
 */
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor, shapeSize } from "../gpu/raw_tensor.ts";
import { tune } from "./tuning.ts";
import {
  checkBindingSize,
  type Conv2dGeometry,
  conv2dGeometry,
  type ConvGeometry,
  type ConvMode,
  type Gemm,
  gemmOf,
  geometryParams,
  isPointwise,
  MODE_CODE,
} from "./conv2d_geometry.ts";
import {
  CONV2D_EPILOGUE,
  conv2dTuningKey,
  defaultCandidates,
  defaultTiled,
  pickVariant,
  variantApplies,
  variantNamed,
} from "./conv2d_variants.ts";
import { type EpilogueArgs, runDirect } from "./conv2d_direct.ts";

export {
  checkBindingSize,
  type Conv2dGeometry,
  conv2dGeometry,
  type ConvGeometry,
  type ConvMode,
} from "./conv2d_geometry.ts";
export {
  CONV2D,
  CONV2D_EPILOGUE,
  CONV2D_PACK,
  CONV2D_TILED_128,
  CONV2D_TILED_64,
  CONV2D_VARIANTS,
  conv2dTuningKey,
  type ConvVariant,
  defaultCandidates,
  defaultVariant,
  directKernel,
  type DirectKernelName,
  variantApplies,
} from "./conv2d_variants.ts";

/** Options of {@linkcode conv2dForward}. */
export interface Conv2dForwardOptions extends Conv2dGeometry {
  /** Fused activation (default "none"). */
  act?: "none" | "relu";
  /** Fused per-channel scale applied after the bias (a frozen BatchNorm): y = (conv + b)·scale + shift. */
  scale?: RawTensor | null;
  /** Fused per-channel shift (with `scale`). */
  shift?: RawTensor | null;
  /** Force a tile variant (a key of {@linkcode CONV2D_VARIANTS}); tests use it. */
  variant?: string;
  /** Force the number of K splits (default: chosen by size). */
  splits?: number;
}

/** Options of the backward functions. */
export interface Conv2dBackwardOptions extends Conv2dGeometry {
  variant?: string;
  splits?: number;
}

/** Number of K splits: enough workgroups to fill the adapter, at least `minK` of K per split. */
function chooseSplits(gm: Gemm, tiles: number, mode: ConvMode): number {
  const target = getGpu().info.isFallbackAdapter ? 4 : 512;
  const minK = mode === "backwardFilter" ? 256 : 512;
  if (tiles >= target) return 1;
  return Math.max(1, Math.min(Math.floor(gm.k / minK), Math.ceil(target / tiles), 64));
}

function runGemm(
  mode: ConvMode,
  g: ConvGeometry,
  a: RawTensor,
  b: RawTensor,
  outShape: number[],
  channels: number,
  inner: number,
  ep: EpilogueArgs,
  opts: { variant?: string; splits?: number },
): RawTensor {
  checkBindingSize(`conv2d (${mode})`, "output", outShape);
  const v = pickVariant(g, mode, opts.variant);
  if (v.kind === "direct") {
    const r = runDirect(mode, g, a, b, outShape, ep, v);
    if (r) return r;
    // the windows would not fit one storage binding: the tiled kernel needs no staging
    return runGemm(mode, g, a, b, outShape, channels, inner, ep, {
      ...opts,
      variant: defaultTiled(g, mode),
    });
  }
  const gpu = getGpu();
  const gm = gemmOf(g, mode);
  const { WM, WN, TM, TN, BK } = v.overrides;
  const tilesN = Math.ceil(gm.n / (WN * TN)), tilesM = Math.ceil(gm.m / (WM * TM));
  const tiles = tilesN * tilesM * g.groups;
  let splits = Math.max(1, Math.min(opts.splits ?? chooseSplits(gm, tiles, mode), gm.k));
  const ksplit = Math.ceil(Math.ceil(gm.k / splits) / BK) * BK;
  splits = Math.ceil(gm.k / ksplit);
  const total = shapeSize(outShape);
  if (splits > 1) {
    checkBindingSize(`conv2d (${mode})`, "split-K partial sums", [splits, ...outShape]);
  }
  const out = gpu.empty(outShape, "f32", `conv2d_${mode}`);
  const hasEp = !!(ep.bias || ep.scale || ep.relu);
  const dst = splits > 1 ? gpu.empty([splits * total], "f32", "conv2d_partial") : out;
  const dummy = a;
  gpu.dispatch(v.spec, {
    bindings: [
      a,
      b,
      splits > 1 ? dummy : ep.bias ?? dummy,
      splits > 1 ? dummy : ep.scale ?? dummy,
      splits > 1 ? dummy : ep.shift ?? dummy,
      dst,
    ],
    params: [
      ...geometryParams(g),
      g.groups,
      g.cin / g.groups,
      g.cout / g.groups,
      gm.m,
      gm.n,
      gm.k,
      ksplit,
      splits,
      tilesN,
      tilesM,
      total,
      0,
      0,
    ],
    overrides: {
      MODE: MODE_CODE[mode],
      ...(v.fixed ? {} : v.overrides),
      BIAS: splits === 1 && ep.bias ? 1 : 0,
      AFFINE: splits === 1 && ep.scale ? 1 : 0,
      RELU: splits === 1 && ep.relu ? 1 : 0,
      POINTWISE: mode === "forward" && isPointwise(g) ? 1 : 0,
    },
    workgroups: tiles * splits,
  });
  if (splits > 1) {
    epilogue(dst, out, splits, inner, channels, hasEp ? ep : {});
    dst.release();
  }
  return out;
}

function epilogue(
  src: RawTensor,
  out: RawTensor,
  splits: number,
  inner: number,
  channels: number,
  ep: EpilogueArgs,
): void {
  const dummy = src;
  getGpu().dispatch(CONV2D_EPILOGUE, {
    bindings: [src, ep.bias ?? dummy, ep.scale ?? dummy, ep.shift ?? dummy, out],
    params: [out.size, splits, inner, channels],
    overrides: {
      BIAS: ep.bias ? 1 : 0,
      SCALE: ep.scale ? 1 : 0,
      SHIFT: ep.shift ? 1 : 0,
      RELU: ep.relu ? 1 : 0,
    },
    workgroups: Math.ceil(out.size / 256),
  });
}

function checkVector(t: RawTensor | null | undefined, n: number, what: string, op: string): void {
  if (!t) return;
  if (t.dtype !== "f32" || t.size !== n || t.shape.length !== 1) {
    throw new TypeError(
      `Cannot run ${op}: ${what} has shape ${fmtShape(t.shape)} (${t.dtype}), expected [${n}] f32`,
    );
  }
}

function checkF32(t: RawTensor, what: string, op: string): void {
  if (t.dtype !== "f32") {
    throw new TypeError(
      `Cannot run ${op}: ${what} "${t.label}" has dtype ${t.dtype}, expected f32`,
    );
  }
}

/**
 * `y = act((conv(x, w) + bias)·scale + shift)`: x [N, Cin, H, W], w [Cout, Cin/groups, KH, KW],
 * bias/scale/shift [Cout] (each optional; shift requires scale). Returns [N, Cout, OH, OW].
 */
export function conv2dForward(
  x: RawTensor,
  w: RawTensor,
  bias: RawTensor | null,
  opts: Conv2dForwardOptions = {},
): RawTensor {
  const g = conv2dGeometry(x.shape, w.shape, opts);
  checkF32(x, "input", "conv2d");
  checkF32(w, "weight", "conv2d");
  checkVector(bias, g.cout, "bias", "conv2d");
  checkVector(opts.scale, g.cout, "scale", "conv2d");
  checkVector(opts.shift, g.cout, "shift", "conv2d");
  if (!!opts.scale !== !!opts.shift) {
    throw new TypeError(
      "Cannot run conv2d with only one of scale and shift: pass both (a zero shift or unit scale if needed)",
    );
  }
  checkBindingSize("conv2d", "input", x.shape);
  checkBindingSize("conv2d", "weight", w.shape);
  const outShape = [g.batch, g.cout, g.oh, g.ow];
  return runGemm("forward", g, w, x, outShape, g.cout, g.oh * g.ow, {
    bias,
    scale: opts.scale,
    shift: opts.shift,
    relu: opts.act === "relu",
  }, opts);
}

/**
 * The gradient of a convolution with respect to its input: `dy` [N, Cout, OH, OW], `w` the
 * weights, `xShape` the input's shape. Returns dx of shape `xShape`.
 */
export function conv2dBackwardData(
  dy: RawTensor,
  w: RawTensor,
  xShape: readonly number[],
  opts: Conv2dBackwardOptions = {},
): RawTensor {
  const g = conv2dGeometry(xShape, w.shape, opts);
  checkOutGrad(dy, g);
  return runGemm("backwardData", g, w, dy, [...xShape], g.cin, g.h * g.w, {}, opts);
}

/**
 * The gradient of a convolution with respect to its weights: `dy` [N, Cout, OH, OW], `x` the
 * input, `wShape` the weights' shape. Returns dw of shape `wShape`, reduced over N·OH·OW with
 * split-K partial sums and a second pass.
 */
export function conv2dBackwardFilter(
  dy: RawTensor,
  x: RawTensor,
  wShape: readonly number[],
  opts: Conv2dBackwardOptions = {},
): RawTensor {
  const g = conv2dGeometry(x.shape, wShape, opts);
  checkOutGrad(dy, g);
  checkF32(x, "input", "conv2d backward filter");
  const khw = g.kh * g.kw;
  return runGemm(
    "backwardFilter",
    g,
    dy,
    x,
    [...wShape],
    g.cout,
    (g.cin / g.groups) * khw,
    {},
    opts,
  );
}

function checkOutGrad(dy: RawTensor, g: ConvGeometry): void {
  const want = [g.batch, g.cout, g.oh, g.ow];
  if (dy.shape.length !== 4 || dy.shape.some((d, i) => d !== want[i])) {
    throw new TypeError(
      `Cannot run the conv2d backward pass: the output gradient has shape ${
        fmtShape(dy.shape)
      }, expected ${fmtShape(want)}`,
    );
  }
  checkF32(dy, "output gradient", "conv2d backward");
}

/** Options of {@linkcode channelAffine}. */
export interface ChannelAffineOptions {
  /** Added before scaling. */
  bias?: RawTensor | null;
  act?: "none" | "relu";
}

/**
 * `y = act((x + bias[c])·scale[c] + shift[c])` over an NCHW (or [N, C, …]) tensor; `scale` and
 * `shift` may be null (1 and 0). The frozen-BatchNorm evaluation path.
 */
export function channelAffine(
  x: RawTensor,
  scale: RawTensor | null,
  shift: RawTensor | null,
  opts: ChannelAffineOptions = {},
): RawTensor {
  if (x.shape.length < 2) {
    throw new TypeError(
      `Cannot apply a per-channel affine to ${fmtShape(x.shape)}: expected [N, C, ...]`,
    );
  }
  checkF32(x, "input", "channelAffine");
  const c = x.shape[1];
  checkVector(scale, c, "scale", "channelAffine");
  checkVector(shift, c, "shift", "channelAffine");
  checkVector(opts.bias, c, "bias", "channelAffine");
  const out = getGpu().empty(x.shape, "f32", "channel_affine");
  epilogue(x, out, 1, shapeSize(x.shape.slice(2)), c, {
    bias: opts.bias,
    scale,
    shift,
    relu: opts.act === "relu",
  });
  return out;
}

/** Options of {@linkcode tuneConv2d}. */
export interface TuneConv2dOptions extends Conv2dGeometry {
  /** Which passes to tune (default all three). */
  modes?: ConvMode[];
  /** Candidate variants (default: the direct ones on a CPU adapter, the tiled ones otherwise). */
  candidates?: string[];
  /** Minimum ms of one timed batch (see `tune`). */
  minBatchMs?: number;
}

/**
 * Benchmarks every candidate tile variant for the shape class of `xShape` × `wShape` on the
 * current adapter and records the fastest (for each pass). Returns the timings in ms.
 */
export async function tuneConv2d(
  xShape: readonly number[],
  wShape: readonly number[],
  opts: TuneConv2dOptions = {},
): Promise<Record<string, { best: string; ms: Record<string, number> }>> {
  const gpu = getGpu();
  const g = conv2dGeometry(xShape, wShape, opts);
  const geo: Conv2dGeometry = {
    stride: [g.sh, g.sw],
    padding: [g.ph, g.pw],
    dilation: [g.dh, g.dw],
    groups: g.groups,
  };
  const x = gpu.upload(randomData(shapeSize(xShape)), xShape, "f32", "tune_x");
  const w = gpu.upload(randomData(shapeSize(wShape)), wShape, "f32", "tune_w");
  const dy = gpu.upload(
    randomData(g.batch * g.cout * g.oh * g.ow),
    [g.batch, g.cout, g.oh, g.ow],
    "f32",
    "tune_dy",
  );
  const res: Record<string, { best: string; ms: Record<string, number> }> = {};
  try {
    for (const mode of opts.modes ?? ["forward", "backwardData", "backwardFilter"] as ConvMode[]) {
      const cands = (opts.candidates ?? defaultCandidates()).filter((c) =>
        variantApplies(variantNamed(c, "tune"), g, mode)
      );
      if (cands.length === 0) continue;
      res[mode] = await tune(conv2dTuningKey(g, mode), cands, (variant) => {
        const o = { ...geo, variant };
        const r = mode === "forward"
          ? conv2dForward(x, w, null, o)
          : mode === "backwardData"
          ? conv2dBackwardData(dy, w, xShape, o)
          : conv2dBackwardFilter(dy, x, wShape, o);
        r.release();
      }, { minBatchMs: opts.minBatchMs });
    }
  } finally {
    x.release();
    w.release();
    dy.release();
  }
  return res;
}

function randomData(n: number): Float32Array {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = (s / 4294967296) * 2 - 1;
  }
  return a;
}

/**
 * `C = A · B` for row-major f32 matrices A [M, K] and B [K, N] as a 1×1 convolution over a 1×N
 * "image" with K channels (views, no copies): the direct kernels on a CPU adapter, the tiled
 * pointwise path on GPUs; tuned like any convolution. Returns C [M, N].
 */
export function gemm(a: RawTensor, b: RawTensor, opts: { variant?: string } = {}): RawTensor {
  if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[1] !== b.shape[0]) {
    throw new TypeError(
      `Cannot multiply ${fmtShape(a.shape)} by ${fmtShape(b.shape)}: expected [M, K] and [K, N]`,
    );
  }
  const [m, k] = a.shape, n = b.shape[1];
  if (m === 0 || n === 0) return getGpu().zeros([m, n], "f32", "gemm");
  if (k === 0) return getGpu().zeros([m, n], "f32", "gemm");
  const gpu = getGpu();
  const x = gpu.view(b, [1, k, 1, n]), w = gpu.view(a, [m, k, 1, 1]);
  const y = conv2dForward(x, w, null, { variant: opts.variant });
  const c = gpu.view(y, [m, n], "gemm");
  for (const t of [x, w, y]) t.release();
  return c;
}
