// Conv → frozen BatchNorm (→ ReLU) folded into the conv epilogue (lib/nn/conv_bn.ts) against the
// unfused conv → BN(eval) → affine path: outputs and every gradient, op by op and for a whole
// R-50-style ResNet with norm_eval.
import { backward } from "../../lib/autograd/tape.ts";
import { Tensor, tidy } from "../../lib/autograd/tensor.ts";
import * as F from "../../lib/autograd/functional.ts";
import { Conv2d } from "../../lib/nn/conv.ts";
import { convNorm, foldsIntoConv, setConvBnFusion } from "../../lib/nn/conv_bn.ts";
import { ConvModule } from "../../lib/nn/conv_module.ts";
import type { HostTensor, Module } from "../../lib/nn/module.ts";
import { BatchNorm2d } from "../../lib/nn/norm.ts";
import { canFuseResidual, setResidualFusion } from "../../lib/ops/batch_norm.ts";
import { ResNet } from "../../lib/models/backbones/resnet.ts";
import { Rng } from "../../lib/utils/rng.ts";
import { assert, assertClose } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";

function randn(n: number, rng: Rng, scale = 1, shift = 0): Float32Array<ArrayBuffer> {
  return Float32Array.from({ length: n }, () => shift + scale * rng.normal());
}

/** Random BN statistics and affine parameters (variance in [0.25, 2.25]) for every BN of `m`. */
function randomizeBns(m: Module, rng: Rng): void {
  const sd: Record<string, HostTensor> = {};
  for (const [name, mod] of m.namedModules()) {
    if (!(mod instanceof BatchNorm2d)) continue;
    const c = mod.numFeatures, p = name ? `${name}.` : "";
    const put = (k: string, d: Float32Array<ArrayBuffer>) =>
      sd[p + k] = { dtype: "f32", shape: [c], data: d };
    put("running_mean", randn(c, rng, 0.5));
    put("running_var", Float32Array.from({ length: c }, () => 0.25 + 2 * rng.uniform()));
    if (mod.weight) put("weight", randn(c, rng, 0.5, 1));
    if (mod.bias) put("bias", randn(c, rng, 0.3));
  }
  m.loadStateDict(sd, { strict: false });
}

/** Asserts two arrays agree to 1e-5 of their largest magnitude (plus 1e-5 relative). */
function close(a: ArrayLike<number>, b: ArrayLike<number>, msg: string): void {
  let mx = 0;
  for (let i = 0; i < b.length; i++) mx = Math.max(mx, Math.abs(b[i]));
  assertClose(a, b, { rtol: 1e-5, atol: 1e-5 * Math.max(mx, 1e-6), msg });
}

interface Run {
  y: Float32Array;
  grads: Map<string, Float32Array | null>;
  dispatches: number;
}

/** Forward (loss Σ y·r), backward; returns the output, named gradients and the dispatch count. */
async function run(
  fused: boolean,
  params: [string, Tensor][],
  x: Tensor,
  f: (x: Tensor) => Tensor,
  gpu: { stats(): { dispatches: number } },
): Promise<Run> {
  const prev = setConvBnFusion(fused);
  try {
    for (const [, p] of params) {
      p.grad?.dispose();
      p.grad = null;
    }
    x.grad?.dispose();
    x.grad = null;
    const d0 = gpu.stats().dispatches;
    const y = tidy(() => {
      const y = f(x);
      const r = Tensor.from(randn(y.size, new Rng(99)), y.shape);
      backward(F.sum(F.mul(y, r)));
      return y;
    });
    const dispatches = gpu.stats().dispatches - d0;
    const grads = new Map<string, Float32Array | null>();
    for (const [k, p] of [["x", x] as [string, Tensor], ...params]) {
      grads.set(k, p.grad ? Float32Array.from(await p.grad.toArray()) : null);
    }
    const out = Float32Array.from(await y.toArray());
    y.dispose();
    return { y: out, grads, dispatches };
  } finally {
    setConvBnFusion(prev);
  }
}

function compare(a: Run, b: Run, what: string): void {
  close(a.y, b.y, `${what} output`);
  for (const [k, g] of b.grads) {
    const h = a.grads.get(k) ?? null;
    assert.equal(h === null, g === null, `${what} ${k}: gradient present in one path only`);
    if (g && h) close(h, g, `${what} grad ${k}`);
  }
}

gpuTest(
  "convNorm folds an eval-mode BN into the conv: output and gradients of x, w, γ, β equal the unfused path",
  async (gpu) => {
    const rng = new Rng(5);
    const cases = [
      { n: 2, cin: 3, cout: 5, h: 9, w: 7, k: 3, stride: 1, pad: 1, relu: true, frozen: false },
      { n: 2, cin: 4, cout: 6, h: 10, w: 11, k: 3, stride: 2, pad: 1, relu: false, frozen: false },
      { n: 1, cin: 6, cout: 8, h: 8, w: 8, k: 1, stride: 2, pad: 0, relu: true, frozen: true },
      { n: 3, cin: 5, cout: 4, h: 7, w: 6, k: 1, stride: 1, pad: 0, relu: false, frozen: true },
      {
        n: 2,
        cin: 8,
        cout: 8,
        h: 6,
        w: 6,
        k: 3,
        stride: 1,
        pad: 1,
        relu: true,
        frozen: false,
        g: 2,
      },
    ];
    for (const c of cases) {
      const what = JSON.stringify(c);
      const conv = new Conv2d({
        inChannels: c.cin,
        outChannels: c.cout,
        kernelSize: c.k,
        stride: c.stride,
        padding: c.pad,
        groups: c.g ?? 1,
        bias: false,
      });
      const bn = new BatchNorm2d({ numFeatures: c.cout, requiresGrad: !c.frozen });
      randomizeBns(bn, rng);
      bn.eval();
      conv.weight.requiresGrad = true;
      assert.ok(foldsIntoConv(conv, bn), `${what}: the eval-mode BN must fold`);
      const x = Tensor.from(randn(c.n * c.cin * c.h * c.w, rng), [c.n, c.cin, c.h, c.w], {
        requiresGrad: true,
      });
      const params: [string, Tensor][] = [["w", conv.weight], ["gamma", bn.weight!], [
        "beta",
        bn.bias!,
      ]];
      const f = (t: Tensor) => convNorm(conv, bn, t, c.relu ? "relu" : "none");
      const fused = await run(true, params, x, f, gpu);
      const plain = await run(false, params, x, f, gpu);
      compare(fused, plain, what);
      if (c.frozen) {
        assert.equal(fused.grads.get("gamma"), null, `${what}: frozen γ has no gradient`);
        assert.equal(fused.grads.get("beta"), null, `${what}: frozen β has no gradient`);
      } else assert.ok(fused.grads.get("gamma"), `${what}: γ has a gradient`);
      assert.ok(
        fused.dispatches < plain.dispatches,
        `${what}: ${fused.dispatches} dispatches fused vs ${plain.dispatches} unfused`,
      );
      for (const t of [x, ...params.map(([, p]) => p)]) t.grad?.dispose();
      x.dispose();
      conv.dispose();
      bn.dispose();
    }
  },
);

gpuTest("convNorm keeps a training-mode BN and a conv with bias on the unfused path", () => {
  const conv = new Conv2d({ inChannels: 2, outChannels: 3, kernelSize: 1, bias: false });
  const withBias = new Conv2d({ inChannels: 2, outChannels: 3, kernelSize: 1 });
  const bn = new BatchNorm2d({ numFeatures: 3 });
  bn.train();
  assert.equal(foldsIntoConv(conv, bn), false, "training-mode BN");
  bn.eval();
  assert.equal(foldsIntoConv(conv, bn), true, "eval-mode BN");
  assert.equal(foldsIntoConv(withBias, bn), false, "conv with bias");
  const prev = setConvBnFusion(false);
  assert.equal(foldsIntoConv(conv, bn), false, "fusion off");
  setConvBnFusion(prev);
  for (const m of [conv, withBias, bn]) m.dispose();
});

gpuTest(
  "an R-50-style ResNet with norm_eval (training, frozen stem and stage 1) and a ConvModule: outputs and gradients equal with and without folding",
  async (gpu) => {
    const rng = new Rng(11);
    const net = new ResNet({
      depth: 50,
      base_channels: 4,
      frozen_stages: 1,
      norm_eval: true,
      out_indices: [1, 3],
      init_cfg: null,
    });
    randomizeBns(net, rng);
    net.train();
    const cm = new ConvModule({
      inChannels: 128,
      outChannels: 6,
      kernelSize: 3,
      padding: 1,
      normCfg: { type: "BN", requires_grad: true },
    });
    randomizeBns(cm, rng);
    cm.eval();
    const params = [
      ...net.namedParameters(),
      ...cm.namedParameters().map(([k, p]) => [`cm.${k}`, p] as [string, Tensor]),
    ].filter(([, p]) => p.requiresGrad);
    assert.ok(params.some(([k]) => k === "layer2.0.bn1.weight"), "stage-2 BN weights train");
    assert.ok(!params.some(([k]) => k.startsWith("layer1.")), "stage 1 is frozen");
    const x = Tensor.from(randn(2 * 3 * 32 * 32, rng), [2, 3, 32, 32]);
    const f = (t: Tensor) => {
      const [c3, c5] = net.forward(t);
      return F.add(F.sum(c3), F.sum(cm.forward(c5)));
    };
    const fused = await run(true, params, x, (t) => F.reshape(f(t), [1]), gpu);
    const plain = await run(false, params, x, (t) => F.reshape(f(t), [1]), gpu);
    compare(fused, plain, "ResNet-50/4 norm_eval");
    assert.ok(
      fused.dispatches < plain.dispatches,
      `${fused.dispatches} dispatches fused vs ${plain.dispatches} unfused`,
    );
    x.dispose();
    net.dispose();
    cm.dispose();
  },
);

gpuTest(
  "a training-mode ResNet-18 block with the shortcut and ReLU fused into BN's apply pass equals BN then addRelu (the 8-binding fallback): outputs, gradients, running stats",
  async (gpu) => {
    const rng = new Rng(17);
    const net = new ResNet({ depth: 18, base_channels: 4, norm_eval: false, init_cfg: null });
    randomizeBns(net, rng);
    net.train();
    const params = net.namedParameters().filter(([, p]) => p.requiresGrad);
    const x = Tensor.from(randn(2 * 3 * 32 * 32, rng), [2, 3, 32, 32]);
    const f = (t: Tensor) => F.reshape(F.sum(net.forward(t)[3]), [1]);
    const stats = async () => {
      const out: Float32Array[] = [];
      for (const [k, t] of net.stateTensors()) {
        if (k.endsWith("running_mean") || k.endsWith("running_var")) {
          out.push(Float32Array.from(await t.toArray()));
        }
      }
      return out;
    };
    const initial = await net.stateDict();
    const prev = setResidualFusion(true);
    try {
      const fusedOn = canFuseResidual();
      const fused = await run(true, params, x, f, gpu);
      const fusedStats = await stats();
      net.loadStateDict(initial);
      setResidualFusion(false);
      assert.ok(!canFuseResidual(), "setResidualFusion(false) turns the fusion off");
      const plain = await run(true, params, x, f, gpu);
      const plainStats = await stats();
      compare(fused, plain, "ResNet-18/4 training");
      for (let i = 0; i < plainStats.length; i++) {
        close(fusedStats[i], plainStats[i], `running statistics ${i}`);
      }
      if (fusedOn) {
        assert.ok(
          fused.dispatches < plain.dispatches,
          `${fused.dispatches} dispatches fused vs ${plain.dispatches} with addRelu`,
        );
      }
    } finally {
      setResidualFusion(prev);
      x.dispose();
      net.dispose();
    }
  },
);
