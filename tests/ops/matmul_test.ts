// Large 2-D products take the tuned GEMM path (lib/ops/matmul.ts gemm2d), transposed operands and
// the flipped orientation (C = (op(B)ᵀ·op(A)ᵀ)ᵀ when M > N) included; small and batched ones the
// strided kernel. Every combination against a float64 product on the CPU.
import { assert, assertClose } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { getGpu } from "../../lib/gpu/runtime.ts";
import { GEMM_MIN_WORK, matmul } from "../../lib/ops/matmul.ts";

function data(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** op(A)·op(B) in float64, A stored [M, K] (or [K, M] when tA), B [K, N] (or [N, K] when tB). */
function reference(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  tA: boolean,
  tB: boolean,
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let q = 0; q < k; q++) {
        s += a[tA ? q * m + i : i * k + q] * b[tB ? j * k + q : q * n + j];
      }
      c[i * n + j] = s;
    }
  }
  return c;
}

gpuTest(
  "matmul: 2-D products of every transpose combination, M < N and M > N, and batches",
  async () => {
    const gpu = getGpu();
    const shapes = [[96, 80, 40], [40, 80, 96], [130, 70, 33], [3, 5, 4]];
    let seed = 1;
    for (const [m, k, n] of shapes) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          const ah = data(m * k, seed++), bh = data(k * n, seed++);
          const a = gpu.upload(ah, tA ? [k, m] : [m, k], "f32");
          const b = gpu.upload(bh, tB ? [n, k] : [k, n], "f32");
          const c = matmul(a, b, { transA: tA, transB: tB });
          assert.deepEqual(c.shape, [m, n]);
          const got = await gpu.read(c) as Float32Array;
          assertClose(Array.from(got), Array.from(reference(ah, bh, m, k, n, tA, tB)), {
            atol: 1e-4,
            rtol: 1e-4,
            msg: `${m}×${k}×${n} tA=${tA} tB=${tB}`,
          });
          for (const t of [a, b, c]) t.release();
        }
      }
    }
    assert.ok(96 * 80 * 40 >= GEMM_MIN_WORK, "the first shapes take the GEMM path");
    // a batch of 3 with a shared right operand: the strided kernel
    const [bt, m, k, n] = [3, 20, 9, 14];
    const ah = data(bt * m * k, 99), bh = data(n * k, 98);
    const a = gpu.upload(ah, [bt, m, k], "f32"), b = gpu.upload(bh, [n, k], "f32");
    const c = matmul(a, b, { transB: true });
    const got = await gpu.read(c) as Float32Array;
    for (let i = 0; i < bt; i++) {
      assertClose(
        Array.from(got.subarray(i * m * n, (i + 1) * m * n)),
        Array.from(reference(ah.subarray(i * m * k, (i + 1) * m * k), bh, m, k, n, false, true)),
        { atol: 1e-4, rtol: 1e-4, msg: `batch ${i}` },
      );
    }
    for (const t of [a, b, c]) t.release();
  },
);
