/**
 * RetinaNet R-18/R-50 (narrow, base_channels 8) against PyTorch: stage, FPN and head outputs per
 * level, and gradients of Σ w·(head outputs) w.r.t. head, neck and backbone parameters
 * (`tools/gen_model_fixtures.py`). Built from the real `configs/_base_/models/retinanet_r50_fpn.ts`
 * with narrowed widths; uses the registered `RetinaHead` when `lib/models/mod.ts` provides one,
 * else the forward-only `PlainRetinaHead` of `_test_heads.ts`.
 */
import * as F from "../../../lib/autograd/functional.ts";
import { backward } from "../../../lib/autograd/tape.ts";
import { Tensor, tidy } from "../../../lib/autograd/tensor.ts";
import { skipInit } from "../../../lib/nn/init.ts";
import { buildDetector, HEADS } from "../../../lib/models/mod.ts";
import type { SingleStageDetector } from "../../../lib/models/detectors/single_stage.ts";
import { model as baseModel } from "../../../configs/_base_/models/retinanet_r50_fpn.ts";
import { assert, assertClose } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import {
  loadModelFixture,
  type ModelFixture,
  scaledAtol,
  weightPattern,
} from "../_model_fixture.ts";
import "./_test_heads.ts";

const HEAD = HEADS.has("RetinaHead") ? "RetinaHead" : "PlainRetinaHead";

// deno-lint-ignore no-explicit-any
type Cfg = { type: string; [key: string]: any };

/** The base config narrowed to the fixture's widths. */
export function tinyRetinaCfg(depth: 18 | 50, head = HEAD): Cfg {
  const m: Cfg = structuredClone(baseModel);
  const exp = depth === 18 ? 1 : 4;
  const { init_cfg: _, ...backbone } = m.backbone;
  m.backbone = { ...backbone, depth, base_channels: 8 };
  m.neck = { ...m.neck, in_channels: [8, 16, 32, 64].map((c) => c * exp), out_channels: 16 };
  m.bbox_head = { ...m.bbox_head, type: head, num_classes: 3, in_channels: 16, feat_channels: 16 };
  return m;
}

async function checkParity(depth: 18 | 50, fx: ModelFixture): Promise<void> {
  const det = skipInit(() => buildDetector(tinyRetinaCfg(depth))) as SingleStageDetector;
  det.loadStateDict(fx.stateDict); // strict: the key sets must be equal
  det.train(); // norm_eval: every BN in eval mode; frozen_stages 1
  const x = fx.ref.input;
  const { outs, loss } = tidy(() => {
    const img = Tensor.from(x.data, x.shape);
    const feats = det.extractFeat(img);
    const [cls, reg] = det.bboxHead.forward(feats);
    let loss: Tensor | null = null;
    cls.forEach((c, l) => {
      const t = F.add(
        F.sum(F.mul(c, Tensor.from(weightPattern(c.size, l, "cls"), c.shape))),
        F.sum(F.mul(reg[l], Tensor.from(weightPattern(reg[l].size, l, "reg"), reg[l].shape))),
      );
      loss = loss ? F.add(loss, t) : t;
    });
    backward(loss!);
    return { outs: { neck: feats, cls, reg }, loss: loss! };
  });
  const check = async (name: string, t: Tensor) => {
    const ref = fx.ref[name];
    assert.deepEqual([...t.shape], ref.shape, `${name} shape`);
    assertClose(await t.toArray(), ref.data, { rtol: 1e-4, atol: scaledAtol(ref.data), msg: name });
  };
  for (let l = 0; l < 5; l++) {
    await check(`out.neck.${l}`, outs.neck[l]);
    await check(`out.cls.${l}`, outs.cls[l]);
    await check(`out.reg.${l}`, outs.reg[l]);
  }
  assertClose(await loss.item(), fx.ref.loss.data[0], { rtol: 1e-4, msg: "scalar" });
  const params = new Map(det.namedParameters());
  const gradNames = Object.keys(fx.ref).filter((k) => k.startsWith("grad.")).map((k) => k.slice(5));
  assert.ok(gradNames.length >= 10);
  for (const n of gradNames) {
    const g = params.get(n)?.grad;
    assert.ok(g, `${n} has a gradient`);
    await check(`grad.${n}`, g);
  }
  for (
    const n of ["backbone.conv1.weight", "backbone.bn1.weight", "backbone.layer1.0.conv1.weight"]
  ) {
    assert.equal(params.get(n)!.grad, null, `${n} is frozen`);
  }
  for (const t of [...outs.neck, ...outs.cls, ...outs.reg, loss]) t.dispose();
  for (const p of params.values()) p.grad?.dispose();
  det.dispose();
}

gpuTest(`RetinaNet R-18 (base 8, ${HEAD}) outputs and gradients match PyTorch`, async () => {
  await checkParity(18, await loadModelFixture("retinanet_r18_tiny"));
});

gpuTest(`RetinaNet R-50 (base 8, ${HEAD}) outputs and gradients match PyTorch`, async () => {
  await checkParity(50, await loadModelFixture("retinanet_r50_tiny"));
});

gpuTest(
  `retinanet_r50_fpn_1x_coco (${HEAD}) has mmdet's 37,968,692 parameters, 37,743,348 trainable, and PyTorch's key set`,
  async () => {
    const keys = JSON.parse(
      await Deno.readTextFile(
        new URL("../../fixtures/models/retinanet_r50_fpn_1x_coco_keys.json", import.meta.url),
      ),
    );
    const m: Cfg = structuredClone(baseModel);
    m.bbox_head = { ...m.bbox_head, type: HEAD };
    const det = skipInit(() => buildDetector(m)) as SingleStageDetector;
    const { total, trainable } = det.numParameters();
    assert.equal(total, 37968692);
    assert.equal(trainable, 37743348);
    const mine = new Map([...det.stateTensors()].map(([k, t]) => [k, [...t.shape]]));
    const want = new Map<string, number[]>(keys.keys);
    assert.deepEqual([...mine.keys()].filter((k) => !want.has(k)), [], "unexpected keys");
    assert.deepEqual([...want.keys()].filter((k) => !mine.has(k)), [], "missing keys");
    for (const [k, s] of want) assert.deepEqual(mine.get(k), s, `${k} shape`);
    assert.equal(det.pretrained, "torchvision://resnet50");
    det.dispose();
  },
);
