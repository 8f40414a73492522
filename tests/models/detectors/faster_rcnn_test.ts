/**
 * Faster R-CNN built from the real configs: the R-50-FPN parameter count and mmdetection's
 * state-dict keys; the tiny shapes config (narrowed) trained a few steps on a fixed batch with
 * the whole step (RPN, proposals, RoI sampling and targets, RoIAlign, losses, backward, AdamW)
 * on the GPU without a readback; and the test pass's output format.
 */
import { backward } from "../../../lib/autograd/tape.ts";
import { Tensor, tidy } from "../../../lib/autograd/tensor.ts";
import { loadConfig } from "../../../lib/config/config.ts";
import { setSeed, skipInit } from "../../../lib/nn/init.ts";
import { buildDetector } from "../../../lib/models/mod.ts";
import type { ImgMeta } from "../../../lib/models/detectors/base.ts";
import type { FasterRCNN } from "../../../lib/models/detectors/two_stage.ts";
import { AdamW } from "../../../lib/runner/optimizers/adamw.ts";
import type { TypedCfg } from "../../../lib/utils/registry.ts";
import { Rng } from "../../../lib/utils/rng.ts";
import { assert } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";

const cfgUrl = (p: string) => new URL(`../../../configs/${p}`, import.meta.url);

gpuTest(
  "faster_rcnn_r50_fpn_1x_coco has 41,753,056 parameters (R-50 23,508,032 + FPN 3,344,384 + RPN 593,935 + Shared2FC 14,306,705) and mmdet's keys",
  async () => {
    const cfg = await loadConfig(cfgUrl("faster_rcnn/faster_rcnn_r50_fpn_1x_coco.ts"));
    const det = skipInit(() => buildDetector(cfg.dict.model as TypedCfg)) as FasterRCNN;
    assert.equal(det.constructor.name, "FasterRCNN");
    assert.equal(det.numParameters().total, 41753056);
    const count = (m: { numParameters(): { total: number } }) => m.numParameters().total;
    assert.equal(count(det.backbone), 23508032);
    assert.equal(count(det.neck!), 3344384);
    assert.equal(count(det.rpnHead), 593935);
    assert.equal(count(det.roiHead), 14306705);
    const keys = [...det.stateTensors().keys()];
    for (
      const k of [
        "rpn_head.rpn_conv.weight",
        "rpn_head.rpn_cls.bias",
        "rpn_head.rpn_reg.weight",
        "roi_head.bbox_head.shared_fcs.0.weight",
        "roi_head.bbox_head.shared_fcs.1.bias",
        "roi_head.bbox_head.fc_cls.weight",
        "roi_head.bbox_head.fc_reg.bias",
        "neck.fpn_convs.3.conv.weight",
        "backbone.layer4.2.bn3.running_var",
      ]
    ) assert.ok(keys.includes(k), `state dict has ${k}`);
    assert.equal(det.roiHead.bboxHead.fcCls!.weight.shape.join(","), "81,1024");
    assert.equal(det.roiHead.bboxHead.fcReg!.weight.shape.join(","), "320,1024");
    det.dispose();
  },
);

const tiny = await loadConfig(cfgUrl("faster_rcnn/faster_rcnn_tiny_shapes.ts"));
// deno-lint-ignore no-explicit-any
const model = structuredClone(tiny.dict.model) as any;
model.backbone.base_channels = 4; // stage outputs 4, 8, 16, 32
model.neck.in_channels = [4, 8, 16, 32];
model.neck.out_channels = 8;
Object.assign(model.rpn_head, { in_channels: 8, feat_channels: 8 });
model.roi_head.bbox_roi_extractor.out_channels = 8;
Object.assign(model.roi_head.bbox_head, { in_channels: 8, fc_out_channels: 32 });
model.train_cfg.rpn_proposal.max_per_img = 64;
model.train_cfg.rcnn.sampler.num = 32;
model.test_cfg.rpn.max_per_img = 64;

const S = 64;
function metas(n: number): ImgMeta[] {
  return Array.from({ length: n }, () => ({
    img_shape: [S, S, 3],
    pad_shape: [S, S, 3],
    ori_shape: [S, S, 3],
    scale_factor: [1, 1, 1, 1],
    flip: false,
    flip_direction: null,
    filename: "fixed.png",
  }));
}
function images(n: number): Tensor {
  const r = new Rng(5);
  return Tensor.from(
    Float32Array.from({ length: n * 3 * S * S }, () => r.normal()),
    [n, 3, S, S],
  );
}

gpuTest(
  "Faster R-CNN (tiny shapes config) trains on a fixed batch: mmdet's loss keys, finite, decreasing, and no readback in forward, backward and update",
  async (gpu) => {
    setSeed(0);
    const det = buildDetector(model as TypedCfg) as FasterRCNN;
    det.train();
    const img = images(2);
    const batch = {
      img,
      img_metas: metas(2),
      gt_bboxes: [Float32Array.of(8, 10, 40, 44, 30, 2, 60, 24), Float32Array.of(12, 12, 50, 58)],
      gt_labels: [Int32Array.of(2, 0), Int32Array.of(1)],
    };
    const opt = new AdamW({ params: det.namedParameters(), lr: 2e-3, weight_decay: 0 });
    const losses: number[] = [];
    let keys: string[] = [];
    for (let it = 0; it < 8; it++) {
      det.setTrainIter(it);
      const before = gpu.stats().readbacks;
      const logVars = tidy(() => {
        opt.zeroGrad();
        const o = det.trainStep(batch);
        backward(o.loss);
        opt.step();
        return o.log_vars;
      });
      assert.equal(gpu.stats().readbacks, before, `iteration ${it}: no readback in the step`);
      keys = Object.keys(logVars);
      const v: Record<string, number> = {};
      for (const [k, t] of Object.entries(logVars)) {
        v[k] = await t.item();
        t.dispose();
      }
      for (const [k, x] of Object.entries(v)) assert.ok(Number.isFinite(x), `${k} = ${x}`);
      assert.ok(v.loss_cls > 0 && v.loss_bbox > 0 && v.loss_rpn_cls > 0, JSON.stringify(v));
      losses.push(v.loss);
    }
    assert.deepEqual(keys, [
      "loss_rpn_cls",
      "loss_rpn_bbox",
      "loss_cls",
      "acc",
      "loss_bbox",
      "loss",
    ]);
    assert.ok(
      losses[losses.length - 1] < 0.9 * losses[0],
      `loss decreases on a fixed batch: ${losses.map((l) => l.toFixed(3)).join(" ")}`,
    );
    opt.dispose();
    img.dispose();
    det.dispose();
  },
);

gpuTest(
  "Faster R-CNN (tiny shapes config) trains with images without gts: loss_bbox 0 when no image has one, finite otherwise",
  async () => {
    setSeed(1);
    const det = buildDetector(model as TypedCfg) as FasterRCNN;
    det.train();
    const img = images(2);
    const run = async (gtBboxes: Float32Array[], gtLabels: Int32Array[]) => {
      const logVars = tidy(() => {
        const o = det.trainStep({
          img,
          img_metas: metas(2),
          gt_bboxes: gtBboxes,
          gt_labels: gtLabels,
        });
        backward(o.loss);
        return o.log_vars;
      });
      const v: Record<string, number> = {};
      for (const [k, t] of Object.entries(logVars)) {
        v[k] = await t.item();
        t.dispose();
      }
      for (const [n, p] of det.namedParameters()) {
        if (!p.grad) continue;
        assert.ok((await p.grad.toArray()).every(Number.isFinite), `${n} gradient is finite`);
        p.grad.dispose();
        p.grad = null;
      }
      return v;
    };
    const none = await run([new Float32Array(0), new Float32Array(0)], [
      new Int32Array(0),
      new Int32Array(0),
    ]);
    assert.ok(
      none.loss_cls > 0 && none.loss_bbox === 0 && none.loss_rpn_bbox === 0,
      JSON.stringify(none),
    );
    const one = await run([Float32Array.of(8, 10, 40, 44), new Float32Array(0)], [
      Int32Array.of(1),
      new Int32Array(0),
    ]);
    for (const [k, x] of Object.entries(one)) assert.ok(Number.isFinite(x), `${k} = ${x}`);
    assert.ok(one.loss_bbox > 0, JSON.stringify(one));
    img.dispose();
    det.dispose();
  },
);

gpuTest(
  "Faster R-CNN (tiny shapes config) test pass returns per-class [m, 5] detections per image",
  async () => {
    setSeed(0);
    const det = buildDetector(model as TypedCfg) as FasterRCNN;
    det.eval();
    const img = images(2);
    const res = await det.forward([img], [metas(2)], { returnLoss: false, rescale: true });
    assert.equal(res.length, 2);
    for (const r of res) {
      assert.equal(r.length, 3, "one array per class");
      for (const a of r) assert.equal(a.length % 5, 0);
    }
    await assert.rejects(() =>
      det.forward([img, img], [metas(2), metas(2)], { returnLoss: false })
    );
    img.dispose();
    det.dispose();
  },
);
