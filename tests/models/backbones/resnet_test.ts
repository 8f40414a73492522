import * as F from "../../../lib/autograd/functional.ts";
import { backward } from "../../../lib/autograd/tape.ts";
import { Tensor, tidy } from "../../../lib/autograd/tensor.ts";
import { setSeed, skipInit } from "../../../lib/nn/init.ts";
import { BatchNorm2d } from "../../../lib/nn/norm.ts";
import { ResNet, type ResNetCfg } from "../../../lib/models/backbones/resnet.ts";
import { BACKBONES } from "../../../lib/models/registry.ts";
import { assert, assertClose } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import { loadModelFixture, scaledAtol } from "../_model_fixture.ts";

const fx18 = await loadModelFixture("retinanet_r18_tiny");
const fx50 = await loadModelFixture("retinanet_r50_tiny");

function backboneState(sd: Record<string, import("../../../lib/nn/module.ts").HostTensor>) {
  return Object.fromEntries(
    Object.entries(sd).filter(([k]) => k.startsWith("backbone.")).map(([k, v]) => [k.slice(9), v]),
  );
}

function build(cfg: ResNetCfg, fx: typeof fx18): ResNet {
  const r = skipInit(() => BACKBONES.build({ type: "ResNet", ...cfg })) as ResNet;
  r.loadStateDict(backboneState(fx.stateDict));
  return r;
}

async function checkStages(
  r: ResNet,
  fx: typeof fx18,
  prefix: string,
  train = false,
): Promise<void> {
  const x = fx.ref.input;
  const outs = tidy(() => r.forward(Tensor.from(x.data, x.shape)));
  const hosts = await Promise.all(outs.map((t) => t.toArray()));
  for (let i = 0; i < 4; i++) {
    const ref = fx.ref[`${prefix}backbone.${i}`];
    assert.deepEqual([...outs[i].shape], ref.shape, `stage ${i} shape`);
    assertClose(hosts[i], ref.data, {
      rtol: 1e-4,
      atol: scaledAtol(ref.data),
      msg: `${train ? "train " : ""}stage ${i}`,
    });
  }
  outs.forEach((t) => t.dispose());
}

Deno.test("ResNet rejects an invalid depth and unsupported options with clear errors", () => {
  assert.throws(
    () => new ResNet({ depth: 19 }),
    /invalid depth 19: use one of 18, 34, 50, 101, 152/,
  );
  assert.throws(
    () => new ResNet({ depth: 18, deep_stem: true }),
    /deep_stem=true is not supported/,
  );
  assert.throws(
    () => new ResNet({ depth: 18, out_indices: [4] }),
    /out_indices \[4\] must lie in \[0, 4\)/,
  );
});

gpuTest("ResNet-18 (base 8) stage outputs match PyTorch in eval mode", async () => {
  const r = build({ depth: 18, base_channels: 8 }, fx18).eval();
  await checkStages(r, fx18, "out.");
  r.dispose();
});

gpuTest("ResNet-50 (base 8) stage outputs match PyTorch in eval mode", async () => {
  const r = build({ depth: 50, base_channels: 8 }, fx50).eval();
  await checkStages(r, fx50, "out.");
  r.dispose();
});

gpuTest(
  "ResNet-18 train mode without norm_eval uses batch statistics and updates running stats as PyTorch",
  async () => {
    const r = build({ depth: 18, base_channels: 8, norm_eval: false, frozen_stages: -1 }, fx18)
      .train();
    await checkStages(r, fx18, "train.out.", true);
    const sd = await r.stateDict();
    for (const k of ["bn1", "layer1.0.bn2", "layer4.1.bn2", "layer3.0.downsample.1"]) {
      for (const s of ["running_mean", "running_var"]) {
        const ref = fx18.ref[`train.backbone.${k}.${s}`];
        assertClose(sd[`${k}.${s}`].data, ref.data, { rtol: 1e-4, atol: 1e-5, msg: `${k}.${s}` });
      }
      assert.equal(sd[`${k}.num_batches_tracked`].data[0], 1, `${k}.num_batches_tracked`);
    }
    r.dispose();
  },
);

gpuTest(
  "ResNet frozen_stages and norm_eval: no gradient to frozen parameters, running stats untouched",
  async () => {
    const r = build({ depth: 18, base_channels: 8, frozen_stages: 1, norm_eval: true }, fx18);
    r.train();
    // every BN is in eval mode; the stem and layer1 are frozen, later stages train
    for (const [name, m] of r.namedModules()) {
      if (m instanceof BatchNorm2d) assert.equal(m.training, false, `${name} in eval mode`);
    }
    const frozen = r.namedParameters().filter(([n]) => /^(conv1|bn1|layer1)\./.test(n));
    const live = r.namedParameters().filter(([n]) => !/^(conv1|bn1|layer1)\./.test(n));
    assert.ok(
      frozen.length > 0 && frozen.every(([, p]) => !p.requiresGrad),
      "stem and layer1 are frozen",
    );
    assert.ok(
      live.every(([, p]) => p.requiresGrad),
      "layer2..4 (BN affine included) are trainable",
    );
    const before = await r.stateDict();
    const x = fx18.ref.input;
    tidy(() => {
      const outs = r.forward(Tensor.from(x.data, x.shape));
      backward(outs.map((o) => F.sum(o)).reduce((a, b) => F.add(a, b)));
    });
    for (const [n, p] of frozen) assert.equal(p.grad, null, `${n} has no gradient`);
    for (const [n, p] of live) assert.ok(p.grad, `${n} has a gradient`);
    const after = await r.stateDict();
    for (const k of Object.keys(before).filter((k) => /running_|num_batches/.test(k))) {
      assert.deepEqual(after[k].data, before[k].data, `${k} unchanged`);
    }
    // train(false) then train(true) re-applies freezing and norm_eval
    r.eval().train();
    assert.equal(r.bn1.training, false);
    assert.equal((r.resLayers[3].items[0] as unknown as { bn1: BatchNorm2d }).bn1.training, false);
    for (const [, p] of r.namedParameters()) p.grad?.dispose();
    r.dispose();
  },
);

gpuTest(
  "ResNet-50 state-dict keys are torchvision's and frozen_stages=1 freezes 225,344 parameters",
  async () => {
    const keys = JSON.parse(
      await Deno.readTextFile(
        new URL("../../fixtures/models/retinanet_r50_fpn_1x_coco_keys.json", import.meta.url),
      ),
    );
    const r = skipInit(() => new ResNet({ depth: 50, frozen_stages: 1 }));
    const expected = (keys.keys as [string, number[]][]).filter(([k]) => k.startsWith("backbone."))
      .map(([k, s]) => [k.slice(9), s]);
    const mine = new Map([...r.stateTensors()].map(([k, t]) => [k, [...t.shape]]));
    assert.deepEqual(new Set(mine.keys()), new Set(expected.map(([k]) => k)));
    for (const [k, s] of expected) assert.deepEqual(mine.get(k as string), s, `${k} shape`);
    const { total, trainable } = r.numParameters();
    assert.equal(total, 23508032);
    assert.equal(total - trainable, 225344);
    r.dispose();
  },
);

gpuTest(
  "ResNet style, strides, dilations, num_stages, out_indices and norm_cfg.requires_grad shape the network as mmdet",
  async () => {
    const caffe = skipInit(() =>
      new ResNet({
        depth: 50,
        base_channels: 2,
        style: "caffe",
        num_stages: 3,
        strides: [1, 2, 1],
        dilations: [1, 1, 2],
        out_indices: [0, 2],
        norm_cfg: { type: "BN", requires_grad: false },
      })
    );
    const b = caffe.resLayers[1].items[0] as unknown as {
      conv1: { stride: number[] };
      conv2: { stride: number[] };
    };
    assert.deepEqual(
      [b.conv1.stride, b.conv2.stride],
      [[2, 2], [1, 1]],
      "caffe: stride on the first 1×1",
    );
    const d = caffe.resLayers[2].items[1] as unknown as {
      conv2: { dilation: number[]; padding: number[] };
    };
    assert.deepEqual([d.conv2.dilation, d.conv2.padding], [[2, 2], [2, 2]]);
    assert.equal(caffe.resLayers.length, 3);
    assert.ok(
      caffe.namedParameters().filter(([n]) => /bn\d?\.|downsample\.1\./.test(n)).every(([, p]) =>
        !p.requiresGrad
      ),
      "BN affine frozen by requires_grad false",
    );
    const x = Tensor.from(new Float32Array(3 * 32 * 32).fill(0.5), [1, 3, 32, 32]);
    const outs = tidy(() => caffe.eval().forward(x));
    assert.deepEqual(
      outs.map((o) => [...o.shape]),
      [[1, 8, 8, 8], [1, 32, 4, 4]],
      "stride 1 + dilation keeps stage 3 at 1/8",
    );
    const pyt = skipInit(() => new ResNet({ depth: 50, base_channels: 2 }));
    const p = pyt.resLayers[1].items[0] as unknown as {
      conv1: { stride: number[] };
      conv2: { stride: number[] };
    };
    assert.deepEqual(
      [p.conv1.stride, p.conv2.stride],
      [[1, 1], [2, 2]],
      "pytorch: stride on the 3×3",
    );
    for (const t of [x, ...outs]) t.dispose();
    caffe.dispose();
    pyt.dispose();
  },
);

gpuTest(
  "ResNet init without a checkpoint: kaiming-normal (fan_out) convs, norm weight 1, zero_init_residual zeroes the last norm of each block",
  async () => {
    setSeed(21);
    const r = new ResNet({ depth: 50, base_channels: 8, frozen_stages: -1 });
    const sd = await r.stateDict();
    const w = sd["layer3.0.conv2.weight"].data; // [32, 32, 3, 3]: fan_out 288
    let s2 = 0;
    for (const v of w) s2 += v * v;
    assertClose(Math.sqrt(s2 / w.length), Math.sqrt(2 / 288), { rtol: 0.05, msg: "kaiming std" });
    assert.ok(
      sd["bn1.weight"].data.every((v) => v === 1) &&
        sd["layer2.1.bn1.bias"].data.every((v) => v === 0),
    );
    assert.ok(sd["layer2.1.bn3.weight"].data.every((v) => v === 0), "bn3 zero-initialised");
    assert.ok(
      sd["layer2.0.downsample.1.weight"].data.every((v) => v === 1),
      "shortcut norm stays 1",
    );
    r.dispose();
  },
);
