/**
 * The "direct" convolution kernels (`kernels/direct/*.wgsl`, one file per TN × TM size) for CPU adapters such as
 * lavapipe: the A operand staged in 64 KiB uniform windows (plain copies, or packed by
 * `conv2d_pack.wgsl`) or read from its own storage buffer, the taps of each stride phase of the
 * input gradient, and the dispatches ({@linkcode runDirect}).
 *
 * @module
 */
import { getGpu, type Gpu, UNIFORM_WINDOW_BYTES } from "../gpu/runtime.ts";
import { RawTensor } from "../gpu/raw_tensor.ts";
import transposeSrc from "../../kernels/batch_transpose.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { PooledBuffer } from "../gpu/pool.ts";
import {
  type ConvGeometry,
  type ConvMode,
  gemmOf,
  geometryParams,
  isPointwise,
  MODE_CODE,
} from "./conv2d_geometry.ts";
import { CONV2D_EPILOGUE, CONV2D_PACK, type ConvVariant, directKernel } from "./conv2d_variants.ts";

/** A fused per-channel epilogue, `act((y + bias)·scale + shift)`, each part optional. */
export interface EpilogueArgs {
  /** Per-channel bias, added first. */
  bias?: RawTensor | null;
  /** Per-channel scale. */
  scale?: RawTensor | null;
  /** Per-channel shift, added after scaling. */
  shift?: RawTensor | null;
  /** Apply ReLU last. */
  relu?: boolean;
}

/** Floats in one uniform window (64 KiB, WebGPU's guaranteed maxUniformBufferBindingSize). */
const WINDOW_FLOATS = UNIFORM_WINDOW_BYTES / 4;

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

/**
 * Runs one pass of a convolution with a direct variant; returns null when its windows would not
 * fit one storage binding (the caller then uses a tiled variant, which needs no staging).
 */
export function runDirect(
  mode: ConvMode,
  g: ConvGeometry,
  a: RawTensor,
  b: RawTensor,
  outShape: number[],
  ep: EpilogueArgs,
  v: Extract<ConvVariant, { kind: "direct" }>,
): RawTensor | null {
  const gpu = getGpu();
  // a pointwise convolution is a GEMM over each image's pixels: as one row, column blocks of TN
  // are never cut short by the end of a row
  if (isPointwise(g) && g.h > 1) g = { ...g, h: 1, w: g.h * g.w, oh: 1, ow: g.oh * g.ow };
  if (mode === "backwardFilter") return filterGradient(g, a, b, outShape, v);
  const gm = gemmOf(g, mode);
  const khw = g.kh * g.kw, ohw = g.oh * g.ow;
  const { tn, tm, wg } = v;
  const align = Math.max(4, gpu.info.limits.minUniformBufferOffsetAlignment / 4);
  const roundA = (f: number) => Math.ceil(f / align) * align;
  // A's own buffer can serve the raw windows (no staging copy) when it is uniform-capable: then
  // window starts are kept on the offset alignment (rows per window a multiple of `rowStep(k)`)
  const own = !v.ssbo && (a.buffer.usage & GPUBufferUsage.UNIFORM) !== 0;
  const rowStep = (rowFloats: number) => own ? align / gcd(rowFloats, align) : 1;
  // rows of 3 taps share their loads (kernel width 3, unit stride and dilation along x)
  const row3 = g.kw === 3 && g.sw === 1 && g.dw === 1;
  // forward rows of 3 or 7 taps at stride 2 along x (the stem, the strided 3×3 convs): a row's
  // 2·TN + kw − 2 input values serve its kw·TN taps
  const rows2 = mode === "forward" && (g.kw === 3 || g.kw === 7) && g.sw === 2 && g.dw === 1 &&
    !isPointwise(g);
  const steps: DirectStep[] = [];
  // A's window layout: offset of A(m, k) = (k − abase)·amul + m·ams (+ output channel · aoc for the
  // input gradient). "raw" windows are plain copies of contiguous parts of A's own tensor; "packed"
  // windows are written by conv2d_pack.wgsl when A's rows do not fit.
  let amul: number, ams: number, aoc = 0, mg: number;
  const copies: { src: number; floats: number; slot: number }[] = [];
  let packWindows: { kchunk: number; nchunks: number; ngroups: number } | null = null;
  let slotFloats: number;
  if (v.ssbo) {
    // A read from its own storage buffer: one dispatch
    slotFloats = 0;
    mg = gm.m;
    if (mode === "forward") [amul, ams] = [1, gm.k];
    else [amul, ams, aoc] = [1, khw, g.cin * khw];
    steps.push({ slot: 0, m0: 0, mv: gm.m, k0: 0, k1: gm.k, abase: 0, accumulate: false });
  } else if (mode === "forward" && gm.k * tm <= WINDOW_FLOATS) {
    mg = Math.min(Math.ceil(gm.m / tm) * tm, Math.floor(WINDOW_FLOATS / gm.k / tm) * tm);
    const q = lcm(tm, rowStep(gm.k));
    if (mg < gm.m && q * gm.k <= WINDOW_FLOATS) mg = Math.floor(mg / q) * q;
    [amul, ams] = [1, gm.k];
    slotFloats = roundA(mg * gm.k);
    for (let gi = 0, m0 = 0; m0 < gm.m; gi++, m0 += mg) {
      const mv = Math.min(mg, gm.m - m0);
      copies.push({ src: m0 * gm.k, floats: mv * gm.k, slot: gi });
      steps.push({ slot: gi, m0, mv, k0: 0, k1: gm.k, abase: 0, accumulate: false });
    }
  } else if (mode === "backwardData" && g.cin * khw <= WINDOW_FLOATS) {
    mg = gm.m;
    let noc = Math.max(1, Math.floor(WINDOW_FLOATS / (g.cin * khw)));
    const q = rowStep(g.cin * khw);
    if (noc < g.cout && noc >= q) noc = Math.floor(noc / q) * q;
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
  } else {
    // packed windows: channel groups of mg rows × K chunks of kchunk
    mg = Math.min(Math.ceil(gm.m / 16) * 16, 1024);
    if (mode === "backwardData") {
      mg = Math.min(mg, Math.max(16, Math.floor(WINDOW_FLOATS / khw / 16) * 16));
    }
    let kchunk = Math.floor(WINDOW_FLOATS / mg);
    if (mode === "backwardData") kchunk = Math.floor(kchunk / khw) * khw;
    else if (row3 || rows2) kchunk = Math.floor(kchunk / g.kw) * g.kw;
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
  // raw windows that A's own buffer serves: slot → byte offset in A's buffer
  const ownSlots = new Map<number, number>();
  if (own) {
    for (const c of copies) {
      const at = c.src * 4;
      if (at % (align * 4) === 0 && at + WINDOW_FLOATS * 4 <= a.pooled.size) {
        ownSlots.set(c.slot, at);
      }
    }
  }
  const staged = packWindows !== null || copies.length > ownSlots.size;
  const nslots = staged ? Math.max(...steps.map((st) => st.slot)) + 1 : 0;
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
    for (const c of copies) {
      if (!ownSlots.has(c.slot)) gpu.copy(a, c.src * 4, st, c.slot * slotFloats * 4, c.floats * 4);
    }
  }
  const out = gpu.empty(outShape, "f32", `conv2d_${mode}`);
  const dummy = b;
  const base = geometryParams(g);
  // TN and TM are constants of the kernel file (kernels/direct/*_{TN}x{TM}.wgsl)
  const overrides = {
    WG: wg,
    MFAST: v.mfast ? 1 : 0,
    MUNI: v.muni ? 1 : 0,
    ASSB: v.ssbo ? 1 : 0,
    ROW3: row3 ? 1 : 0,
    INB: isPointwise(g) ? 1 : 0,
  };
  const windowAt = (slot: number) => {
    const at = ownSlots.get(slot);
    return at === undefined
      ? { buffer: staging, offset: slot * slotFloats * 4, size: WINDOW_FLOATS * 4 }
      : { buffer: a.buffer, offset: at, size: WINDOW_FLOATS * 4 };
  };
  if (mode === "backwardData") {
    inputGradientDispatches(g, out, steps, v, overrides, row3, [b, a], windowAt, base, {
      amul,
      ams,
      aoc,
    });
    return out;
  }
  for (const stp of steps) {
    const mtiles = Math.ceil(stp.mv / tm);
    const window = windowAt(stp.slot);
    const nthreads = g.batch * g.oh * Math.ceil(g.ow / tn);
    if (nthreads <= 0) continue;
    const ntiles = Math.ceil(nthreads / wg);
    const workgroups = lanesWorkgroups(v, mtiles, nthreads);
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
      0,
      0,
      0,
      0,
      stp.abase,
      amul,
      ams,
      aoc,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
    ];
    gpu.dispatch(directKernel("conv2d_direct", tn, tm), {
      bindings: [b, ep.bias ?? dummy, ep.scale ?? dummy, ep.shift ?? dummy, out, window, a],
      params,
      overrides: {
        ...overrides,
        ROWS2: rows2 ? g.kw : 0,
        BIAS: ep.bias ? 1 : 0,
        AFFINE: ep.scale ? 1 : 0,
        RELU: ep.relu ? 1 : 0,
      },
      workgroups,
    });
  }
  return out;
}

/** Uniform windows one filter-gradient dispatch reads (`NWIN` of the kernel). */
const MAX_FILTER_WINDOWS = 4;

/**
 * The filter gradient: the output gradient transposed once to pixel-major `[N·OH·OW, Cout]` (the
 * batch folded into the pixels, so one dispatch covers every image, and the TM channels of one
 * pixel are contiguous for the lanes that read them), written straight into the uniform staging
 * buffer and read as windows of `kwin` pixels, up to {@linkcode MAX_FILTER_WINDOWS} per dispatch
 * (successive dispatches accumulate). With `v.ssbo`, or when the windows would not fit one
 * binding, the transposed gradient is read from its own storage buffer in one dispatch.
 */
function filterGradient(
  g: ConvGeometry,
  dy: RawTensor,
  x: RawTensor,
  outShape: number[],
  v: Extract<ConvVariant, { kind: "direct" }>,
): RawTensor {
  const gpu = getGpu();
  const gm = gemmOf(g, "backwardFilter");
  const { tn, tm, wg } = v;
  const ohw = g.oh * g.ow;
  const align = Math.max(4, gpu.info.limits.minUniformBufferOffsetAlignment / 4);
  // pixels per window: a whole number of pixels whose floats keep the next window aligned
  const step = align / gcd(gm.m, align);
  const kwin = Math.floor(Math.floor(WINDOW_FLOATS / gm.m) / step) * step;
  const nwin = kwin > 0 ? Math.ceil(gm.k / kwin) : 0;
  const floats = nwin * kwin * gm.m;
  const lim = gpu.info.limits;
  const bytes = 2 ** Math.ceil(Math.log2((floats + WINDOW_FLOATS) * 4));
  const windows = !v.ssbo && kwin > 0 &&
    bytes <= Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
  let aT: RawTensor | null = null;
  // (without windows the uniform bindings still need a uniform buffer: the staging buffer's start)
  const staging = stagingBuffer(gpu, windows ? floats + WINDOW_FLOATS : WINDOW_FLOATS);
  if (windows) {
    batchTranspose(dy, g.batch, g.cout, ohw, true, {
      buffer: staging,
      offset: 0,
      size: floats * 4,
    });
  } else aT = batchTranspose(dy, g.batch, g.cout, ohw, true);
  const out = gpu.empty(outShape, "f32", "conv2d_backwardFilter");
  const mtiles = Math.ceil(gm.m / tm);
  // a thread's TN columns: one tap of TN input channels (one bounds check per pixel), unless
  // that wastes more than 1/8 of the columns (the stem's 3 channels): TN consecutive columns
  const icols = filterColumnsByChannel(g, tn);
  // rows of 3 taps (kernel width 3, unit stride and dilation along x): a thread owns the row's 3
  // taps, and along a row of pixels each channel's 3 values slide by one (one new load a pixel)
  const row3 = icols && tn <= 8 && g.kw === 3 && g.sw === 1 && g.dw === 1;
  const nthreads = row3
    ? Math.ceil(g.cin / tn) * g.kh
    : icols
    ? Math.ceil(g.cin / tn) * g.kh * g.kw
    : Math.ceil(gm.n / tn);
  const ntiles = Math.ceil(nthreads / wg);
  const workgroups = lanesWorkgroups(v, mtiles, nthreads);
  const base = geometryParams(g);
  const perDispatch = windows ? MAX_FILTER_WINDOWS : 1;
  const span = windows ? kwin : gm.k;
  const chunks = windows ? Math.ceil(nwin / perDispatch) : 1;
  // split-K (storage A only): few workgroups over many pixels get S groups of workgroups, each
  // summing K/S pixels into its own slice of partial sums, reduced by one more pass
  const splits = windows ? 1 : filterSplits(workgroups, gm.k);
  const ks = Math.ceil(gm.k / splits);
  const partial = splits > 1 ? gpu.empty([splits * gm.m * gm.n], "f32", "conv2d_partial") : null;
  for (let ci = 0; ci < chunks; ci++) {
    const k0 = ci * perDispatch * span, k1 = Math.min(gm.k, k0 + perDispatch * span);
    const n = Math.ceil((k1 - k0) / span);
    const ws = [0, 1, 2, 3].map((i) => {
      const w = windows ? Math.min(ci * perDispatch + i, nwin - 1) : 0;
      return { buffer: staging, offset: w * kwin * gm.m * 4, size: WINDOW_FLOATS * 4 };
    });
    gpu.dispatch(directKernel("conv2d_direct_backward_filter", tn, tm), {
      bindings: [x, partial ?? out, ws[0], aT ?? x, ws[1], ws[2], ws[3]],
      params: [
        ...base,
        k0,
        k1,
        gm.m,
        0,
        gm.m,
        mtiles,
        ntiles,
        nthreads,
        ci > 0 ? 1 : 0,
        0,
        0,
        0,
        0,
        k0, // abase: window 0 starts at pixel k0
        gm.m, // amul: A(m, k) at (k − abase)·M + m
        1,
        0,
        0,
        windows ? k1 - k0 : ks, // pixels per split
        workgroups, // workgroups per split
        0,
        0,
        0,
        n,
        span,
      ],
      overrides: {
        WG: wg,
        MFAST: v.mfast ? 1 : 0,
        MUNI: v.muni ? 1 : 0,
        ASSB: windows ? 0 : 1,
        NWIN: windows ? MAX_FILTER_WINDOWS : 1,
        ICOLS: icols ? 1 : 0,
        ROW3: row3 ? 1 : 0,
      },
      workgroups: workgroups * splits,
    });
  }
  aT?.release();
  if (partial) {
    gpu.dispatch(CONV2D_EPILOGUE, {
      bindings: [partial, partial, partial, partial, out],
      params: [gm.m * gm.n, splits, 1, 1],
      overrides: { BIAS: 0, SCALE: 0, SHIFT: 0, RELU: 0 },
      workgroups: Math.ceil((gm.m * gm.n) / 256),
    });
    partial.release();
  }
  return out;
}

/** Workgroups a filter-gradient dispatch should have at least (split-K below it). */
const FILTER_MIN_WORKGROUPS = 16;

/** Splits of the filter gradient's pixels: enough workgroups, at least 512 pixels each. */
function filterSplits(workgroups: number, k: number): number {
  if (workgroups >= FILTER_MIN_WORKGROUPS) return 1;
  return Math.max(
    1,
    Math.min(Math.ceil(FILTER_MIN_WORKGROUPS / workgroups), Math.floor(k / 512), 64),
  );
}

/** Whether the filter gradient's threads own one tap of `tn` input channels (`ICOLS`). */
export function filterColumnsByChannel(g: ConvGeometry, tn: number): boolean {
  return (Math.ceil(g.cin / tn) * tn - g.cin) * 8 <= g.cin;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/** `kernels/batch_transpose.wgsl`. */
export const BATCH_TRANSPOSE: KernelSpec = {
  name: "batch_transpose",
  source: transposeSrc,
  params: "uuuuuuuu",
};

/**
 * `[N, C, P]` → `[C, N·P]`, or with `pixelMajor` → `[N·P, C]`, in one dispatch (serial runs of up
 * to 64 values per thread); into `into` (a buffer range) when given, else into a new tensor.
 */
export function batchTranspose(
  a: RawTensor,
  n: number,
  c: number,
  p: number,
  pixelMajor: boolean,
  into: { buffer: GPUBuffer; offset: number; size: number },
): void;
export function batchTranspose(
  a: RawTensor,
  n: number,
  c: number,
  p: number,
  pixelMajor?: boolean,
): RawTensor;
export function batchTranspose(
  a: RawTensor,
  n: number,
  c: number,
  p: number,
  pixelMajor = false,
  into?: { buffer: GPUBuffer; offset: number; size: number },
): RawTensor | void {
  const gpu = getGpu();
  const out = into ?? gpu.empty(pixelMajor ? [n * p, c] : [c, n * p], "f32", "batch_transpose");
  const segLen = Math.min(p, 64), segs = Math.ceil(p / segLen);
  const total = n * c * segs;
  gpu.dispatch(BATCH_TRANSPOSE, {
    bindings: [a, out],
    params: [n, c, p, segs, segLen, total, pixelMajor ? 1 : 0, 0],
    workgroups: Math.ceil(total / 64),
  });
  if (!into) return out as RawTensor;
}

/** Workgroups of a direct-kernel dispatch over `mtiles` channel tiles × `nthreads` column threads. */
function lanesWorkgroups(
  v: Extract<ConvVariant, { kind: "direct" }>,
  mtiles: number,
  nthreads: number,
): number {
  if (v.muni) return nthreads * Math.ceil(mtiles / v.wg);
  if (v.mfast) return Math.ceil((mtiles * nthreads) / v.wg);
  return mtiles * Math.ceil(nthreads / v.wg);
}

/** Uniform windows one input-gradient dispatch reads (`NWIN` of the kernel). */
const MAX_WINDOWS = 4;
/** Stride phases one input-gradient dispatch runs (`phases` of the kernel's Params). */
const MAX_PHASES = 4;

/**
 * The input gradient's dispatches: consecutive windows of one channel group, up to
 * {@linkcode MAX_WINDOWS} at a time, times the stride phases, up to {@linkcode MAX_PHASES} at a time
 * (the phases no tap reaches are cleared instead). One dispatch for most shapes:
 * lavapipe spends ~35 µs on each.
 */
function inputGradientDispatches(
  g: ConvGeometry,
  out: RawTensor,
  steps: DirectStep[],
  v: Extract<ConvVariant, { kind: "direct" }>,
  overrides: Record<string, number>,
  row3: boolean,
  [dy, a]: RawTensor[],
  windowAt: (slot: number) => { buffer: GPUBuffer; offset: number; size: number },
  base: number[],
  layout: { amul: number; ams: number; aoc: number },
): void {
  const gpu = getGpu();
  const khw = g.kh * g.kw;
  const { tn, tm, wg } = v;
  // per stride phase, the taps that reach the output
  const phases: { py: number; px: number; ny: number; nx: number; y: TapRange; x: TapRange }[] = [];
  let cleared = false;
  for (let py = 0; py < g.sh; py++) {
    for (let px = 0; px < g.sw; px++) {
      const ny = Math.ceil((g.h - py) / g.sh), nx = Math.ceil((g.w - px) / g.sw);
      if (ny <= 0 || nx <= 0) continue;
      const y = tapRange(py, g.ph, g.sh, g.dh, g.kh, g.oh, ny),
        x = tapRange(px, g.pw, g.sw, g.dw, g.kw, g.ow, nx);
      // a phase no tap reaches is zero: cleared (a memset; zero stores from the kernel cost more)
      if (y.n > 0 && x.n > 0) phases.push({ py, px, ny, nx, y, x });
      else cleared = true;
    }
  }
  if (cleared) gpu.clear(out);
  // windows of one channel group covering consecutive output channels, in chunks
  const chunks: DirectStep[][] = [];
  for (const st of steps) {
    const cur = chunks[chunks.length - 1];
    const prev = cur?.[cur.length - 1];
    if (
      cur && cur.length < MAX_WINDOWS && prev!.m0 === st.m0 && prev!.k1 === st.k0 &&
      prev!.k1 - prev!.k0 === cur[0].k1 - cur[0].k0
    ) cur.push(st);
    else chunks.push([st]);
  }
  const nwin = chunks.some((c) => c.length > 1) ? MAX_WINDOWS : 1;
  for (let p0 = 0; p0 < phases.length; p0 += MAX_PHASES) {
    const ph = phases.slice(p0, p0 + MAX_PHASES);
    const rows3 = row3 && ph.every((q) => q.x.k0 === 0 && q.x.n === 3);
    for (const chunk of chunks) {
      const first = chunk[0], lastStep = chunk[chunk.length - 1];
      const mtiles = Math.ceil(first.mv / tm);
      const phaseParams: number[] = [];
      let maxWg = 0;
      for (let i = 0; i < MAX_PHASES; i++) {
        const q = ph[i];
        if (!q) {
          phaseParams.push(...new Array(16).fill(0));
          continue;
        }
        const nthreads = g.batch * q.ny * Math.ceil(q.nx / tn);
        const ntiles = Math.ceil(nthreads / wg);
        const nwg = lanesWorkgroups(v, mtiles, nthreads);
        phaseParams.push(
          q.py,
          q.px,
          q.ny,
          q.nx,
          q.y.k0,
          q.y.n,
          q.x.k0,
          q.x.n,
          q.y.d0,
          q.x.d0,
          nthreads,
          ntiles,
          nwg,
          0,
          0,
          0,
        );
        maxWg = Math.max(maxWg, nwg);
      }
      const windows = chunk.map((st) => windowAt(st.slot));
      while (windows.length < MAX_WINDOWS) windows.push(windows[0]);
      gpu.dispatch(directKernel("conv2d_direct_backward_data", v.tn, v.tm), {
        bindings: [dy, out, windows[0], a, windows[1], windows[2], windows[3]],
        params: [
          ...base,
          first.k0 / khw,
          lastStep.k1 / khw,
          (first.k1 - first.k0) / khw,
          first.m0,
          first.mv,
          mtiles,
          ph.length,
          chunk.length,
          first.accumulate ? 1 : 0,
          layout.amul,
          layout.ams,
          layout.aoc,
          0,
          ...phaseParams,
        ],
        overrides: {
          ...overrides,
          ROW3: rows3 ? 1 : 0,
          NWIN: nwin,
          NPH: phases.length > 1 ? 4 : 1,
        },
        workgroups: maxWg * ph.length,
      });
    }
  }
}
