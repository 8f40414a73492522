import { assert, assertClose, type FixtureArray, loadFixture } from "../../_assert.ts";
import { Conv2d } from "../../../lib/nn/conv.ts";
import { Tensor, tidy } from "../../../lib/autograd/tensor.ts";
import { gpuTest } from "../../_gpu.ts";
import { skipInit } from "../../../lib/nn/init.ts";
import "../../../lib/models/mod.ts";
import { BACKBONES } from "../../../lib/models/registry.ts";
import type { SSDVGG } from "../../../lib/models/backbones/ssd_vgg.ts";

const SSD300_VGG = {
  type: "SSDVGG",
  depth: 16,
  with_last_pool: false,
  ceil_mode: true,
  out_indices: [3, 4],
  out_feature_indices: [22, 34],
};

gpuTest(
  "SSDVGG (VGG16): mmdetection's features.N keys and shapes, 20,483,904 parameters",
  () => {
    const m = skipInit(() => BACKBONES.build(SSD300_VGG)) as unknown as SSDVGG;
    const convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28, 31, 33];
    const want = convs.flatMap((i) => [`features.${i}.weight`, `features.${i}.bias`]);
    const got = m.namedParameters().map(([n]) => n);
    assert.deepEqual(got, want);
    const shapes = Object.fromEntries(m.namedParameters().map(([n, p]) => [n, p.shape]));
    assert.deepEqual(shapes["features.0.weight"], [64, 3, 3, 3]);
    assert.deepEqual(shapes["features.21.weight"], [512, 512, 3, 3]); // conv4_3
    assert.deepEqual(shapes["features.31.weight"], [1024, 512, 3, 3]); // conv6 (dilated)
    assert.deepEqual(shapes["features.33.weight"], [1024, 1024, 1, 1]); // conv7
    // VGG16 convs 14,714,688 + conv6 4,719,616 + conv7 1,049,600
    assert.equal(m.namedParameters().reduce((s, [, p]) => s + p.size, 0), 20_483_904);
    assert.equal(m.features.length, 35);
    m.dispose();
  },
);

gpuTest(
  "SSDVGG forward: ceil-mode pools, pool5 3×3/1, dilated conv6; outputs after conv4_3 and conv7 ReLUs",
  async () => {
    const m = BACKBONES.build(SSD300_VGG) as unknown as SSDVGG;
    // 20 → 10 → 5 → 3 (ceil) → conv4_3 at 3×3 → 2 (ceil) → conv7 at 2×2 (floor mode: 2 and 1)
    const x = Tensor.from(Float32Array.from({ length: 3 * 20 * 20 }, (_, i) => Math.sin(i)), [
      1,
      3,
      20,
      20,
    ]);
    const outs = tidy(() => m.forward(x));
    assert.deepEqual(outs.map((o) => o.shape), [[1, 512, 3, 3], [1, 1024, 2, 2]]);
    for (const o of outs) {
      const v = await o.toArray() as Float32Array;
      assert.ok(v.every((t) => Number.isFinite(t) && t >= 0), "ReLU outputs are finite, ≥ 0");
      assert.ok(v.some((t) => t > 0), "some activations are positive");
    }
    for (const t of [x, ...outs]) t.dispose();
    assert.throws(
      () => BACKBONES.build({ ...SSD300_VGG, l2_norm_scale: 20 }),
      /moved to SSDNeck/,
    );
    assert.throws(() => BACKBONES.build({ ...SSD300_VGG, depth: 15 }), /depth 15/);
    m.dispose();
  },
);

gpuTest(
  "SSDVGG forward equals the PyTorch layer stack (tools/gen_ssd_fixtures.py, sin-pattern weights, 20×20 input)",
  async () => {
    const fx = await loadFixture<{ shapes: number[][]; samples: FixtureArray[] }>(
      "models/ssd_vgg_forward.json",
    );
    const m = skipInit(() => BACKBONES.build(SSD300_VGG)) as unknown as SSDVGG;
    const sd: Record<string, { dtype: "f32"; shape: number[]; data: Float32Array<ArrayBuffer> }> =
      {};
    m.features.items.forEach((layer, i) => {
      if (!(layer instanceof Conv2d)) return;
      const w = layer.weight, fanIn = w.shape[1] * w.shape[2] * w.shape[3];
      const scale = 2 / Math.sqrt(fanIn);
      sd[`features.${i}.weight`] = {
        dtype: "f32",
        shape: [...w.shape],
        data: Float32Array.from({ length: w.size }, (_, j) => scale * Math.sin(0.37 * j + 0.1 * i)),
      };
      sd[`features.${i}.bias`] = {
        dtype: "f32",
        shape: [layer.outChannels],
        data: Float32Array.from({ length: layer.outChannels }, (_, j) => 0.01 * Math.sin(j + i)),
      };
    });
    m.loadStateDict(sd);
    const x = Tensor.from(Float32Array.from({ length: 3 * 20 * 20 }, (_, i) => Math.sin(i)), [
      1,
      3,
      20,
      20,
    ]);
    const outs = tidy(() => m.forward(x));
    assert.deepEqual(outs.map((o) => o.shape), fx.shapes);
    for (let k = 0; k < 2; k++) {
      const v = await outs[k].toArray() as Float32Array;
      const got = v.filter((_, i) => i % 7 === 0);
      const e = fx.samples[k].data;
      const scale = Math.max(...e.map(Math.abs));
      assertClose(got, e, { rtol: 1e-3, atol: 1e-4 * scale, msg: `output ${k}` });
    }
    for (const t of [x, ...outs]) t.dispose();
    m.dispose();
  },
);
