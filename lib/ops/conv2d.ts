/**
 * 2-D convolution (NCHW activations, OIHW weights, as PyTorch) as GEMMs, in two kernel families:
 *
 * - `kernels/conv2d.wgsl` — implicit GEMM with workgroup-memory tiles and register blocking (GPUs):
 *   the forward pass with a fused epilogue (bias, per-channel scale/shift, ReLU), the input
 *   gradient (backward data) and the weight gradient (backward filter), with split-K partial sums
 *   reduced by `conv2d_epilogue.wgsl` instead of float atomics;
 * - `kernels/conv2d_direct*.wgsl` — register-blocked "direct" kernels for CPU adapters such as
 *   lavapipe, where every load is a per-lane gather: TN columns × TM channels per thread, the A
 *   operand read from 64 KiB uniform windows (copied or packed by `conv2d_pack.wgsl`) or from its
 *   own storage buffer for small problems, rows of 3 taps sharing their loads, stride phases of
 *   the input gradient visited separately so that no zero tap is multiplied.
 *
 * A variant is chosen per shape class: tuned on the adapter at hand ({@linkcode tuneConv2d}, the
 * choice kept by `tuning.ts`) or, if not tuned, by a size heuristic. Every variant passes the same
 * tests. {@linkcode gemm} runs plain matrix products through the same kernels.
 *
 * @module
 */
import convSrc from "../../kernels/conv2d.wgsl" with { type: "text" };
import epilogueSrc from "../../kernels/conv2d_epilogue.wgsl" with { type: "text" };
import directSrc from "../../kernels/conv2d_direct.wgsl" with { type: "text" };
import directDataSrc from "../../kernels/conv2d_direct_backward_data.wgsl" with { type: "text" };
import directFilterSrc from "../../kernels/conv2d_direct_backward_filter.wgsl" with {
  type: "text",
};
import packSrc from "../../kernels/conv2d_pack.wgsl" with { type: "text" };
import tiled64Src from "../../kernels/conv2d_tiled_64x64.wgsl" with { type: "text" };
import tiled128Src from "../../kernels/conv2d_tiled_128x128.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu, type Gpu } from "../gpu/runtime.ts";
import { fmtShape, RawTensor, shapeSize } from "../gpu/raw_tensor.ts";
import { PooledBuffer } from "../gpu/pool.ts";
import { sizeBucket, tune, tunedChoice, tuningKey } from "./tuning.ts";

/** `kernels/conv2d.wgsl`. */
export const CONV2D: KernelSpec = { name: "conv2d", source: convSrc, params: "u".repeat(28) };
/** `kernels/conv2d_epilogue.wgsl`. */
export const CONV2D_EPILOGUE: KernelSpec = {
  name: "conv2d_epilogue",
  source: epilogueSrc,
  params: "uuuu",
};

/** `kernels/conv2d_direct.wgsl` (forward). */
export const CONV2D_DIRECT: KernelSpec = {
  name: "conv2d_direct",
  source: directSrc,
  params: "u".repeat(36) + "iiuu",
};
/** `kernels/conv2d_direct_backward_data.wgsl`. */
export const CONV2D_DIRECT_BACKWARD_DATA: KernelSpec = {
  name: "conv2d_direct_backward_data",
  source: directDataSrc,
  params: "u".repeat(36) + "iiuu",
};
/** `kernels/conv2d_direct_backward_filter.wgsl`. */
export const CONV2D_DIRECT_BACKWARD_FILTER: KernelSpec = {
  name: "conv2d_direct_backward_filter",
  source: directFilterSrc,
  params: "u".repeat(36) + "iiuu",
};
/** `kernels/conv2d_tiled_64x64.wgsl` (unrolled 64×64 tiles). */
export const CONV2D_TILED_64: KernelSpec = {
  name: "conv2d_tiled_64x64",
  source: tiled64Src,
  params: "u".repeat(28),
};
/** `kernels/conv2d_tiled_128x128.wgsl` (unrolled 128×128 tiles). */
export const CONV2D_TILED_128: KernelSpec = {
  name: "conv2d_tiled_128x128",
  source: tiled128Src,
  params: "u".repeat(28),
};
/** `kernels/conv2d_pack.wgsl`. */
export const CONV2D_PACK: KernelSpec = {
  name: "conv2d_pack",
  source: packSrc,
  params: "u".repeat(12),
};

/**
 * A variant of the convolution kernels:
 * - `tiled`: the implicit GEMM of `conv2d.wgsl`, workgroup-memory tiles of (WM·TM)×(WN·TN), K-slices
 *   of BK (GPUs);
 * - `direct`: `conv2d_direct*.wgsl`, TN columns × TM channels per thread from registers, the A
 *   operand in uniform-buffer windows, no workgroup memory (CPU adapters such as lavapipe, where
 *   every load is a per-lane gather). Only for groups = 1 (and, for the input gradient, dilation 1
 *   along a strided axis); other shapes use the size heuristic's tiled variant.
 */
export type ConvVariant =
  | {
    kind: "tiled";
    spec: KernelSpec;
    overrides: { WM: number; WN: number; TM: number; TN: number; BK: number };
    /** The tile is fixed in the kernel (unrolled files): the sizes are not passed as overrides. */
    fixed?: boolean;
  }
  | { kind: "direct"; tn: 4 | 8 | 16; tm: 8 | 16; wg: number; mfast?: boolean; ssbo?: boolean };

function tiled(WM: number, WN: number, TM: number, TN: number, BK: number): ConvVariant {
  return { kind: "tiled", spec: CONV2D, overrides: { WM, WN, TM, TN, BK } };
}

/**
 * The variants, by name: `t{BM}x{BN}r{TM}x{TN}k{BK}` (tiled; each satisfies the kernel's
 * constraints), `u…` (tiled with the tile loops unrolled, for GPUs) and `d{TN}x{TM}w{WG}` (direct). All pass the same tests.
 */
export const CONV2D_VARIANTS: Readonly<Record<string, ConvVariant>> = {
  t64x64r4x4k16: tiled(16, 16, 4, 4, 16),
  t64x64r8x8k8: tiled(8, 8, 8, 8, 8),
  t128x64r8x4k8: tiled(16, 16, 8, 4, 8),
  t32x32r2x2k16: tiled(16, 16, 2, 2, 16),
  t32x32r4x4k8: tiled(8, 8, 4, 4, 8),
  t16x64r1x4k16: tiled(16, 16, 1, 4, 16),
  t8x128r1x8k16: tiled(8, 16, 1, 8, 16),
  u64x64r4x4k16: {
    kind: "tiled",
    spec: CONV2D_TILED_64,
    overrides: { WM: 16, WN: 16, TM: 4, TN: 4, BK: 16 },
    fixed: true,
  },
  u128x128r8x8k16: {
    kind: "tiled",
    spec: CONV2D_TILED_128,
    overrides: { WM: 16, WN: 16, TM: 8, TN: 8, BK: 16 },
    fixed: true,
  },
  d8x8w64: { kind: "direct", tn: 8, tm: 8, wg: 64 },
  d8x8w32: { kind: "direct", tn: 8, tm: 8, wg: 32 },
  d16x8w64: { kind: "direct", tn: 16, tm: 8, wg: 64 },
  d4x16w64: { kind: "direct", tn: 4, tm: 16, wg: 64 },
  d4x8w16: { kind: "direct", tn: 4, tm: 8, wg: 16 },
  d4x8w16m: { kind: "direct", tn: 4, tm: 8, wg: 16, mfast: true },
  d8x8w32m: { kind: "direct", tn: 8, tm: 8, wg: 32, mfast: true },
  d8x8w64m: { kind: "direct", tn: 8, tm: 8, wg: 64, mfast: true },
  d8x16w32m: { kind: "direct", tn: 8, tm: 16, wg: 32, mfast: true },
  d4x16w32ms: { kind: "direct", tn: 4, tm: 16, wg: 32, mfast: true, ssbo: true },
  d4x8w16ms: { kind: "direct", tn: 4, tm: 8, wg: 16, mfast: true, ssbo: true },
  d8x8w32ms: { kind: "direct", tn: 8, tm: 8, wg: 32, mfast: true, ssbo: true },
};

/** Which GEMM of the convolution. */
export type ConvMode = "forward" | "backwardData" | "backwardFilter";
const MODE_CODE: Record<ConvMode, number> = { forward: 0, backwardData: 1, backwardFilter: 2 };

/** Geometry options shared by the forward and backward functions. */
export interface Conv2dGeometry {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

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

/** Normalised geometry of one convolution. */
export interface ConvGeometry {
  batch: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
  groups: number;
}

function pair(
  v: number | [number, number] | undefined,
  def: number,
  what: string,
): [number, number] {
  const p: [number, number] = v === undefined
    ? [def, def]
    : typeof v === "number"
    ? [v, v]
    : [v[0], v[1]];
  for (const x of p) {
    if (!Number.isInteger(x) || x < (what === "padding" ? 0 : 1)) {
      throw new RangeError(
        `Cannot run conv2d with ${what} ${JSON.stringify(v)}: expected ${
          what === "padding" ? "non-negative" : "positive"
        } integers`,
      );
    }
  }
  return p;
}

/**
 * Checks the shapes of a convolution of input `xShape` with weights `wShape` and returns its
 * geometry, or throws: `TypeError` for mismatched ranks or channels (naming both shapes),
 * `RangeError` for an empty batch, bad options, or an output that is empty.
 */
export function conv2dGeometry(
  xShape: readonly number[],
  wShape: readonly number[],
  opts: Conv2dGeometry = {},
): ConvGeometry {
  if (xShape.length !== 4 || wShape.length !== 4) {
    throw new TypeError(
      `Cannot run conv2d on input ${fmtShape(xShape)} with weight ${
        fmtShape(wShape)
      }: both must have rank 4 (NCHW input, OIHW weight)`,
    );
  }
  const [batch, cin, h, w] = xShape;
  const [cout, cinG, kh, kw] = wShape;
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) {
    throw new RangeError(`Cannot run conv2d with groups ${groups}: expected a positive integer`);
  }
  if (batch === 0) {
    throw new RangeError(
      `Cannot run conv2d on an empty batch: input ${
        fmtShape(xShape)
      } has batch size 0; skip the call for empty batches`,
    );
  }
  if (cinG * groups !== cin || cin === 0) {
    throw new TypeError(
      `Cannot run conv2d on input ${fmtShape(xShape)} with weight ${
        fmtShape(wShape)
      }: the input has ${cin} channels but the weight expects ${cinG}×${groups} (groups ${groups})`,
    );
  }
  if (cout === 0 || cout % groups !== 0) {
    throw new TypeError(
      `Cannot run conv2d with weight ${
        fmtShape(wShape)
      }: ${cout} output channels are not a positive multiple of groups ${groups}`,
    );
  }
  if (kh === 0 || kw === 0) {
    throw new TypeError(`Cannot run conv2d with weight ${fmtShape(wShape)}: the kernel is empty`);
  }
  const [sh, sw] = pair(opts.stride, 1, "stride");
  const [ph, pw] = pair(opts.padding, 0, "padding");
  const [dh, dw] = pair(opts.dilation, 1, "dilation");
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (oh <= 0 || ow <= 0) {
    throw new RangeError(
      `Cannot run conv2d on input ${fmtShape(xShape)} with weight ${
        fmtShape(wShape)
      }: the output would be ${oh}×${ow}; the input is smaller than the dilated kernel — add padding or use a larger input`,
    );
  }
  return { batch, cin, h, w, cout, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, groups };
}

/** Throws a clear `RangeError` when a tensor of `elements` f32 values cannot be one storage binding. */
export function checkBindingSize(
  op: string,
  what: string,
  shape: readonly number[],
  elements = shapeSize(shape),
): void {
  const lim = getGpu().info.limits.maxStorageBufferBindingSize;
  const bytes = elements * 4;
  if (bytes > lim) {
    throw new RangeError(
      `Cannot run ${op}: the ${what} ${
        fmtShape(shape)
      } needs ${bytes} bytes, more than the adapter's maxStorageBufferBindingSize of ${lim} bytes: reduce the batch size or the input resolution`,
    );
  }
}

interface Gemm {
  m: number;
  n: number;
  k: number;
}

function gemmOf(g: ConvGeometry, mode: ConvMode): Gemm {
  const cinG = g.cin / g.groups, coutG = g.cout / g.groups, khw = g.kh * g.kw;
  if (mode === "forward") return { m: coutG, n: g.batch * g.oh * g.ow, k: cinG * khw };
  if (mode === "backwardData") return { m: cinG, n: g.batch * g.h * g.w, k: coutG * khw };
  return { m: coutG, n: cinG * khw, k: g.batch * g.oh * g.ow };
}

function isPointwise(g: ConvGeometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.ph === 0 && g.pw === 0;
}

/** The tuning key of a convolution's shape class. */
export function conv2dTuningKey(g: ConvGeometry, mode: ConvMode): string {
  const { m, n, k } = gemmOf(g, mode);
  return tuningKey(`conv2d.${mode}`, [
    `k${g.kh}x${g.kw}s${g.sh}x${g.sw}d${g.dh}x${g.dw}g${g.groups}`,
    `M${sizeBucket(m)}`,
    `N${sizeBucket(n)}`,
    `K${sizeBucket(k)}`,
  ]);
}

/** Whether a variant can run a convolution (direct kernels: groups 1, see {@linkcode ConvVariant}). */
export function variantApplies(v: ConvVariant, g: ConvGeometry, mode: ConvMode): boolean {
  if (v.kind === "tiled") return true;
  if (g.groups !== 1) return false;
  if (mode === "backwardData") return (g.sh === 1 || g.dh === 1) && (g.sw === 1 || g.dw === 1);
  return true;
}

/** Column threads of one direct-kernel dispatch with `tn` columns per thread. */
function directColumnThreads(g: ConvGeometry, mode: ConvMode, tn: number): number {
  if (mode === "forward") return g.batch * g.oh * Math.ceil(g.ow / tn);
  if (mode === "backwardData") {
    return g.batch * Math.ceil(g.h / g.sh) * Math.ceil(Math.ceil(g.w / g.sw) / tn);
  }
  return Math.ceil(((g.cin / g.groups) * g.kh * g.kw) / tn);
}

/** The size heuristic used when a shape class was not tuned. */
export function defaultVariant(g: ConvGeometry, mode: ConvMode): string {
  if (getGpu().info.isFallbackAdapter && variantApplies(CONV2D_VARIANTS.d8x8w64, g, mode)) {
    // CPU adapter: registers, not workgroup memory. Lanes = column threads × channel tiles; small
    // problems read A from storage in one dispatch (per-dispatch costs dominate them).
    const { m, n, k } = gemmOf(g, mode);
    const lanes = directColumnThreads(g, mode, 8) * Math.ceil(m / 8);
    if (m * n * k < 1 << 21) return lanes >= 256 ? "d8x8w32ms" : "d4x8w16ms";
    return lanes >= 2048 ? "d8x8w64m" : lanes >= 256 ? "d8x8w32m" : "d4x8w16m";
  }
  return defaultTiled(g, mode);
}

function pickVariant(g: ConvGeometry, mode: ConvMode, forced?: string): ConvVariant {
  const name = forced ?? tunedChoice(conv2dTuningKey(g, mode)) ?? defaultVariant(g, mode);
  const v = CONV2D_VARIANTS[name];
  if (!v) {
    throw new RangeError(
      `Cannot run conv2d with variant "${name}": expected one of ${
        Object.keys(CONV2D_VARIANTS).join(", ")
      }`,
    );
  }
  if (!variantApplies(v, g, mode)) {
    const d = CONV2D_VARIANTS[defaultVariant(g, mode)];
    return variantApplies(d, g, mode) ? d : CONV2D_VARIANTS[defaultTiled(g, mode)];
  }
  return v;
}

function defaultTiled(g: ConvGeometry, mode: ConvMode): string {
  const { m, n } = gemmOf(g, mode);
  if (m <= 8 && n >= 128) return "t8x128r1x8k16";
  if (m <= 16) return "t16x64r1x4k16";
  if (m <= 32 || n <= 32) return "t32x32r2x2k16";
  return "t64x64r4x4k16";
}

/** Number of K splits: enough workgroups to fill the adapter, at least `minK` of K per split. */
function chooseSplits(gm: Gemm, tiles: number, mode: ConvMode): number {
  const target = getGpu().info.isFallbackAdapter ? 4 : 512;
  const minK = mode === "backwardFilter" ? 256 : 512;
  if (tiles >= target) return 1;
  return Math.max(1, Math.min(Math.floor(gm.k / minK), Math.ceil(target / tiles), 64));
}

interface EpilogueArgs {
  bias?: RawTensor | null;
  scale?: RawTensor | null;
  shift?: RawTensor | null;
  relu?: boolean;
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
      g.batch,
      g.cin,
      g.h,
      g.w,
      g.cout,
      g.oh,
      g.ow,
      g.kh,
      g.kw,
      g.sh,
      g.sw,
      g.ph,
      g.pw,
      g.dh,
      g.dw,
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

// ---- direct kernels ------------------------------------------------------------------------------

/** Floats in one uniform window (64 KiB, WebGPU's guaranteed maxUniformBufferBindingSize). */
const WINDOW_FLOATS = 16384;

interface Staging {
  buffer: GPUBuffer;
  floats: number;
  retired: { buffer: GPUBuffer; epoch: number }[];
}
const stagings = new WeakMap<Gpu, Staging>();

/** The direct kernels' A-operand buffer (storage for packing, uniform windows for reading). */
function stagingBuffer(gpu: Gpu, floats: number): GPUBuffer {
  let s = stagings.get(gpu);
  if (s) {
    // buffers replaced in an earlier (submitted) epoch can go
    s.retired = s.retired.filter((r) => {
      if (r.epoch < gpu.epoch) r.buffer.destroy();
      return r.epoch >= gpu.epoch;
    });
  }
  if (!s || s.floats < floats) {
    const size = 2 ** Math.ceil(Math.log2(Math.max(floats * 4, 1 << 18)));
    if (size > gpu.info.limits.maxBufferSize) {
      throw new RangeError(
        `Cannot stage ${
          floats * 4
        } bytes for the direct conv2d kernels: above maxBufferSize ${gpu.info.limits.maxBufferSize}; use a tiled variant`,
      );
    }
    const buffer = gpu.device.createBuffer({
      label: "conv2d_direct_staging",
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    const retired = s ? [...s.retired, { buffer: s.buffer, epoch: gpu.epoch }] : [];
    s = { buffer, floats: size / 4, retired };
    stagings.set(gpu, s);
  }
  return s.buffer;
}

/** A RawTensor view of the staging buffer, so that the runtime can record copies into it. */
function stagingTensor(buffer: GPUBuffer): RawTensor {
  let t = stagingViews.get(buffer);
  if (!t) {
    t = new RawTensor(
      new PooledBuffer(buffer, buffer.size),
      [buffer.size / 4],
      "f32",
      "conv2d_direct_staging",
      {
        releaseBuffer() {/* owned by the staging cache */},
      },
    );
    stagingViews.set(buffer, t);
  }
  return t;
}
const stagingViews = new WeakMap<GPUBuffer, RawTensor>();

/** The kernel taps along one axis that reach an output in the input gradient's stride phase. */
interface TapRange {
  /** First tap. */
  k0: number;
  /** Number of taps (k0, k0 + step, …; step = stride, or 1 at stride 1). */
  n: number;
  /** Output coordinate reached by tap k0 from the phase's first input (exact division). */
  d0: number;
}

/**
 * For input coordinates i = p + j·s (j < count) of stride phase p: the taps k (k ≡ p + pad mod s,
 * dilation 1 when s > 1) whose output o = (i + pad − k·d)/s falls in [0, nOut) for some j.
 */
function tapRange(
  p: number,
  pad: number,
  s: number,
  d: number,
  k: number,
  nOut: number,
  count: number,
): TapRange {
  const first = (p + pad) % s, step = s > 1 ? s : 1;
  let k0 = -1, n = 0, d0 = 0;
  for (let kk = first; kk < k; kk += step) {
    const o = (p + pad - kk * d) / s; // exact: p + pad − kk·d ≡ 0 (mod s)
    if (o + count - 1 >= 0 && o <= nOut - 1) {
      if (k0 < 0) [k0, d0] = [kk, o];
      n++;
    }
  }
  return { k0: Math.max(k0, 0), n, d0 };
}

/** One dispatch of a direct kernel: the window and the K range it covers. */
interface DirectStep {
  slot: number;
  m0: number;
  mv: number;
  k0: number;
  k1: number;
  abase: number;
  accumulate: boolean;
}

function runDirect(
  mode: ConvMode,
  g: ConvGeometry,
  a: RawTensor,
  b: RawTensor,
  outShape: number[],
  ep: EpilogueArgs,
  v: Extract<ConvVariant, { kind: "direct" }>,
): RawTensor | null {
  const gpu = getGpu();
  const gm = gemmOf(g, mode);
  const khw = g.kh * g.kw, ohw = g.oh * g.ow;
  const { tn, tm, wg } = v;
  const align = Math.max(4, gpu.info.limits.minUniformBufferOffsetAlignment / 4);
  const roundA = (f: number) => Math.ceil(f / align) * align;
  // rows of 3 taps share their loads (kernel width 3, unit stride and dilation along x)
  const row3 = mode !== "backwardFilter" && g.kw === 3 && g.sw === 1 && g.dw === 1;
  const steps: DirectStep[] = [];
  // A's window layout: offset of A(m, k) = (k − abase)·amul + m·ams (+ output channel · aoc for the
  // input gradient). "raw" windows are plain copies of contiguous parts of A's own tensor; "packed"
  // windows are written by conv2d_pack.wgsl when A's rows do not fit.
  let amul: number, ams: number, aoc = 0, mg: number;
  const copies: { src: number; floats: number; slot: number }[] = [];
  let packWindows: { kchunk: number; nchunks: number; ngroups: number } | null = null;
  let slotFloats: number;
  if (v.ssbo) {
    // A read from its own storage buffer: one dispatch (per image for the filter gradient)
    slotFloats = 0;
    mg = gm.m;
    if (mode === "forward") {
      [amul, ams] = [1, gm.k];
      steps.push({ slot: 0, m0: 0, mv: gm.m, k0: 0, k1: gm.k, abase: 0, accumulate: false });
    } else if (mode === "backwardData") {
      [amul, ams, aoc] = [1, khw, g.cin * khw];
      steps.push({ slot: 0, m0: 0, mv: gm.m, k0: 0, k1: gm.k, abase: 0, accumulate: false });
    } else {
      [amul, ams] = [1, ohw];
      for (let bi = 0; bi < g.batch; bi++) {
        // offset of dy[b, m, pix] = (k − abase) + m·ohw with abase = b·ohw − b·cout·ohw (mod 2³²)
        const abase = (bi * ohw - bi * g.cout * ohw) >>> 0;
        steps.push({
          slot: 0,
          m0: 0,
          mv: gm.m,
          k0: bi * ohw,
          k1: (bi + 1) * ohw,
          abase,
          accumulate: bi > 0,
        });
      }
    }
  } else if (mode === "forward" && gm.k * tm <= WINDOW_FLOATS) {
    mg = Math.min(Math.ceil(gm.m / tm) * tm, Math.floor(WINDOW_FLOATS / gm.k / tm) * tm);
    [amul, ams] = [1, gm.k];
    slotFloats = roundA(mg * gm.k);
    for (let gi = 0, m0 = 0; m0 < gm.m; gi++, m0 += mg) {
      const mv = Math.min(mg, gm.m - m0);
      copies.push({ src: m0 * gm.k, floats: mv * gm.k, slot: gi });
      steps.push({ slot: gi, m0, mv, k0: 0, k1: gm.k, abase: 0, accumulate: false });
    }
  } else if (mode === "backwardData" && g.cin * khw <= WINDOW_FLOATS) {
    mg = gm.m;
    const noc = Math.max(1, Math.floor(WINDOW_FLOATS / (g.cin * khw)));
    [amul, ams, aoc] = [1, khw, g.cin * khw];
    slotFloats = roundA(noc * g.cin * khw);
    for (let ci = 0, oc0 = 0; oc0 < g.cout; ci++, oc0 += noc) {
      const n = Math.min(noc, g.cout - oc0);
      copies.push({ src: oc0 * g.cin * khw, floats: n * g.cin * khw, slot: ci });
      steps.push({
        slot: ci,
        m0: 0,
        mv: gm.m,
        k0: oc0 * khw,
        k1: (oc0 + n) * khw,
        abase: 0,
        accumulate: ci > 0,
      });
    }
  } else if (mode === "backwardFilter" && ohw * tm <= WINDOW_FLOATS) {
    mg = Math.min(Math.ceil(gm.m / tm) * tm, Math.floor(WINDOW_FLOATS / ohw / tm) * tm);
    [amul, ams] = [1, ohw];
    slotFloats = roundA(mg * ohw);
    let slot = 0;
    for (let bi = 0; bi < g.batch; bi++) {
      for (let m0 = 0; m0 < gm.m; m0 += mg) {
        const mv = Math.min(mg, gm.m - m0);
        copies.push({ src: (bi * g.cout + m0) * ohw, floats: mv * ohw, slot });
        steps.push({
          slot: slot++,
          m0,
          mv,
          k0: bi * ohw,
          k1: (bi + 1) * ohw,
          abase: bi * ohw,
          accumulate: bi > 0,
        });
      }
    }
  } else {
    // packed windows: channel groups of mg rows × K chunks of kchunk
    mg = Math.min(Math.ceil(gm.m / 16) * 16, 1024);
    if (mode === "backwardData") {
      mg = Math.min(mg, Math.max(16, Math.floor(WINDOW_FLOATS / khw / 16) * 16));
    }
    let kchunk = Math.floor(WINDOW_FLOATS / mg);
    if (mode === "backwardData") kchunk = Math.floor(kchunk / khw) * khw;
    else if (row3) kchunk = Math.floor(kchunk / 3) * 3;
    const ngroups = Math.ceil(gm.m / mg), nchunks = Math.ceil(gm.k / kchunk);
    packWindows = { kchunk, nchunks, ngroups };
    slotFloats = roundA(kchunk * mg);
    [amul, ams, aoc] = [mg, 1, khw * mg];
    for (let gi = 0; gi < ngroups; gi++) {
      const m0 = gi * mg, mv = Math.min(mg, gm.m - m0);
      for (let ci = 0; ci < nchunks; ci++) {
        const k0 = ci * kchunk;
        steps.push({
          slot: gi * nchunks + ci,
          m0,
          mv,
          k0,
          k1: Math.min(gm.k, k0 + kchunk),
          abase: k0,
          accumulate: ci > 0,
        });
      }
    }
  }
  const nslots = Math.max(...steps.map((st) => st.slot)) + 1;
  const stagingBytes = 2 ** Math.ceil(Math.log2((nslots * slotFloats + WINDOW_FLOATS) * 4));
  const lim = gpu.info.limits;
  if (stagingBytes > Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize)) return null;
  const staging = stagingBuffer(gpu, nslots * slotFloats + WINDOW_FLOATS);
  if (packWindows) {
    const { kchunk, nchunks, ngroups } = packWindows;
    const rows = ngroups * nchunks * kchunk;
    gpu.dispatch(CONV2D_PACK, {
      bindings: [a, { buffer: staging, offset: 0, size: nslots * slotFloats * 4 }],
      params: [rows, mg, kchunk, nchunks, gm.m, gm.k, slotFloats, khw, g.cin, g.cout, ohw, 0],
      overrides: { MODE: MODE_CODE[mode] },
      workgroups: Math.ceil(rows / 16),
    });
  } else if (!v.ssbo) {
    const st = stagingTensor(staging);
    for (const c of copies) gpu.copy(a, c.src * 4, st, c.slot * slotFloats * 4, c.floats * 4);
  }
  const out = gpu.empty(outShape, "f32", `conv2d_${mode}`);
  const dummy = b;
  const base = [
    g.batch,
    g.cin,
    g.h,
    g.w,
    g.cout,
    g.oh,
    g.ow,
    g.kh,
    g.kw,
    g.sh,
    g.sw,
    g.ph,
    g.pw,
    g.dh,
    g.dw,
  ];
  // input-gradient phases: per stride phase, the taps that reach the output (none: the phase is 0)
  const phases: { py: number; px: number; y: TapRange; x: TapRange }[] = [];
  const none: TapRange = { k0: 0, n: 0, d0: 0 };
  if (mode === "backwardData") {
    let skipped = false;
    for (let py = 0; py < g.sh; py++) {
      for (let px = 0; px < g.sw; px++) {
        const ny = Math.ceil((g.h - py) / g.sh), nx = Math.ceil((g.w - px) / g.sw);
        const y = tapRange(py, g.ph, g.sh, g.dh, g.kh, g.oh, ny),
          x = tapRange(px, g.pw, g.sw, g.dw, g.kw, g.ow, nx);
        if (ny > 0 && nx > 0 && y.n > 0 && x.n > 0) phases.push({ py, px, y, x });
        else skipped = true;
      }
    }
    if (skipped) gpu.clear(out);
  } else phases.push({ py: 0, px: 0, y: none, x: none });
  const overrides = {
    TN: tn,
    TM: tm,
    WG: wg,
    MFAST: v.mfast ? 1 : 0,
    ASSB: v.ssbo ? 1 : 0,
    ...(mode === "backwardFilter" ? {} : { ROW3: row3 ? 1 : 0, INB: isPointwise(g) ? 1 : 0 }),
  };
  for (const stp of steps) {
    const mtiles = Math.ceil(stp.mv / tm);
    const window = { buffer: staging, offset: stp.slot * slotFloats * 4, size: WINDOW_FLOATS * 4 };
    for (const { py, px, y, x } of phases) {
      let nthreads: number, ny = 0, nx = 0;
      if (mode === "forward") nthreads = g.batch * g.oh * Math.ceil(g.ow / tn);
      else if (mode === "backwardData") {
        ny = Math.ceil((g.h - py) / g.sh);
        nx = Math.ceil((g.w - px) / g.sw);
        nthreads = g.batch * ny * Math.ceil(nx / tn);
      } else nthreads = Math.ceil(gm.n / tn);
      if (nthreads <= 0) continue;
      const ntiles = Math.ceil(nthreads / wg);
      const workgroups = v.mfast ? Math.ceil((mtiles * nthreads) / wg) : mtiles * ntiles;
      const params = [
        ...base,
        stp.k0,
        stp.k1,
        mg,
        stp.m0,
        stp.mv,
        mtiles,
        ntiles,
        nthreads,
        stp.accumulate ? 1 : 0,
        py,
        px,
        ny,
        nx,
        stp.abase,
        amul,
        ams,
        aoc,
        y.k0,
        y.n,
        x.k0,
        x.n,
        y.d0,
        x.d0,
        0,
        0,
      ];
      // rows of 3 taps need all three columns of the kernel
      const ov = mode === "backwardData"
        ? { ...overrides, ROW3: row3 && x.k0 === 0 && x.n === 3 ? 1 : 0 }
        : overrides;
      if (mode === "forward") {
        gpu.dispatch(CONV2D_DIRECT, {
          bindings: [b, ep.bias ?? dummy, ep.scale ?? dummy, ep.shift ?? dummy, out, window, a],
          params,
          overrides: {
            ...overrides,
            BIAS: ep.bias ? 1 : 0,
            AFFINE: ep.scale ? 1 : 0,
            RELU: ep.relu ? 1 : 0,
          },
          workgroups,
        });
      } else {
        gpu.dispatch(
          mode === "backwardData" ? CONV2D_DIRECT_BACKWARD_DATA : CONV2D_DIRECT_BACKWARD_FILTER,
          {
            bindings: [b, out, window, a],
            params,
            overrides: ov,
            workgroups,
          },
        );
      }
    }
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

/** The candidates tried by default on the current adapter. */
export function defaultCandidates(): string[] {
  const cpu = getGpu().info.isFallbackAdapter;
  return Object.entries(CONV2D_VARIANTS).filter(([, v]) => (v.kind === "direct") === cpu).map((
    [k],
  ) => k);
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
      const cands = (opts.candidates ?? defaultCandidates()).filter((c) => {
        const v = CONV2D_VARIANTS[c];
        if (!v) {
          throw new RangeError(
            `Cannot tune conv2d with variant "${c}": expected one of ${
              Object.keys(CONV2D_VARIANTS).join(", ")
            }`,
          );
        }
        return variantApplies(v, g, mode);
      });
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
