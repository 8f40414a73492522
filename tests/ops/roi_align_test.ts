import { assert, assertClose, type FixtureArray, loadFixture } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { Tensor, tidy } from "../../lib/autograd/tensor.ts";
import { backward } from "../../lib/autograd/tape.ts";
import * as F from "../../lib/autograd/functional.ts";
import { roiAlign, roiAlignLevels } from "../../lib/autograd/roi_align.ts";
import { getGpu } from "../../lib/gpu/runtime.ts";

interface Case {
  name: string;
  // deno-lint-ignore no-explicit-any
  opts: any;
  arrays: Record<string, FixtureArray>;
}

const fixture = await loadFixture<{ cases: Case[] }>("ops/roi_align.json");

/** 1e-5 absolute (the bound), plus 1e-5 relative for the larger gradient sums. */
function close(a: ArrayLike<number>, e: FixtureArray, msg: string): void {
  assertClose(a, e.data, { rtol: 1e-5, atol: 1e-5, msg });
}

const t = (a: FixtureArray, requiresGrad = false) => Tensor.from(a.data, a.shape, { requiresGrad });

gpuTest(
  "roiAlign() equals torchvision roi_align (aligned, sampling_ratio 0 and 2; borders, outside, sub-bin RoIs) forward and input gradient to 1e-5",
  async () => {
    const singles = fixture.cases.filter((c) => c.name !== "levels");
    assert.ok(singles.length >= 4);
    for (const c of singles) {
      const A = c.arrays;
      const { y, gx } = tidy(() => {
        const x = t(A.x, true);
        const y = roiAlign(x, t(A.rois), c.opts);
        backward(F.sum(F.mul(y, t(A.gy))));
        return { y, gx: x.grad! };
      });
      assert.deepEqual([...y.shape], A.y.shape, `${c.name} output shape`);
      close(await y.toArray(), A.y, `${c.name} forward`);
      close(await gx.toArray(), A.gx, `${c.name} grad x`);
      y.dispose();
      gx.dispose();
    }
  },
);

gpuTest(
  "roiAlignLevels() pools each RoI from its map_roi_levels level (as SingleRoIExtractor), gradients per level",
  async () => {
    const c = fixture.cases.find((c) => c.name === "levels")!;
    const A = c.arrays;
    const levels = new Set(A.levels.data);
    assert.equal(levels.size, 4, "the fixture uses every level");
    const before = getGpu().stats().readbacks;
    const { y, gxs } = tidy(() => {
      const xs = [0, 1, 2, 3].map((l) => t(A[`x${l}`], true));
      const y = roiAlignLevels(xs, t(A.rois), {
        outputSize: c.opts.outputSize,
        spatialScales: c.opts.spatialScales,
        finestScale: c.opts.finestScale,
      });
      backward(F.sum(F.mul(y, t(A.gy))));
      return { y, gxs: xs.map((x) => x.grad!) };
    });
    assert.equal(getGpu().stats().readbacks, before, "no readback while pooling");
    close(await y.toArray(), A.y, "levels forward");
    for (let l = 0; l < 4; l++) close(await gxs[l].toArray(), A[`gx${l}`], `levels grad x${l}`);
    y.dispose();
    for (const g of gxs) g.dispose();
  },
);

gpuTest("roiAlign() refuses bad rois, output sizes and sampling ratios with clear messages", () => {
  tidy(() => {
    const x = Tensor.zeros([1, 1, 4, 4]);
    const r = Tensor.zeros([2, 4]);
    assert.throws(() => roiAlign(x, r, { outputSize: [7, 7], spatialScale: 1 }), /\[K, 5\]/);
    const r5 = Tensor.zeros([2, 5]);
    assert.throws(() => roiAlign(x, r5, { outputSize: [0, 7], spatialScale: 1 }), /output_size/);
    assert.throws(
      () => roiAlign(x, r5, { outputSize: [7, 7], spatialScale: 1, samplingRatio: -1 }),
      /sampling_ratio/,
    );
  });
});

gpuTest(
  "roiAlign() forward and backward with 11 channels (more than one 8-channel group, a partial group) equal each channel pooled alone",
  async () => {
    const c = fixture.cases.find((c) => c.name === "sr0_7x7")!;
    const A = c.arrays;
    const [N, , H, W] = A.x.shape;
    const C = 11;
    const x = new Float32Array(N * C * H * W);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) + 0.1 * (i % 7);
    const K = A.rois.shape[0];
    const gy = new Float32Array(K * C * 49);
    for (let i = 0; i < gy.length; i++) gy[i] = Math.cos(i * 0.11);
    const grad = (xs: Float32Array, ch: number, g: Float32Array) =>
      tidy(() => {
        const xt = Tensor.from(xs, [N, ch, H, W], { requiresGrad: true });
        const y = roiAlign(xt, t(A.rois), c.opts);
        backward(F.sum(F.mul(y, Tensor.from(g, [K, ch, 7, 7]))));
        return xt.grad!;
      });
    const all = await grad(x, C, gy).toArray();
    const pooled = (xs: Float32Array, ch: number) =>
      tidy(() => roiAlign(Tensor.from(xs, [N, ch, H, W]), t(A.rois), c.opts));
    const yAll = await pooled(x, C).toArray();
    for (const ch of [0, 7, 8, 10]) {
      const xs = new Float32Array(N * H * W), gs = new Float32Array(K * 49);
      for (let n = 0; n < N; n++) {
        xs.set(x.subarray((n * C + ch) * H * W, (n * C + ch + 1) * H * W), n * H * W);
      }
      for (let k = 0; k < K; k++) {
        gs.set(gy.subarray((k * C + ch) * 49, (k * C + ch + 1) * 49), k * 49);
      }
      const yOne = await pooled(xs, 1).toArray();
      const yGot: number[] = [];
      for (let k = 0; k < K; k++) {
        yGot.push(...yAll.slice((k * C + ch) * 49, (k * C + ch + 1) * 49));
      }
      assertClose(yGot, yOne, { rtol: 0, atol: 0, msg: `forward, channel ${ch}` });
      const one = await grad(xs, 1, gs).toArray();
      const got: number[] = [];
      for (let n = 0; n < N; n++) {
        got.push(...all.slice((n * C + ch) * H * W, (n * C + ch + 1) * H * W));
      }
      assertClose(got, one, { rtol: 0, atol: 0, msg: `channel ${ch}` });
    }
  },
);
