import { Conv2d } from "../../lib/nn/conv.ts";
import {
  biasInitWithProb,
  calculateFans,
  calculateGain,
  constantInit,
  kaimingInit,
  normalInit,
  setSeed,
  skipInit,
  xavierInit,
} from "../../lib/nn/init.ts";
import { assert, assertClose } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";

function stats(a: Float32Array): { mean: number; std: number; min: number; max: number } {
  let s = 0, s2 = 0, min = Infinity, max = -Infinity;
  for (const v of a) {
    s += v;
    s2 += v * v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = s / a.length;
  return { mean, std: Math.sqrt(s2 / a.length - mean * mean), min, max };
}

Deno.test("biasInitWithProb(0.01) is mmcv's −4.59511985013459", () => {
  assertClose(biasInitWithProb(0.01), -4.59511985013459, { rtol: 1e-14, atol: 0 });
  assert.equal(biasInitWithProb(0.5), -0);
  assert.throws(() => biasInitWithProb(1), /prior probability must lie in \(0, 1\)/);
});

Deno.test("calculateFans and calculateGain follow PyTorch", () => {
  assert.deepEqual(calculateFans([64, 32, 3, 3]), { fanIn: 288, fanOut: 576 });
  assert.deepEqual(calculateFans([10, 20]), { fanIn: 20, fanOut: 10 });
  assert.equal(calculateGain("relu"), Math.SQRT2);
  assertClose(calculateGain("leaky_relu", 0.1), Math.sqrt(2 / 1.01), { rtol: 1e-15 });
  assert.throws(() => calculateFans([4]), /at least 2 dimensions/);
});

gpuTest(
  "kaimingInit draws N(0, 2/fan_out) by default and respects mode and distribution",
  async () => {
    setSeed(11);
    const conv = new Conv2d({ inChannels: 16, outChannels: 64, kernelSize: 3 });
    kaimingInit(conv);
    let s = stats(await conv.weight.toArray() as Float32Array);
    assertClose(s.std, Math.sqrt(2 / (64 * 9)), { rtol: 0.05, msg: "fan_out std" });
    assert.ok(Math.abs(s.mean) < 0.005);
    assert.ok((await conv.bias!.toArray()).every((v) => v === 0), "bias 0");
    kaimingInit(conv, { mode: "fan_in", distribution: "uniform" });
    s = stats(await conv.weight.toArray() as Float32Array);
    const bound = Math.SQRT2 * Math.sqrt(3 / (16 * 9));
    assert.ok(
      s.max <= bound && s.min >= -bound && s.max > 0.95 * bound,
      `uniform within ±${bound}`,
    );
    conv.dispose();
  },
);

gpuTest("xavierInit, normalInit and constantInit set weights and biases as mmcv", async () => {
  setSeed(12);
  const conv = new Conv2d({ inChannels: 8, outChannels: 8, kernelSize: 3 });
  xavierInit(conv, { distribution: "uniform", bias: 0.5 });
  let s = stats(await conv.weight.toArray() as Float32Array);
  const a = Math.sqrt(6 / (72 + 72));
  assert.ok(s.max <= a && s.min >= -a && s.max > 0.9 * a);
  assert.ok((await conv.bias!.toArray()).every((v) => v === 0.5));
  normalInit(conv, { std: 0.01, bias: -4.59511985013459 });
  s = stats(await conv.weight.toArray() as Float32Array);
  assertClose(s.std, 0.01, { rtol: 0.1 });
  assertClose(await conv.bias!.toArray(), new Float32Array(8).fill(-4.59511985013459));
  constantInit(conv, 2, { bias: 3 });
  assert.ok((await conv.weight.toArray()).every((v) => v === 2));
  assert.ok((await conv.bias!.toArray()).every((v) => v === 3));
  conv.dispose();
});

gpuTest(
  "setSeed makes initialisation reproducible and skipInit leaves parameters untouched",
  async () => {
    setSeed(5);
    const a = new Conv2d({ inChannels: 4, outChannels: 4, kernelSize: 3 });
    setSeed(5);
    const b = new Conv2d({ inChannels: 4, outChannels: 4, kernelSize: 3 });
    const c = new Conv2d({ inChannels: 4, outChannels: 4, kernelSize: 3 });
    const [wa, wb, wc] = await Promise.all([
      a.weight.toArray(),
      b.weight.toArray(),
      c.weight.toArray(),
    ]);
    assert.deepEqual(wa, wb);
    assert.notDeepEqual(wb, wc);
    // PyTorch's default: U(−1/√fan_in, 1/√fan_in)
    assert.ok(wa.every((v) => Math.abs(v) <= 1 / 6));
    const d = skipInit(() => {
      const m = new Conv2d({ inChannels: 4, outChannels: 4, kernelSize: 3 });
      kaimingInit(m);
      return m;
    });
    assert.ok((await d.weight.toArray()).every((v) => v === 0));
    for (const m of [a, b, c, d]) m.dispose();
  },
);
