/**
 * The geometry of a 2-D convolution (NCHW activations, OIHW weights): option checking
 * ({@linkcode conv2dGeometry}), the normalised {@linkcode ConvGeometry}, the storage-binding
 * size check shared by the ops, and the GEMM that each pass of the convolution amounts to
 * ({@linkcode gemmOf}).
 *
 * @module
 */
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, shapeSize } from "../gpu/raw_tensor.ts";

/** Which GEMM of the convolution. */
export type ConvMode = "forward" | "backwardData" | "backwardFilter";
/** The `MODE` override of the kernels for each pass. */
export const MODE_CODE: Record<ConvMode, number> = {
  forward: 0,
  backwardData: 1,
  backwardFilter: 2,
};

/** Geometry options shared by the forward and backward functions. */
export interface Conv2dGeometry {
  /** Stride, one value or [y, x] (default 1). */
  stride?: number | [number, number];
  /** Zero padding on each side, one value or [y, x] (default 0). */
  padding?: number | [number, number];
  /** Dilation, one value or [y, x] (default 1). */
  dilation?: number | [number, number];
  /** Channel groups (default 1). */
  groups?: number;
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

/** The matrix product of one pass: C [M, N] = A [M, K] · B [K, N] (per group). */
export interface Gemm {
  /** Rows of C (and A). */
  m: number;
  /** Columns of C (and B). */
  n: number;
  /** The reduced dimension. */
  k: number;
}

/** The GEMM of a convolution's pass (per group). */
export function gemmOf(g: ConvGeometry, mode: ConvMode): Gemm {
  const cinG = g.cin / g.groups, coutG = g.cout / g.groups, khw = g.kh * g.kw;
  if (mode === "forward") return { m: coutG, n: g.batch * g.oh * g.ow, k: cinG * khw };
  if (mode === "backwardData") return { m: cinG, n: g.batch * g.h * g.w, k: coutG * khw };
  return { m: coutG, n: cinG * khw, k: g.batch * g.oh * g.ow };
}

/** Whether the convolution is a 1×1 kernel at unit stride without padding. */
export function isPointwise(g: ConvGeometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.ph === 0 && g.pw === 0;
}

/**
 * The first 15 `Params` fields every convolution kernel shares, in their declaration order:
 * batch, cin, h, w, cout, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw.
 */
export function geometryParams(g: ConvGeometry): number[] {
  return [
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
}
