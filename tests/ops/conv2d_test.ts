import { assert, type FixtureArray, loadFixture } from "../_assert.ts";
import { closeTo } from "./_close.ts";
import { gpuTest } from "../_gpu.ts";
import { Tensor, tidy } from "../../lib/autograd/tensor.ts";
import { backward } from "../../lib/autograd/tape.ts";
import * as F from "../../lib/autograd/functional.ts";
import { conv2d } from "../../lib/autograd/cnn.ts";
import * as cv from "../../lib/ops/conv2d.ts";
import type { RawTensor } from "../../lib/gpu/raw_tensor.ts";
import type { Gpu } from "../../lib/gpu/runtime.ts";

interface ConvCase {
  name: string;
  opts: { stride: number; padding: number; dilation: number; groups: number; act: "none" | "relu" };
  arrays: Record<string, FixtureArray>;
}

const fixture = await loadFixture<{ cases: ConvCase[] }>("ops/conv2d.json");

function up(gpu: Gpu, a: FixtureArray): RawTensor {
  return gpu.upload(a.data, a.shape);
}

gpuTest(
  "conv2d() matches PyTorch's output and gradients for x, w and bias on every fixture case",
  async () => {
    for (const c of fixture.cases) {
      const A = c.arrays;
      const { y, grads } = tidy(() => {
        const x = Tensor.from(A.x.data, A.x.shape, { requiresGrad: true });
        const w = Tensor.from(A.w.data, A.w.shape, { requiresGrad: true });
        const b = A.b ? Tensor.from(A.b.data, A.b.shape, { requiresGrad: true }) : null;
        const y = conv2d(x, w, b, c.opts);
        backward(F.sum(F.mul(y, Tensor.from(A.gy.data, A.gy.shape))));
        return { y, grads: [x.grad!, w.grad!, b?.grad ?? null] };
      });
      closeTo(await y.toArray(), A.y, `${c.name} forward`);
      closeTo(await grads[0]!.toArray(), A.gx, `${c.name} grad x`);
      closeTo(await grads[1]!.toArray(), A.gw, `${c.name} grad w`);
      if (A.b) closeTo(await grads[2]!.toArray(), A.gb, `${c.name} grad bias`);
      y.dispose();
      for (const g of grads) g?.dispose();
    }
  },
);

// The 128×128 unrolled kernel takes ~15 s per pipeline to compile on lavapipe: there it runs two
// cases without epilogue overrides (3 pipelines), everywhere else every case.
const SLOW_ON_CPU = new Set(["u128x128r8x8k16"]);
const CPU_SUBSET = new Set(["k3_s2", "pad2"]);

for (const [variant, v] of Object.entries(cv.CONV2D_VARIANTS)) {
  const what = v.kind === "tiled" ? "tiled variant" : "direct variant";
  gpuTest(
    `conv2d ${what} ${variant} matches PyTorch in forward, backward data and backward filter${
      v.kind === "tiled" ? ", with and without split-K" : ""
    }`,
    async (gpu) => {
      const subset = SLOW_ON_CPU.has(variant) && gpu.info.isFallbackAdapter;
      for (const c of fixture.cases) {
        if (subset && !CPU_SUBSET.has(c.name)) continue;
        const A = c.arrays;
        gpu.beginScope();
        const x = up(gpu, A.x), w = up(gpu, A.w), gy = up(gpu, A.gy);
        const b = A.b ? up(gpu, A.b) : null;
        for (const splits of v.kind === "tiled" ? [1, 3] : [1]) {
          const o = { ...c.opts, variant, splits };
          const y = cv.conv2dForward(x, w, b, o);
          // for the ReLU cases the upstream gradient is masked as autograd would do
          let g = gy;
          if (c.opts.act === "relu") {
            const yv = await gpu.read(y), gv = Float32Array.from(A.gy.data);
            for (let i = 0; i < gv.length; i++) if (!(yv[i] > 0)) gv[i] = 0;
            g = gpu.upload(gv, A.gy.shape);
          }
          const [yh, gx, gw] = await gpu.readMany([
            y,
            cv.conv2dBackwardData(g, w, A.x.shape, o),
            cv.conv2dBackwardFilter(g, x, A.w.shape, o),
          ]);
          const tag = `${c.name} ${variant} splits ${splits}`;
          closeTo(yh, A.y, `${tag} forward`);
          closeTo(gx, A.gx, `${tag} backward data`);
          closeTo(gw, A.gw, `${tag} backward filter`);
        }
        gpu.endScope();
      }
    },
  );
}

gpuTest("conv2d epilogue fuses a per-channel scale and shift after the bias", async (gpu) => {
  const c = fixture.cases.find((k) => k.name === "k3_s1_bias")!;
  const A = c.arrays;
  const cout = A.w.shape[0];
  const scale = Float32Array.from({ length: cout }, (_, i) => 0.5 + i * 0.25);
  const shift = Float32Array.from({ length: cout }, (_, i) => i * 0.1 - 0.2);
  for (const splits of [1, 2]) {
    gpu.beginScope();
    const y = cv.conv2dForward(up(gpu, A.x), up(gpu, A.w), up(gpu, A.b), {
      ...c.opts,
      act: "relu",
      scale: gpu.upload(scale, [cout]),
      shift: gpu.upload(shift, [cout]),
      splits,
    });
    const hw = A.y.shape[2] * A.y.shape[3];
    const want = A.y.data.map((v, i) => {
      const ch = Math.floor(i / hw) % cout;
      return Math.max(v * scale[ch] + shift[ch], 0);
    });
    closeTo(await gpu.read(y), { data: want }, `scale/shift epilogue, splits ${splits}`);
    gpu.endScope();
  }
});

gpuTest("conv2d rejects an empty batch with a RangeError", (gpu) => {
  gpu.beginScope();
  const x = gpu.zeros([0, 3, 8, 8]), w = gpu.zeros([4, 3, 3, 3]);
  assert.throws(
    () => cv.conv2dForward(x, w, null),
    (e: Error) =>
      e instanceof RangeError && /empty batch/.test(e.message) && /\[0, 3, 8, 8\]/.test(e.message),
  );
  gpu.endScope();
});

gpuTest("conv2d rejects mismatched channels with a TypeError naming both shapes", (gpu) => {
  gpu.beginScope();
  const x = gpu.zeros([1, 5, 8, 8]), w = gpu.zeros([4, 3, 3, 3]);
  assert.throws(
    () => cv.conv2dForward(x, w, null),
    (e: Error) =>
      e instanceof TypeError && e.message.includes("[1, 5, 8, 8]") &&
      e.message.includes("[4, 3, 3, 3]"),
  );
  assert.throws(
    () => cv.conv2dForward(gpu.zeros([1, 4, 8, 8]), gpu.zeros([6, 3, 3, 3]), null, { groups: 2 }),
    TypeError,
  );
  assert.throws(
    () => cv.conv2dForward(gpu.zeros([1, 3, 8, 8]), w, gpu.zeros([5])),
    /bias has shape \[5\]/,
  );
  gpu.endScope();
});

gpuTest(
  "conv2d refuses an output larger than one storage binding with a clear RangeError",
  (gpu) => {
    gpu.beginScope();
    const x = gpu.zeros([1, 1, 1, 1]), w = gpu.zeros([1, 1, 1, 1]);
    const lim = gpu.info.limits.maxStorageBufferBindingSize;
    // a 1×1 input padded so much that the output exceeds the binding limit
    const pad = Math.ceil(Math.sqrt(lim / 4) / 2) + 1;
    assert.throws(
      () => cv.conv2dForward(x, w, null, { padding: pad }),
      (e: Error) =>
        e instanceof RangeError && e.message.includes("maxStorageBufferBindingSize") &&
        e.message.includes("reduce the batch size"),
    );
    assert.equal(gpu.stats().bytesLive >= 0, true);
    gpu.endScope();
  },
);

gpuTest(
  "conv2d rejects an input smaller than the kernel and bad options with RangeErrors",
  (gpu) => {
    gpu.beginScope();
    const w = gpu.zeros([2, 1, 3, 3]);
    assert.throws(
      () => cv.conv2dForward(gpu.zeros([1, 1, 2, 2]), w, null),
      /smaller than the dilated kernel/,
    );
    assert.throws(
      () => cv.conv2dForward(gpu.zeros([1, 1, 5, 5]), w, null, { stride: 0 }),
      RangeError,
    );
    assert.throws(
      () => cv.conv2dForward(gpu.zeros([1, 1, 5, 5]), w, null, { variant: "nope" }),
      /variant "nope"/,
    );
    gpu.endScope();
  },
);
