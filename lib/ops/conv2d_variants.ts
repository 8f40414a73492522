/**
 * The kernels of the 2-D convolution and their variants ({@linkcode CONV2D_VARIANTS}): which
 * variants can run a shape ({@linkcode variantApplies}), the size heuristic used when a shape class
 * was not tuned ({@linkcode defaultVariant}), and the choice for one call ({@linkcode pickVariant}:
 * forced, tuned by `tuning.ts`, or the heuristic) and the candidates tuned by default
 * ({@linkcode defaultCandidates}).
 *
 * @module
 */
import convSrc from "../../kernels/conv2d.wgsl" with { type: "text" };
import epilogueSrc from "../../kernels/conv2d_epilogue.wgsl" with { type: "text" };
import { DIRECT_SOURCES } from "../../kernels/direct/mod.ts";
import packSrc from "../../kernels/conv2d_pack.wgsl" with { type: "text" };
import tiled64Src from "../../kernels/conv2d_tiled_64x64.wgsl" with { type: "text" };
import tiled128Src from "../../kernels/conv2d_tiled_128x128.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { platform } from "../platform/mod.ts";
import { sizeBucket, tunedChoice, tuningKey } from "./tuning.ts";
import { type ConvGeometry, type ConvMode, gemmOf } from "./conv2d_geometry.ts";

/** `kernels/conv2d.wgsl`. */
export const CONV2D: KernelSpec = { name: "conv2d", source: convSrc, params: "u".repeat(28) };
/** `kernels/conv2d_epilogue.wgsl`. */
export const CONV2D_EPILOGUE: KernelSpec = {
  name: "conv2d_epilogue",
  source: epilogueSrc,
  params: "uuuu",
};

/** The `Params` layout of the forward and filter-gradient direct kernels. */
const DIRECT_PARAMS = "u".repeat(36) + "iiuu";

/** The `Params` layout of each direct kernel (the input gradient has 4 stride phases). */
const DIRECT_KERNEL_PARAMS = {
  conv2d_direct: DIRECT_PARAMS,
  conv2d_direct_backward_data: "u".repeat(28) + ("u".repeat(8) + "iiuu" + "uuuu").repeat(4),
  conv2d_direct_backward_filter: DIRECT_PARAMS,
} as const;

/** A kernel of the direct family: forward, input gradient or filter gradient. */
export type DirectKernelName = keyof typeof DIRECT_KERNEL_PARAMS;

const directSpecs = new Map<string, KernelSpec>();

/**
 * The direct kernel `name` rendered for `tn` columns × `tm` channels per thread
 * (`kernels/direct/{name}_{tn}x{tm}.wgsl`, written by `deno task gen:kernels`).
 *
 * @throws {RangeError} When no such size was rendered (add it to `kernels/gen/mod.ts`).
 */
export function directKernel(name: DirectKernelName, tn: number, tm: number): KernelSpec {
  const stem = `${name}_${tn}x${tm}`;
  let spec = directSpecs.get(stem);
  if (spec) return spec;
  const source = DIRECT_SOURCES[stem];
  if (source === undefined) {
    throw new RangeError(
      `No direct conv kernel kernels/direct/${stem}.wgsl: add { tn: ${tn}, tm: ${tm} } to ` +
        "DIRECT_SIZES in kernels/gen/mod.ts and run deno task gen:kernels",
    );
  }
  spec = { name: stem, source, params: DIRECT_KERNEL_PARAMS[name] };
  directSpecs.set(stem, spec);
  return spec;
}
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
 * - `direct`: `kernels/direct/conv2d_direct*_{TN}x{TM}.wgsl`, TN columns × TM channels per thread from registers, the A
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
  | {
    kind: "direct";
    tn: 4 | 8 | 16;
    tm: 4 | 8 | 16;
    wg: number;
    /** Lanes over channel tiles first (`m`). */
    mfast?: boolean;
    /** Lanes over channel tiles, the column thread uniform per workgroup (`u`). */
    muni?: boolean;
    /** A read from its own storage buffer (`s`). */
    ssbo?: boolean;
  };

function tiled(WM: number, WN: number, TM: number, TN: number, BK: number): ConvVariant {
  return { kind: "tiled", spec: CONV2D, overrides: { WM, WN, TM, TN, BK } };
}

/**
 * The variants, by name: `t{BM}x{BN}r{TM}x{TN}k{BK}` (tiled; each satisfies the kernel's
 * constraints), `u…` (tiled with the tile loops unrolled, for GPUs) and `d{TN}x{TM}w{WG}` (direct; suffixes `m`, `u`,
 * `s`: the lane order and A operand of {@linkcode ConvVariant}). All pass the same tests.
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
  d16x8w32m: { kind: "direct", tn: 16, tm: 8, wg: 32, mfast: true },
  d16x8w16m: { kind: "direct", tn: 16, tm: 8, wg: 16, mfast: true },
  d4x16w16m: { kind: "direct", tn: 4, tm: 16, wg: 16, mfast: true },
  d8x16w16m: { kind: "direct", tn: 8, tm: 16, wg: 16, mfast: true },
  d4x8w8m: { kind: "direct", tn: 4, tm: 8, wg: 8, mfast: true },
  d4x8w8ms: { kind: "direct", tn: 4, tm: 8, wg: 8, mfast: true, ssbo: true },
  d8x8w16m: { kind: "direct", tn: 8, tm: 8, wg: 16, mfast: true },
  d8x8w8m: { kind: "direct", tn: 8, tm: 8, wg: 8, mfast: true },
  d4x4w8us: { kind: "direct", tn: 4, tm: 4, wg: 8, muni: true, ssbo: true },
  d16x8w8us: { kind: "direct", tn: 16, tm: 8, wg: 8, muni: true, ssbo: true },
  d8x8w8us: { kind: "direct", tn: 8, tm: 8, wg: 8, muni: true, ssbo: true },
  d8x8w8u: { kind: "direct", tn: 8, tm: 8, wg: 8, muni: true },
  d16x8w8u: { kind: "direct", tn: 16, tm: 8, wg: 8, muni: true },
};

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

let forceTiledEnv: boolean | undefined;

/**
 * `WGDET_FORCE_TILED=1`: the heuristic picks the tiled kernels on every adapter (so that a
 * software adapter runs the GPU path; `bench/gpu.ts` sets it for its test run).
 */
function forceTiled(): boolean {
  if (forceTiledEnv === undefined) {
    try {
      forceTiledEnv = platform().env("WGDET_FORCE_TILED") === "1";
    } catch {
      forceTiledEnv = false;
    }
  }
  return forceTiledEnv;
}

/** The size heuristic used when a shape class was not tuned. */
export function defaultVariant(g: ConvGeometry, mode: ConvMode): string {
  if (
    getGpu().info.directConv && !forceTiled() &&
    variantApplies(CONV2D_VARIANTS.d8x8w64, g, mode)
  ) {
    return directDefault(g, mode);
  }
  return defaultTiled(g, mode);
}

/**
 * The direct variant for a shape on a CPU adapter (lavapipe: one SIMD lane per thread, so every
 * thread's registers are spread over its lanes and most loads are gathers). Measured per pass on
 * the tiny RetinaNet's 40 conv shapes (timestamp queries, every direct variant; the rule's choice
 * costs 181 ms for one step's calls against 229 ms for the former lane-count rule and 170 ms for
 * the best variant of each shape):
 * - forward and input gradient: a thread's TN columns cover the row (16 when the row is 16 or
 *   more, 8, else 4; a pointwise conv is one row of all pixels), so that rows of 3 taps share their
 *   loads across the whole row and no column is wasted on 8- and 4-pixel maps; TM = 16 channels on
 *   8-pixel rows keeps enough FMAs per load. The input gradient of ≥ 64 input channels on rows of
 *   16–31 pixels runs lanes over the channel tiles instead (`d16x8w8u`, measured 2026-12-04 per
 *   call: 8×64×16×16 → 64 4.1 vs 4.8–5.4 ms, → 36 2.95 vs 3.50, 8×128×16×16 → 128 18.2 vs 22.4;
 *   no gain at 32 channels or on 32-pixel rows). Strided rows (no row sharing in the forward pass)
 *   and the 7×7 stem: 8 columns (4 on 4-pixel rows) × 8 channels in workgroups of 16.
 * - filter gradient: rows of 3 taps (kernel width 3, stride 1) on 4 input channels × 8 output
 *   channels (96 accumulators: 8 channels would spill them), workgroups of 8 (more workgroups
 *   balance the adapter's threads); other shapes 8 × 8.
 * Workgroups of 8 to 16 lanes: a workgroup is one or two SIMD passes, and many small workgroups
 * balance the threads better than few large ones at these sizes.
 */
function directDefault(g: ConvGeometry, mode: ConvMode): string {
  const pointwise = g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.ph === 0 &&
    g.pw === 0;
  if (mode === "backwardFilter") {
    return g.kw === 3 && g.sw === 1 && g.dw === 1 ? "d4x8w8m" : "d8x8w8m";
  }
  // the row a thread's columns run along: output columns (input-gradient phase columns)
  const width = pointwise ? g.oh * g.ow : mode === "backwardData" ? Math.ceil(g.w / g.sw) : g.ow;
  const shared = pointwise || mode === "backwardData" || (g.kw === 3 && g.dw === 1);
  if (g.kh * g.kw > 9 || g.sw > 1 || !shared) return width >= 8 ? "d8x8w16m" : "d4x8w8m";
  if (width >= 32) return "d16x8w64";
  // input gradient of ≥ 64 input channels on 16–31-pixel rows: one workgroup's 8 lanes cover 8
  // channel tiles of one column block (its loads of dy at one address per workgroup)
  if (width >= 16) return mode === "backwardData" && g.cin >= 64 ? "d16x8w8u" : "d16x8w16m";
  if (width >= 8) return "d8x16w32m";
  return "d4x8w8m";
}

/**
 * The variant called `name`.
 *
 * @throws {RangeError} Naming `name` and the known variants when there is no such variant.
 */
export function variantNamed(name: string, action: "run" | "tune"): ConvVariant {
  const v = CONV2D_VARIANTS[name];
  if (!v) {
    throw new RangeError(
      `Cannot ${action} conv2d with variant "${name}": expected one of ${
        Object.keys(CONV2D_VARIANTS).join(", ")
      }`,
    );
  }
  return v;
}

/** The variant for one call: `forced`, else the tuned choice, else {@linkcode defaultVariant}. */
export function pickVariant(g: ConvGeometry, mode: ConvMode, forced?: string): ConvVariant {
  const name = forced ?? tunedChoice(conv2dTuningKey(g, mode)) ?? defaultVariant(g, mode);
  const v = variantNamed(name, "run");
  if (!variantApplies(v, g, mode)) {
    const d = CONV2D_VARIANTS[defaultVariant(g, mode)];
    return variantApplies(d, g, mode) ? d : CONV2D_VARIANTS[defaultTiled(g, mode)];
  }
  return v;
}

/** The size heuristic's tiled variant (for shapes the direct kernels cannot run). */
export function defaultTiled(g: ConvGeometry, mode: ConvMode): string {
  const { m, n } = gemmOf(g, mode);
  if (m <= 8 && n >= 128) return "t8x128r1x8k16";
  if (m <= 16) return "t16x64r1x4k16";
  if (m <= 32 || n <= 32) return "t32x32r2x2k16";
  return "t64x64r4x4k16";
}

/** The candidates tried by default on the current adapter. */
export function defaultCandidates(): string[] {
  const cpu = getGpu().info.directConv;
  return Object.entries(CONV2D_VARIANTS).filter(([, v]) => (v.kind === "direct") === cpu).map((
    [k],
  ) => k);
}
