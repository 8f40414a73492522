import * as F from "../../../lib/autograd/functional.ts";
import { Tensor, tidy } from "../../../lib/autograd/tensor.ts";
import { setSeed, skipInit } from "../../../lib/nn/init.ts";
import type { HostTensor } from "../../../lib/nn/module.ts";
import { FPN, type FPNCfg } from "../../../lib/models/necks/fpn.ts";
import { NECKS } from "../../../lib/models/registry.ts";
import { Rng } from "../../../lib/utils/rng.ts";
import { assert, assertClose } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import { loadModelFixture, scaledAtol } from "../_model_fixture.ts";

const fx18 = await loadModelFixture("retinanet_r18_tiny");
const fx50 = await loadModelFixture("retinanet_r50_tiny");

function neckState(sd: Record<string, HostTensor>): Record<string, HostTensor> {
  return Object.fromEntries(
    Object.entries(sd).filter(([k]) => k.startsWith("neck.")).map(([k, v]) => [k.slice(5), v]),
  );
}

for (
  const [name, fx, chans] of [["ResNet-18", fx18, [8, 16, 32, 64]], ["ResNet-50", fx50, [
    32,
    64,
    128,
    256,
  ]]] as const
) {
  gpuTest(
    `FPN (start_level 1, on_input extra convs) on ${name} features matches PyTorch`,
    async () => {
      const fpn = skipInit(() =>
        NECKS.build({
          type: "FPN",
          in_channels: [...chans],
          out_channels: 16,
          start_level: 1,
          add_extra_convs: "on_input",
          num_outs: 5,
        })
      ) as FPN;
      fpn.loadStateDict(neckState(fx.stateDict));
      const outs = tidy(() =>
        fpn.forward(
          [0, 1, 2, 3].map((i) =>
            Tensor.from(fx.ref[`out.backbone.${i}`].data, fx.ref[`out.backbone.${i}`].shape)
          ),
        )
      );
      const hosts = await Promise.all(outs.map((t) => t.toArray()));
      for (let i = 0; i < 5; i++) {
        const ref = fx.ref[`out.neck.${i}`];
        assert.deepEqual([...outs[i].shape], ref.shape, `P${i + 3} shape`);
        assertClose(hosts[i], ref.data, {
          rtol: 1e-4,
          atol: scaledAtol(ref.data),
          msg: `P${i + 3}`,
        });
      }
      outs.forEach((t) => t.dispose());
      fpn.dispose();
    },
  );
}

gpuTest("FPN keys are mmdet's and convs are xavier-uniform with zero bias", async () => {
  setSeed(3);
  const fpn = new FPN({
    in_channels: [8, 16, 32, 64],
    out_channels: 16,
    start_level: 1,
    add_extra_convs: true,
    num_outs: 5,
  });
  const sd = await fpn.stateDict();
  assert.deepEqual(
    Object.keys(sd).sort(),
    [
      ...[0, 1, 2].flatMap((
        i,
      ) => [`lateral_convs.${i}.conv.bias`, `lateral_convs.${i}.conv.weight`]),
      ...[0, 1, 2, 3, 4].flatMap((i) => [`fpn_convs.${i}.conv.bias`, `fpn_convs.${i}.conv.weight`]),
    ].sort(),
  );
  // add_extra_convs: true means "on_input": the first extra conv reads C5 (64 channels)
  assert.deepEqual(sd["fpn_convs.3.conv.weight"].shape, [16, 64, 3, 3]);
  const w = sd["fpn_convs.3.conv.weight"].data;
  const bound = Math.sqrt(6 / (64 * 9 + 16 * 9));
  let max = 0;
  for (const v of w) max = Math.max(max, Math.abs(v));
  assert.ok(max <= bound && max > 0.9 * bound, `xavier-uniform bound ${bound}, max |w| ${max}`);
  assert.ok(sd["fpn_convs.3.conv.bias"].data.every((v) => v === 0), "bias 0");
  fpn.dispose();
});

async function runFpn(
  cfg: Partial<FPNCfg>,
  shapes: number[][],
  seed: number,
): Promise<{ outs: Float32Array[]; shapes: number[][]; fpn: FPN; ins: Tensor[] }> {
  setSeed(seed);
  const fpn = new FPN({
    in_channels: shapes.map((s) => s[1]),
    out_channels: 4,
    num_outs: 5,
    ...cfg,
  });
  const r = new Rng(seed);
  const ins = shapes.map((s) =>
    Tensor.from(Float32Array.from({ length: s.reduce((a, b) => a * b) }, () => r.normal()), s)
  );
  const outs = tidy(() => fpn.forward(ins));
  const hosts = await Promise.all(outs.map((t) => t.toArray() as Promise<Float32Array>));
  const res = { outs: hosts, shapes: outs.map((t) => [...t.shape]), fpn, ins };
  outs.forEach((t) => t.dispose());
  return res;
}

gpuTest(
  "FPN without extra convs adds levels by stride-2 subsampling of the last output",
  async () => {
    const { outs, shapes, fpn, ins } = await runFpn({ add_extra_convs: false }, [[1, 3, 10, 7], [
      1,
      5,
      5,
      4,
    ], [1, 6, 3, 2]], 1);
    assert.deepEqual(shapes, [[1, 4, 10, 7], [1, 4, 5, 4], [1, 4, 3, 2], [1, 4, 2, 1], [
      1,
      4,
      1,
      1,
    ]]);
    // P(i+1)[c, y, x] = P(i)[c, 2y, 2x]
    for (const l of [3, 4]) {
      const [, c, h, w] = shapes[l], [, , hp, wp] = shapes[l - 1];
      for (let k = 0; k < c; k++) {
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            assert.equal(
              outs[l][(k * h + y) * w + x],
              outs[l - 1][(k * hp + 2 * y) * wp + 2 * x],
            );
          }
        }
      }
    }
    ins.forEach((t) => t.dispose());
    fpn.dispose();
  },
);

for (const source of ["on_lateral", "on_output"] as const) {
  gpuTest(
    `FPN add_extra_convs "${source}" with relu_before_extra_convs feeds the documented source`,
    async () => {
      const { outs, fpn, ins } = await runFpn(
        { add_extra_convs: source, relu_before_extra_convs: true },
        [[1, 3, 8, 6], [1, 5, 4, 3]],
        2,
      );
      assert.equal(fpn.fpnConvs.length, 5);
      assert.equal(
        fpn.fpnConvs.items[2].conv.inChannels,
        4,
        "the first extra conv reads out_channels",
      );
      // recompute P(extra) from the documented source with the same modules
      const want = tidy(() => {
        const lat = fpn.lateralConvs.items.map((c, i) => c.forward(ins[i]));
        const src = source === "on_lateral" ? lat[1] : fpn.fpnConvs.items[1].forward(lat[1]);
        const p6 = fpn.fpnConvs.items[2].forward(src);
        const p7 = fpn.fpnConvs.items[3].forward(F.relu(p6));
        return [p6, p7];
      });
      const [p6, p7] = await Promise.all(want.map((t) => t.toArray()));
      assertClose(outs[2], p6, { rtol: 1e-6, atol: 1e-6, msg: "first extra level" });
      assertClose(outs[3], p7, {
        rtol: 1e-6,
        atol: 1e-6,
        msg: "second extra level (ReLU before conv)",
      });
      want.forEach((t) => t.dispose());
      ins.forEach((t) => t.dispose());
      fpn.dispose();
    },
  );
}

Deno.test("FPN validates levels and add_extra_convs with clear errors", () => {
  assert.throws(
    () => new FPN({ in_channels: [4, 8], out_channels: 4, num_outs: 1 }),
    /num_outs 1 must be at least the 2 backbone levels/,
  );
  assert.throws(
    () => new FPN({ in_channels: [4, 8, 16], out_channels: 4, num_outs: 3, end_level: 1 }),
    /num_outs 3 must equal end_level − start_level \+ 1 = 2/,
  );
  assert.throws(
    () =>
      new FPN({
        in_channels: [4, 8],
        out_channels: 4,
        num_outs: 3,
        add_extra_convs: "on_top" as "on_input",
      }),
    /add_extra_convs "on_top" must be false, true, "on_input", "on_lateral" or "on_output"/,
  );
  assert.throws(
    () =>
      new FPN({
        in_channels: [4, 8],
        out_channels: 4,
        num_outs: 3,
        upsample_cfg: { mode: "bilinear" },
      }),
    /upsample_cfg.mode "bilinear" is not supported/,
  );
});
