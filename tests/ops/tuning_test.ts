import { assert, assertClose } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import * as cv from "../../lib/ops/conv2d.ts";
import {
  clearTuning,
  exportTuning,
  importTuning,
  loadTuningCache,
  saveTuningCache,
  tunedChoice,
} from "../../lib/ops/tuning.ts";
import { randomF32 } from "../_reference/conv_ref.ts";

gpuTest(
  "tuneConv2d() times the candidates, records the fastest per pass and the ops then use it",
  async (gpu) => {
    clearTuning();
    const xs = [1, 4, 6, 7], ws = [5, 4, 3, 3];
    const res = await cv.tuneConv2d(xs, ws, {
      padding: 1,
      candidates: ["t32x32r2x2k16", "d4x8w16ms"],
      minBatchMs: 2,
    });
    const g = cv.conv2dGeometry(xs, ws, { padding: 1 });
    for (const mode of ["forward", "backwardData", "backwardFilter"] as const) {
      const r = res[mode];
      assert.ok(r, `no tuning result for ${mode}`);
      assert.deepEqual(Object.keys(r.ms).sort(), ["d4x8w16ms", "t32x32r2x2k16"]);
      const fastest = Object.entries(r.ms).sort((a, b) => a[1] - b[1])[0][0];
      assert.equal(r.best, fastest);
      assert.equal(tunedChoice(cv.conv2dTuningKey(g, mode)), r.best);
    }
    // a tuned shape class still computes the right result
    gpu.beginScope();
    const xd = randomF32(3, 4 * 42), wd = randomF32(4, 5 * 36);
    const y = await gpu.read(
      cv.conv2dForward(gpu.upload(xd, xs), gpu.upload(wd, ws), null, { padding: 1 }),
    );
    const y2 = await gpu.read(
      cv.conv2dForward(gpu.upload(xd, xs), gpu.upload(wd, ws), null, {
        padding: 1,
        variant: "t64x64r4x4k16",
      }),
    );
    assertClose(y, y2, { rtol: 1e-5, atol: 1e-5 });
    gpu.endScope();
    clearTuning();
  },
);

gpuTest("tuning choices survive a JSON cache file and reject malformed files", async () => {
  clearTuning();
  importTuning({ "adapter|conv2d.forward|k3x3s1x1d1x1g1|M8|N64|K32": "d8x8w32m" });
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await saveTuningCache(path);
    clearTuning();
    assert.deepEqual(exportTuning(), {});
    assert.equal(await loadTuningCache(path), true);
    assert.equal(tunedChoice("adapter|conv2d.forward|k3x3s1x1d1x1g1|M8|N64|K32"), "d8x8w32m");
    await Deno.writeTextFile(path, "{not json");
    await assert.rejects(
      () => loadTuningCache(path),
      (e: Error) => e instanceof SyntaxError && e.message.includes(path),
    );
    await Deno.writeTextFile(path, JSON.stringify({ k: 3 }));
    await assert.rejects(() => loadTuningCache(path), TypeError);
  } finally {
    await Deno.remove(path);
  }
  assert.equal(await loadTuningCache(`${path}.missing`), false);
  clearTuning();
});

gpuTest(
  "gemm() equals the float64 product for odd sizes with tiled and direct variants",
  async (gpu) => {
    for (const [m, k, n] of [[5, 7, 9], [17, 33, 3], [1, 1, 1], [40, 3, 70]]) {
      const ad = randomF32(m + k, m * k), bd = randomF32(n + 7, k * n);
      const want = new Float64Array(m * n);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          for (let t = 0; t < k; t++) {
            want[i * n + j] += ad[i * k + t] * bd[t * n + j];
          }
        }
      }
      for (const variant of [undefined, "t64x64r4x4k16", "d8x8w64", "d4x8w16ms"]) {
        gpu.beginScope();
        const c = cv.gemm(gpu.upload(ad, [m, k]), gpu.upload(bd, [k, n]), { variant });
        assert.deepEqual([...c.shape], [m, n]);
        assertClose(await gpu.read(c), want, {
          rtol: 1e-5,
          atol: 1e-5,
          msg: `gemm ${m}x${k}x${n} ${variant}`,
        });
        gpu.endScope();
      }
    }
    gpu.beginScope();
    assert.throws(() => cv.gemm(gpu.zeros([2, 3]), gpu.zeros([4, 2])), /\[2, 3\].*\[4, 2\]/);
    gpu.endScope();
  },
);
