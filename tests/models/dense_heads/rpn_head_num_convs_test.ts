/**
 * `RPNHead` with `num_convs > 1` (mmdetection v2.25): `rpn_conv` becomes a sequence of 3×3
 * `ConvModule`s (conv + ReLU) with the state-dict keys `rpn_conv.N.conv.{weight,bias}`, all convs
 * `Normal(std=0.01)`; the forward equals the chain computed on the CPU.
 */
import { assert, assertClose } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import { conv2dRef, randomF32 } from "../../_reference/conv_ref.ts";
import { Tensor } from "../../../lib/autograd/tensor.ts";
import { assignTensor } from "../../../lib/nn/init.ts";
import type { RPNHead } from "../../../lib/models/dense_heads/rpn_head.ts";
import "../../../lib/models/dense_heads/rpn_head.ts";
import { HEADS } from "../../../lib/models/registry.ts";

const build = (numConvs: unknown) =>
  HEADS.build({
    type: "RPNHead",
    in_channels: 3,
    feat_channels: 5,
    num_convs: numConvs,
    anchor_generator: { type: "AnchorGenerator", scales: [8], ratios: [0.5, 1, 2], strides: [4] },
    train_cfg: null,
  }) as unknown as RPNHead;

gpuTest("RPNHead num_convs 3: mmdetection's keys, parameter count, init and forward", async () => {
  const head = build(3);
  const st = head.stateTensors();
  const keys = [...st.keys()].sort();
  assert.deepEqual(keys, [
    "rpn_cls.bias",
    "rpn_cls.weight",
    "rpn_conv.0.conv.bias",
    "rpn_conv.0.conv.weight",
    "rpn_conv.1.conv.bias",
    "rpn_conv.1.conv.weight",
    "rpn_conv.2.conv.bias",
    "rpn_conv.2.conv.weight",
    "rpn_reg.bias",
    "rpn_reg.weight",
  ]);
  // 3·5·9+5, 2 × (5·5·9+5), rpn_cls 5·3+3, rpn_reg 5·12+12
  let count = 0;
  for (const t of st.values()) count += t.size;
  assert.equal(count, 140 + 2 * 230 + 18 + 72);
  const w0 = Array.from(await st.get("rpn_conv.1.conv.weight")!.toArray());
  const std = Math.sqrt(w0.reduce((a, v) => a + v * v, 0) / w0.length);
  assert.ok(std > 0.005 && std < 0.02, `rpn_conv.1 init std ${std} (Normal 0.01)`);
  assert.deepEqual(Array.from(await st.get("rpn_conv.2.conv.bias")!.toArray()), [0, 0, 0, 0, 0]);

  // random weights so the ReLUs matter, then compare with the CPU chain
  const ws: Float64Array[] = [], bs: Float64Array[] = [];
  for (let i = 0; i < 3; i++) {
    const w = st.get(`rpn_conv.${i}.conv.weight`)!, b = st.get(`rpn_conv.${i}.conv.bias`)!;
    const wv = randomF32(10 + i, w.size, -0.3, 0.3), bv = randomF32(20 + i, b.size, -0.1, 0.1);
    assignTensor(w, wv);
    assignTensor(b, bv);
    ws.push(Float64Array.from(wv));
    bs.push(Float64Array.from(bv));
  }
  const xs = [1, 3, 6, 7];
  const xv = randomF32(3, 126);
  let h = Float64Array.from(xv), shape = xs;
  for (let i = 0; i < 3; i++) {
    const r = conv2dRef(h, shape, ws[i], [5, i === 0 ? 3 : 5, 3, 3], bs[i], { padding: [1, 1] });
    h = r.y.map((v) => Math.max(v, 0));
    shape = r.shape;
  }
  const wc = Float64Array.from(await st.get("rpn_cls.weight")!.toArray());
  const bc = Float64Array.from(await st.get("rpn_cls.bias")!.toArray());
  const cls = conv2dRef(h, shape, wc, [3, 5, 1, 1], bc).y;
  const x = Tensor.from(xv, xs);
  const [c] = head.forwardSingle(x);
  assertClose(await c.toArray(), Float32Array.from(cls), { rtol: 1e-4, atol: 1e-5 });
  x.dispose();
  c.dispose();
  head.dispose();
});

gpuTest("RPNHead refuses num_convs that is not a positive integer", () => {
  for (const v of [0, -1, 1.5, "2"]) {
    assert.throws(() => build(v), /num_convs must be a positive integer/);
  }
});
