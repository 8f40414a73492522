/**
 * Batched matrix multiplication on `kernels/matmul.wgsl` (strided operands: transposes and a
 * broadcast batch cost no copy).
 *
 * @module
 */
import matmulSrc from "../../kernels/matmul.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { defineKernel, kernelParams } from "../gpu/kernel_params.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";
import { gemm } from "./conv2d.ts";
import { batchTranspose } from "./conv2d_direct.ts";

const MATMUL_PARAMS = kernelParams([
  ["m", "u32"],
  ["n", "u32"],
  ["k", "u32"],
  ["batch", "u32"],
  ["sab", "u32"],
  ["sam", "u32"],
  ["sak", "u32"],
  ["sbb", "u32"],
  ["sbk", "u32"],
  ["sbn", "u32"],
  ["_p0", "u32"],
  ["_p1", "u32"],
]);
/** `kernels/matmul.wgsl`. */
export const MATMUL: KernelSpec = defineKernel(
  "matmul",
  matmulSrc,
  MATMUL_PARAMS,
  ["a", "bm", "c"],
);

/** Products with at least this many multiply-adds use the tuned GEMM path. */
export const GEMM_MIN_WORK = 64 * 64 * 64;

/** Options of {@linkcode matmul}. */
export interface MatmulOptions {
  /** Use Aᵀ: `a` is stored [.., K, M]. */
  transA?: boolean;
  /** Use Bᵀ: `b` is stored [.., N, K]. */
  transB?: boolean;
}

/**
 * `C = op(A) · op(B)` for `a` of rank 2 or 3 and `b` of rank 2 or 3; a rank-2 operand is shared by
 * every batch entry. Returns [M, N] or [batch, M, N].
 */
export function matmul(a: RawTensor, b: RawTensor, opts: MatmulOptions = {}): RawTensor {
  const ra = a.shape.length, rb = b.shape.length;
  if (ra < 2 || ra > 3 || rb < 2 || rb > 3) {
    throw new TypeError(
      `Cannot multiply ${fmtShape(a.shape)} by ${
        fmtShape(b.shape)
      }: operands must have rank 2 or 3`,
    );
  }
  if (a.dtype !== "f32" || b.dtype !== "f32") {
    throw new TypeError("Cannot multiply: matmul takes f32 operands");
  }
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const M = opts.transA ? ac : ar, K = opts.transA ? ar : ac;
  const Kb = opts.transB ? bc : br, N = opts.transB ? br : bc;
  if (K !== Kb) {
    throw new TypeError(
      `Cannot multiply ${fmtShape(a.shape)}${opts.transA ? "ᵀ" : ""} by ${fmtShape(b.shape)}${
        opts.transB ? "ᵀ" : ""
      }: inner dimensions ${K} and ${Kb} differ`,
    );
  }
  const ba = ra === 3 ? a.shape[0] : 1, bb = rb === 3 ? b.shape[0] : 1;
  if (ba !== bb && ba !== 1 && bb !== 1) {
    throw new TypeError(
      `Cannot multiply ${fmtShape(a.shape)} by ${
        fmtShape(b.shape)
      }: batch sizes ${ba} and ${bb} differ`,
    );
  }
  const batch = Math.max(ba, bb);
  // Large 2-D products go to the tuned convolution kernels (2.7–3× tfjs on lavapipe, see
  // bench/gemm_bench.ts); the strided kernel below serves batches and small sizes.
  if (ra === 2 && rb === 2 && M * N * K >= GEMM_MIN_WORK) {
    return gemm2d(a, b, M, N, !!opts.transA, !!opts.transB);
  }
  const gpu = getGpu();
  const outShape = ra === 3 || rb === 3 ? [batch, M, N] : [M, N];
  const c = gpu.empty(outShape, "f32", "matmul");
  if (K === 0) {
    gpu.clear(c);
    return c;
  }
  const sab = ra === 3 && ba > 1 ? ar * ac : 0;
  const [sam, sak] = opts.transA ? [1, ac] : [ac, 1];
  const sbb = rb === 3 && bb > 1 ? br * bc : 0;
  const [sbk, sbn] = opts.transB ? [1, bc] : [bc, 1];
  gpu.dispatch(MATMUL, {
    bindings: [a, b, c],
    params: MATMUL_PARAMS.pack({ m: M, n: N, k: K, batch, sab, sam, sak, sbb, sbk, sbn }),
    workgroups: [Math.ceil(N / 64), Math.ceil(M / 64), batch],
  });
  return c;
}

/** `t` [r, c] → a new [c, r] (one dispatch). */
function transpose2d(t: RawTensor): RawTensor {
  const [r, c] = t.shape;
  return batchTranspose(t, 1, r, c, true);
}

/**
 * `op(A) · op(B)` of 2-D operands on {@linkcode gemm}, a 1×1 convolution whose "pixels" are the
 * columns of its right operand: it is fast when those are many, so the product is taken as
 * `C = op(A)·op(B)` when N ≥ M and as `C = (op(B)ᵀ·op(A)ᵀ)ᵀ` otherwise, operands and result
 * transposed by one cheap dispatch each where their layout needs it (a Linear layer's `x·Wᵀ` of
 * 1024 RoIs × 1568 → 128: 239 → 58 ms, its weight gradient `gᵀ·x` 256 → 32 ms on lavapipe).
 */
function gemm2d(
  a: RawTensor,
  b: RawTensor,
  M: number,
  N: number,
  transA: boolean,
  transB: boolean,
): RawTensor {
  const temps: RawTensor[] = [];
  const stored = (t: RawTensor, transposed: boolean) => {
    if (!transposed) return t;
    const u = transpose2d(t);
    temps.push(u);
    return u;
  };
  let c: RawTensor;
  if (N >= M) {
    c = gemm(stored(a, transA), stored(b, transB));
  } else {
    // Cᵀ = op(B)ᵀ · op(A)ᵀ: op(B)ᵀ is B as stored when transB, op(A)ᵀ is A as stored when transA
    const ct = gemm(stored(b, !transB), stored(a, !transA));
    c = transpose2d(ct);
    ct.release();
  }
  for (const t of temps) t.release();
  return c;
}
