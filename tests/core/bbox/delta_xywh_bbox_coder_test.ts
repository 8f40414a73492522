import { assert, assertClose, type FixtureArray, loadFixture } from "../../_assert.ts";
import {
  BBOX_CODERS,
  DeltaXYWHBBoxCoder,
  LegacyDeltaXYWHBBoxCoder,
} from "../../../lib/core/mod.ts";

type Fx = Record<string, FixtureArray> & { max_shape: number[]; means: number[]; stds: number[] };
const f32 = (a: FixtureArray) => Float32Array.from(a.data);
// PyTorch's vectorised log/exp may differ from correctly rounded ones by an ulp; in decode that
// ulp of exp(dh) scales with the box size (boxes up to ~200 px: 1 ulp ≈ 1.5e-5).
const ULP = { rtol: 4e-7, atol: 1e-6 };
const DEC = { rtol: 1e-6, atol: 4e-5 };

Deno.test("DeltaXYWHBBoxCoder.encode() and decode() equal the PyTorch float32 fixture", async () => {
  const fx = await loadFixture<Fx>("core/delta_coder.json");
  const anchors = f32(fx.anchors), gts = f32(fx.gts), deltas = f32(fx.deltas);
  const coder = BBOX_CODERS.build({ type: "DeltaXYWHBBoxCoder" });
  assertClose(coder.encode(anchors, gts), fx.encode.data, ULP);
  assertClose(coder.decode(anchors, deltas), fx.decode.data, DEC);
  assertClose(coder.decode(anchors, deltas, { maxShape: fx.max_shape }), fx.decode_clip.data, DEC);
  const norm = new DeltaXYWHBBoxCoder({ target_means: fx.means, target_stds: fx.stds });
  assertClose(norm.encode(anchors, gts), fx.encode_norm.data, ULP);
  assertClose(
    norm.decode(anchors, deltas, { maxShape: fx.max_shape }),
    fx.decode_norm_clip.data,
    DEC,
  );
  // the centre/width arithmetic before log is exact float32: dx, dy are bit-equal
  const enc = coder.encode(anchors, gts);
  for (let i = 0; i < enc.length; i += 4) {
    assert.deepEqual([enc[i], enc[i + 1]], fx.encode.data.slice(i, i + 2));
  }
});

Deno.test("LegacyDeltaXYWHBBoxCoder uses +1 widths and clips to size − 1 as mmdetection v2", async () => {
  const fx = await loadFixture<Fx>("core/delta_coder.json");
  const coder = BBOX_CODERS.build({ type: "LegacyDeltaXYWHBBoxCoder" });
  assert.ok(coder instanceof LegacyDeltaXYWHBBoxCoder);
  assertClose(coder.encode(f32(fx.anchors), f32(fx.gts)), fx.legacy_encode.data, ULP);
  assertClose(
    coder.decode(f32(fx.anchors), f32(fx.deltas), { maxShape: fx.max_shape }),
    fx.legacy_decode_clip.data,
    DEC,
  );
});

Deno.test("DeltaXYWHBBoxCoder equals PyTorch on 200 random boxes with target_stds and round-trips", async () => {
  const fx = await loadFixture<Fx>("core/delta_coder_random.json");
  const coder = new DeltaXYWHBBoxCoder({ target_stds: fx.stds });
  const anchors = f32(fx.anchors), gts = f32(fx.gts), deltas = f32(fx.deltas);
  assert.equal(anchors.length, 800);
  const t = coder.encode(anchors, gts);
  // stds 0.1 scale the float32 ulp of log() by 5-10x
  assertClose(t, fx.encode_std.data, { rtol: 4e-6, atol: 1e-5 });
  assertClose(coder.decode(anchors, t), gts, { rtol: 1e-5, atol: 1e-4 });
  assertClose(
    coder.decode(anchors, deltas, { maxShape: fx.max_shape }),
    fx.decode_std_clip.data,
    DEC,
  );
});

Deno.test("DeltaXYWHBBoxCoder.decode() clamps dw, dh at |ln(16/1000)| and supports k boxes per anchor", () => {
  const coder = new DeltaXYWHBBoxCoder();
  const anchor = Float32Array.of(0, 0, 10, 10);
  const big = coder.decode(anchor, Float32Array.of(0, 0, 100, -100));
  const r = Math.exp(Math.abs(Math.log(16 / 1000)));
  assertClose(big, [5 - 5 * r, 5 - 5 / r, 5 + 5 * r, 5 + 5 / r], { rtol: 1e-6 });
  const two = coder.decode(anchor, Float32Array.of(0, 0, 0, 0, 0.1, 0, 0, 0));
  assert.deepEqual(Array.from(two), [0, 0, 10, 10, 1, 0, 11, 10]);
  const clip = new DeltaXYWHBBoxCoder({ clip_border: false }).decode(
    anchor,
    Float32Array.of(2, 0, 0, 0),
    { maxShape: [5, 5] },
  );
  assert.deepEqual(Array.from(clip), [20, 0, 30, 10], "clip_border false ignores maxShape");
  const ctr = new DeltaXYWHBBoxCoder({ add_ctr_clamp: true, ctr_clamp: 4 }).decode(
    anchor,
    Float32Array.of(2, -2, 0, 0),
  );
  assert.deepEqual(
    Array.from(ctr),
    [4, -4, 14, 6],
    "the centre shift is clamped to ±ctr_clamp pixels",
  );
  assert.throws(
    () => coder.encode(anchor, Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8)),
    /1 boxes do not match 2 gt boxes/,
  );
  assert.throws(
    () => new DeltaXYWHBBoxCoder({ target_means: [0, 0] }),
    /"target_means" must have 4 numbers/,
  );
});
