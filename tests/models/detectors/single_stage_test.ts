import * as F from "../../../lib/autograd/functional.ts";
import { backward } from "../../../lib/autograd/tape.ts";
import { Tensor, tidy } from "../../../lib/autograd/tensor.ts";
import { buildDetector, DETECTORS, parseLosses } from "../../../lib/models/mod.ts";
import type { ImgMeta } from "../../../lib/models/detectors/base.ts";
import type { SingleStageDetector } from "../../../lib/models/detectors/single_stage.ts";
import { assert, assertClose } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import { toyCalls } from "./_test_heads.ts";

function toyCfg(withAug = false) {
  return {
    type: "RetinaNet",
    backbone: {
      type: "ResNet",
      depth: 18,
      base_channels: 2,
      out_indices: [1, 2, 3],
      frozen_stages: 1,
    },
    neck: { type: "FPN", in_channels: [4, 8, 16], out_channels: 4, num_outs: 3 },
    bbox_head: { type: "ToyHead", num_classes: 2, in_channels: 4, with_aug: withAug },
    train_cfg: { allowed_border: -1 },
    test_cfg: { score_thr: 0.05 },
  };
}

function metas(n: number): ImgMeta[] {
  return Array.from(
    { length: n },
    () => ({
      img_shape: [32, 32, 3],
      pad_shape: [32, 32, 3],
      ori_shape: [64, 64, 3],
      scale_factor: [0.5, 0.5, 0.5, 0.5],
      flip: false,
    }),
  );
}

gpuTest(
  "RetinaNet.trainStep passes the batch to the head and reduces losses as mmdet's _parse_losses",
  async () => {
    const det = buildDetector(toyCfg()) as SingleStageDetector;
    assert.deepEqual((det.bboxHead as unknown as { trainCfg: unknown }).trainCfg, {
      allowed_border: -1,
    }, "train_cfg merged into bbox_head");
    det.train();
    const img = Tensor.from(new Float32Array(2 * 3 * 32 * 32).map((_, i) => Math.sin(i)), [
      2,
      3,
      32,
      32,
    ]);
    const gtBboxes = [Float32Array.of(1, 2, 10, 12), new Float32Array(0)];
    const gtLabels = [Int32Array.of(1), new Int32Array(0)];
    const batch = { img, img_metas: metas(2), gt_bboxes: gtBboxes, gt_labels: gtLabels };
    const out = tidy(() => {
      const o = det.trainStep(batch);
      backward(o.loss);
      return o;
    });
    assert.equal(out.num_samples, 2);
    assert.deepEqual(Object.keys(out.log_vars), ["loss_cls", "loss_bbox", "acc", "loss"]);
    assert.equal(toyCalls.gtBboxes, gtBboxes);
    assert.equal(toyCalls.gtLabels, gtLabels);
    assert.equal(toyCalls.ignore, null);
    assert.deepEqual(toyCalls.metas![0].batch_input_shape, [32, 32]);
    // recompute the reduction by hand from the head's outputs
    const want = tidy(() => {
      const feats = det.extractFeat(img);
      const [outs] = det.bboxHead.forward(feats);
      const cls = outs.map((o) => F.mean(F.mul(o, o))).reduce((a, b) => F.add(a, b));
      return [cls, F.mean(F.abs(outs[0]))];
    });
    const [cls, bbox] = await Promise.all(want.map((t) => t.item()));
    assertClose(await out.log_vars.loss_cls.item(), cls, { rtol: 1e-5 });
    assertClose(await out.log_vars.loss_bbox.item(), bbox, { rtol: 1e-5 });
    assertClose(await out.log_vars.acc.item(), 0.75);
    assertClose(await out.loss.item(), cls + bbox, { rtol: 1e-5 });
    assert.equal(out.log_vars.loss.requiresGrad, false, "log_vars are detached");
    assert.ok(det.bboxHead.parameters()[0].grad, "the head received gradients");
    for (const t of [...Object.values(out.log_vars), out.loss, ...want, img]) t.dispose();
    for (const p of det.parameters()) p.grad?.dispose();
    det.dispose();
  },
);

gpuTest("parseLosses rejects entries that are not tensors and dicts without a loss key", () => {
  const t = F.full([2], 1);
  assert.throws(
    () => parseLosses({ loss_cls: 3 as unknown as Tensor }),
    /Cannot parse loss "loss_cls": it is not a tensor or a non-empty list of tensors/,
  );
  assert.throws(() => parseLosses({ acc: t }), /no key contains "loss" \(keys: acc\)/);
  assert.throws(() => parseLosses({ loss_x: [] }), /non-empty list/);
  t.dispose();
});

gpuTest(
  "forward(returnLoss false) checks lists and augmentation counts as mmdet's forward_test",
  async () => {
    const det = buildDetector(toyCfg()) as SingleStageDetector;
    det.eval();
    const img = Tensor.from(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]);
    const img2 = Tensor.from(new Float32Array(2 * 3 * 32 * 32), [2, 3, 32, 32]);
    await assert.rejects(
      () => det.forward(img as unknown as Tensor[], [metas(1)], { returnLoss: false }),
      TypeError,
      "imgs must be a list, but got Tensor",
    );
    await assert.rejects(
      () => det.forward([img], metas(1) as unknown as ImgMeta[][], { returnLoss: false }),
      /img_metas must be a list of 1 objects/,
    );
    await assert.rejects(
      () => det.forward([img, img], [metas(1)], { returnLoss: false }),
      /num of augmentations \(2\) != num of image meta \(1\)/,
    );
    await assert.rejects(
      () => det.forward([img2, img2], [metas(2), metas(2)], { returnLoss: false }),
      RangeError,
      "aug test does not support inference with batch size 2",
    );
    await assert.rejects(
      () => det.forward([img, img], [metas(1), metas(1)], { returnLoss: false }),
      /ToyHead does not support test-time augmentation/,
    );
    assert.throws(
      () => det.forward([img] as unknown as Tensor, metas(1)),
      /img must be a tensor, but got a list/,
    );
    for (const t of [img, img2]) t.dispose();
    det.dispose();
  },
);

gpuTest(
  "simpleTest returns per-image, per-class [m, 5] arrays (bbox2result) and passes rescale",
  async () => {
    const det = buildDetector(toyCfg()) as SingleStageDetector;
    det.eval();
    const img = Tensor.from(new Float32Array(2 * 3 * 32 * 32), [2, 3, 32, 32]);
    const before = det.parameters().length;
    const res = await det.forward([img], [metas(2)], { returnLoss: false, rescale: true });
    assert.equal(toyCalls.rescale, true);
    assert.deepEqual(toyCalls.metas![1].batch_input_shape, [32, 32]);
    assert.equal(res.length, 2);
    assert.deepEqual(
      res[1].map((a) => [...a]),
      [[1, 1, 2, 3, 0.5], [0, 0, 4, 4, 0.9]].map((r) => r.map(Math.fround)),
    );
    assert.equal(det.parameters().length, before);
    img.dispose();
    det.dispose();
  },
);

gpuTest("augTest hands the features of every augmentation to the head's augTest", async () => {
  const det = buildDetector(toyCfg(true)) as SingleStageDetector;
  det.eval();
  const a = Tensor.from(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]);
  const res = await det.forward([a, a], [
    metas(1),
    metas(1).map((m) => ({ ...m, flip: true, flip_direction: "horizontal" })),
  ], { returnLoss: false });
  assert.equal(toyCalls.augFeats, 2);
  assert.equal(res.length, 1);
  a.dispose();
  det.dispose();
});

Deno.test("buildDetector refuses train_cfg given both in the top level and in model", () => {
  assert.ok(DETECTORS.has("RetinaNet") && DETECTORS.has("SingleStageDetector"));
  assert.throws(
    () => buildDetector(toyCfg(), { trainCfg: { x: 1 } }),
    /train_cfg is specified both in the top level and in model/,
  );
  assert.throws(
    () => buildDetector({ type: "RetinaNett" }),
    /type is not in the DETECTORS registry; did you mean "RetinaNet"/,
  );
});
