import * as F from "../../lib/autograd/functional.ts";
import { backward } from "../../lib/autograd/tape.ts";
import { Tensor, tidy } from "../../lib/autograd/tensor.ts";
import { buildConvLayer } from "../../lib/nn/conv.ts";
import { ConvModule } from "../../lib/nn/conv_module.ts";
import { setSeed } from "../../lib/nn/init.ts";
import { buildActivationLayer, MaxPool2d, ReLU, Sequential } from "../../lib/nn/layers.ts";
import { BatchNorm2d, buildNormLayer, GroupNorm } from "../../lib/nn/norm.ts";
import { Rng } from "../../lib/utils/rng.ts";
import { assert, assertClose } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";

function randn(n: number, seed: number, scale = 1, shift = 0): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => shift + scale * r.normal());
}

Deno.test("buildConvLayer, buildNormLayer and buildActivationLayer reject unsupported types clearly", () => {
  assert.throws(
    () => buildConvLayer({ type: "DCNv2" }, { inChannels: 1, outChannels: 1, kernelSize: 1 }),
    /Cannot build conv layer "DCNv2": only "Conv2d"/,
  );
  assert.throws(
    () => buildNormLayer({ type: "LN" }, 4),
    /norm_cfg.type must be one of BN, BN2d, SyncBN, GN/,
  );
  assert.throws(() => buildNormLayer({ type: "GN" }, 4), /norm_cfg needs "num_groups"/);
  assert.throws(() => buildActivationLayer({ type: "GELU" }), /only "ReLU" is supported/);
});

gpuTest("buildNormLayer names layers by abbreviation and postfix and applies requires_grad", () => {
  const [n1, bn] = buildNormLayer({ type: "BN", requires_grad: false }, 4, { postfix: 1 });
  assert.equal(n1, "bn1");
  assert.ok(bn instanceof BatchNorm2d);
  assert.equal(bn.weight!.requiresGrad, false);
  assert.deepEqual([...bn.stateTensors().keys()], [
    "weight",
    "bias",
    "running_mean",
    "running_var",
    "num_batches_tracked",
  ]);
  assert.equal(bn.buffer("num_batches_tracked").dtype, "i32");
  const [n2, gn] = buildNormLayer({ type: "GN", num_groups: 2 }, 4);
  assert.equal(n2, "gn");
  assert.ok(gn instanceof GroupNorm && gn.weight!.requiresGrad);
  bn.dispose();
  gn.dispose();
});

gpuTest(
  "ConvModule names children conv/bn/gn, drops the bias before a norm and keeps it without",
  () => {
    const a = new ConvModule({
      inChannels: 3,
      outChannels: 4,
      kernelSize: 3,
      padding: 1,
      normCfg: { type: "BN" },
    });
    assert.deepEqual([...a.stateTensors().keys()], [
      "conv.weight",
      "bn.weight",
      "bn.bias",
      "bn.running_mean",
      "bn.running_var",
      "bn.num_batches_tracked",
    ]);
    const b = new ConvModule({ inChannels: 3, outChannels: 4, kernelSize: 1, actCfg: null });
    assert.deepEqual([...b.stateTensors().keys()], ["conv.weight", "conv.bias"]);
    assert.equal(b.withActivation, false);
    const c = new ConvModule({
      inChannels: 4,
      outChannels: 4,
      kernelSize: 1,
      normCfg: { type: "GN", num_groups: 2 },
      bias: true,
    });
    assert.deepEqual([...c.stateTensors().keys()], [
      "conv.weight",
      "conv.bias",
      "gn.weight",
      "gn.bias",
    ]);
    for (const m of [a, b, c]) m.dispose();
  },
);

gpuTest("ConvModule forward equals conv → BN (eval) → ReLU composed by hand", async () => {
  setSeed(1);
  const m = new ConvModule({
    inChannels: 3,
    outChannels: 4,
    kernelSize: 3,
    padding: 1,
    normCfg: { type: "BN" },
  });
  m.loadStateDict({
    "bn.running_mean": { dtype: "f32", shape: [4], data: Float32Array.of(0.1, -0.2, 0.3, 0) },
    "bn.running_var": { dtype: "f32", shape: [4], data: Float32Array.of(0.5, 1.5, 2, 1) },
    "bn.weight": { dtype: "f32", shape: [4], data: Float32Array.of(1, 0.5, -1, 2) },
    "bn.bias": { dtype: "f32", shape: [4], data: Float32Array.of(0, 0.1, 0.2, -0.3) },
  }, { strict: false });
  m.eval();
  const x = Tensor.from(randn(2 * 3 * 5 * 6, 2), [2, 3, 5, 6]);
  const [y, z] = tidy(() => [m.forward(x), m.conv.forward(x)]);
  const [yh, zh] = await Promise.all([y.toArray(), z.toArray()]);
  const rm = [0.1, -0.2, 0.3, 0],
    rv = [0.5, 1.5, 2, 1],
    w = [1, 0.5, -1, 2],
    b = [0, 0.1, 0.2, -0.3];
  const want = Float64Array.from(zh, (v, i) => {
    const c = Math.floor(i / 30) % 4;
    return Math.max(0, (v - rm[c]) / Math.sqrt(rv[c] + 1e-5) * w[c] + b[c]);
  });
  assertClose(yh, want, { rtol: 1e-5, atol: 1e-6 });
  for (const t of [x, y, z]) t.dispose();
  m.dispose();
});

gpuTest(
  "BatchNorm2d in training mode normalises with batch statistics, updates running stats and counts batches",
  async () => {
    const bn = new BatchNorm2d({ numFeatures: 3, momentum: 0.1 });
    const xs = randn(2 * 3 * 4 * 5, 3, 2, 1);
    const x = Tensor.from(xs, [2, 3, 4, 5]);
    const y = tidy(() => bn.forward(x));
    const yh = await y.toArray();
    const sd = await bn.stateDict();
    for (let c = 0; c < 3; c++) {
      const vals: number[] = [];
      for (let n = 0; n < 2; n++) for (let i = 0; i < 20; i++) vals.push(xs[(n * 3 + c) * 20 + i]);
      const mean = vals.reduce((a, v) => a + v, 0) / 40;
      const varB = vals.reduce((a, v) => a + (v - mean) ** 2, 0) / 40;
      assertClose(sd.running_mean.data[c], 0.1 * mean, { rtol: 1e-4, atol: 1e-6 });
      assertClose(sd.running_var.data[c], 0.9 + 0.1 * varB * 40 / 39, { rtol: 1e-4, atol: 1e-6 });
      for (let n = 0; n < 2; n++) {
        for (let i = 0; i < 20; i++) {
          const k = (n * 3 + c) * 20 + i;
          assertClose(yh[k], (xs[k] - mean) / Math.sqrt(varB + 1e-5), { rtol: 1e-4, atol: 1e-5 });
        }
      }
    }
    assert.equal(sd.num_batches_tracked.data[0], 1);
    tidy(() => bn.forward(x));
    assert.equal((await bn.buffer("num_batches_tracked").toArray())[0], 2);
    for (const t of [x, y]) t.dispose();
    bn.dispose();
  },
);

gpuTest(
  "BatchNorm2d in eval mode passes gradients to weight and bias but not to the running stats",
  async () => {
    const bn = new BatchNorm2d({ numFeatures: 2 }).eval();
    const x = Tensor.from(randn(1 * 2 * 3 * 3, 4), [1, 2, 3, 3]);
    tidy(() => backward(F.sum(bn.forward(x, "relu"))));
    assert.ok(bn.weight!.grad && bn.bias!.grad);
    assert.equal(bn.buffer("running_mean").grad, null);
    const [gb] = await Promise.all([bn.bias!.grad!.toArray()]);
    // d/dβ Σ relu(x̂·1 + 0) = number of positive outputs per channel
    const xs = await x.toArray();
    const want = [0, 1].map((c) =>
      xs.slice(c * 9, c * 9 + 9).filter((v) => v / Math.sqrt(1 + 1e-5) > 0).length
    );
    assertClose(gb, want);
    bn.weight!.grad!.dispose();
    bn.bias!.grad!.dispose();
    x.dispose();
    bn.dispose();
  },
);

gpuTest(
  "Sequential chains modules under keys 0, 1, … and MaxPool2d/ReLU have no parameters",
  async () => {
    const seq = new Sequential([new ReLU(), new MaxPool2d({ kernelSize: 2 })]);
    assert.deepEqual(seq.children().map(([n]) => n), ["0", "1"]);
    assert.equal(seq.parameters().length, 0);
    const x = Tensor.from([-1, 2, 3, -4, 5, -6, -7, -8, 0, 1, 1, 0, -1, -2, 9, 3], [1, 1, 4, 4]);
    const y = tidy(() => seq.forward(x));
    assert.deepEqual([...y.shape], [1, 1, 2, 2]);
    assert.deepEqual([...await y.toArray()], [5, 3, 1, 9]);
    x.dispose();
    y.dispose();
  },
);
