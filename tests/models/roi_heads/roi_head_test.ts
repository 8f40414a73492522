import { assert, assertClose, type FixtureArray, loadFixture } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import * as F from "../../../lib/autograd/functional.ts";
import { backward } from "../../../lib/autograd/tape.ts";
import { Tensor, tidy } from "../../../lib/autograd/tensor.ts";
import type { RoiTargetsGpu } from "../../../lib/core/bbox/gpu_stages.ts";
import { assignTensor, skipInit } from "../../../lib/nn/init.ts";
import "../../../lib/models/mod.ts";
import { HEADS } from "../../../lib/models/registry.ts";
import type { ConvFCBBoxHead } from "../../../lib/models/roi_heads/bbox_heads/convfc_bbox_head.ts";
import type { SingleRoIExtractor } from "../../../lib/models/roi_heads/roi_extractors/single_level_roi_extractor.ts";
import type { StandardRoIHead } from "../../../lib/models/roi_heads/standard_roi_head.ts";

interface Fx {
  cfg: {
    num_classes: number;
    in_channels: number;
    fc_out_channels: number;
    slots: number;
    featmap_strides: number[];
    finest_scale: number;
  };
  losses: { loss_cls: number; loss_bbox: number; acc: number };
  arrays: Record<string, FixtureArray>;
}

const fx = await loadFixture<Fx>("models/roi_head.json");

function bboxHead(numClasses: number, inChannels: number, fc: number): ConvFCBBoxHead {
  return HEADS.build({
    type: "Shared2FCBBoxHead",
    in_channels: inChannels,
    fc_out_channels: fc,
    roi_feat_size: 7,
    num_classes: numClasses,
    bbox_coder: {
      type: "DeltaXYWHBBoxCoder",
      target_means: [0, 0, 0, 0],
      target_stds: [0.1, 0.1, 0.2, 0.2],
    },
    reg_class_agnostic: false,
    loss_cls: { type: "CrossEntropyLoss", use_sigmoid: false, loss_weight: 1.0 },
    loss_bbox: { type: "L1Loss", loss_weight: 1.0 },
  }) as unknown as ConvFCBBoxHead;
}

gpuTest("Shared2FCBBoxHead for 80 classes has 14,306,705 parameters and mmdet's keys", () => {
  const h = skipInit(() => bboxHead(80, 256, 1024));
  assert.equal(h.numParameters().total, 14306705);
  assert.deepEqual([...h.stateTensors().keys()], [
    "shared_fcs.0.weight",
    "shared_fcs.0.bias",
    "shared_fcs.1.weight",
    "shared_fcs.1.bias",
    "fc_cls.weight",
    "fc_cls.bias",
    "fc_reg.weight",
    "fc_reg.bias",
  ]);
  h.dispose();
});

gpuTest(
  "Shared2FCBBoxHead init follows mmdet (fc_cls std 0.01, fc_reg std 0.001, xavier fcs, zero biases)",
  async () => {
    const h = bboxHead(80, 16, 256);
    const stat = async (t: Tensor) => {
      const a = await t.toArray() as Float32Array;
      let s = 0, s2 = 0, mx = 0;
      for (const v of a) {
        s += v;
        s2 += v * v;
        mx = Math.max(mx, Math.abs(v));
      }
      return { mean: s / a.length, std: Math.sqrt(s2 / a.length - (s / a.length) ** 2), mx };
    };
    const cls = await stat(h.fcCls!.weight), reg = await stat(h.fcReg!.weight);
    assertClose([cls.std], [0.01], { rtol: 0.05 });
    assertClose([reg.std], [0.001], { rtol: 0.05 });
    const fc0 = await stat(h.sharedFcs.items[0].weight);
    const a = Math.sqrt(6 / (16 * 49 + 256));
    assert.ok(fc0.mx <= a && fc0.mx > 0.98 * a, `xavier uniform bound ${a}, max ${fc0.mx}`);
    for (const b of [h.fcCls!.bias!, h.fcReg!.bias!, h.sharedFcs.items[0].bias!]) {
      assert.ok((await b.toArray()).every((v: number) => v === 0));
    }
    h.dispose();
  },
);

gpuTest(
  "StandardRoIHead box loss (SingleRoIExtractor → Shared2FCBBoxHead → BBoxHead.loss) equals plain PyTorch: losses, acc and gradients; padding rows change nothing",
  async (gpu) => {
    const { cfg, arrays: A } = fx;
    const t = (a: FixtureArray, requiresGrad = false) =>
      Tensor.from(a.data, a.shape, { requiresGrad, dtype: a.dtype === "i32" ? "i32" : "f32" });
    const head = bboxHead(cfg.num_classes, cfg.in_channels, cfg.fc_out_channels);
    const ext = HEADS.build({
      type: "SingleRoIExtractor",
      roi_layer: { type: "RoIAlign", output_size: 7, sampling_ratio: 0 },
      out_channels: cfg.in_channels,
      featmap_strides: cfg.featmap_strides,
      finest_scale: cfg.finest_scale,
    }) as unknown as SingleRoIExtractor;
    for (const [name, p] of head.stateTensors()) assignTensor(p, Float32Array.from(A[name].data));
    const params = [...head.stateTensors().entries()];
    const before = gpu.stats().readbacks;
    const r = tidy(() => {
      const xs = [0, 1, 2, 3].map((l) => t(A[`x${l}`], true));
      const targets = {
        rois: t(A.rois),
        labels: t(A.labels),
        labelWeights: t(A.label_weights),
        bboxTargets: t(A.bbox_targets),
        bboxWeights: t(A.bbox_weights),
      } as unknown as RoiTargetsGpu;
      const [cls, reg] = head.forward(ext.forward(xs, targets.rois));
      const l = head.loss(cls, reg, targets);
      backward(F.add(l.loss_cls, l.loss_bbox));
      return { cls: cls!, reg: reg!, l, gx: xs.map((x) => x.grad!) };
    });
    assert.equal(gpu.stats().readbacks, before, "forward, loss and backward read nothing back");
    // real rows of the padded layout
    const S = cfg.slots, labels = A.labels.data, C = cfg.num_classes;
    const real: number[] = [];
    for (let i = 0; i < labels.length; i++) if (A.label_weights.data[i] > 0) real.push(i);
    assert.equal(real.length, A.cls_score.shape[0]);
    assert.ok(labels.length === 2 * S && real.length < labels.length, "fixture has padding rows");
    const pick = (a: Float32Array, w: number) =>
      real.flatMap((i) => [...a.slice(i * w, (i + 1) * w)]);
    const tol = { rtol: 1e-4, atol: 1e-5 };
    assertClose(pick(await r.cls.toArray() as Float32Array, C + 1), A.cls_score.data, {
      ...tol,
      msg: "cls_score",
    });
    assertClose(pick(await r.reg.toArray() as Float32Array, 4 * C), A.bbox_pred.data, {
      ...tol,
      msg: "bbox_pred",
    });
    assertClose([await r.l.loss_cls.item()], [fx.losses.loss_cls], { ...tol, msg: "loss_cls" });
    assertClose([await r.l.loss_bbox.item()], [fx.losses.loss_bbox], { ...tol, msg: "loss_bbox" });
    assertClose([await r.l.acc.item()], [fx.losses.acc], { ...tol, msg: "acc" });
    for (const [name, p] of params) {
      assertClose(await p.grad!.toArray(), A[`grad.${name}`].data, { ...tol, msg: `grad ${name}` });
    }
    for (let l = 0; l < 4; l++) {
      assertClose(await r.gx[l].toArray(), A[`gx${l}`].data, { ...tol, msg: `grad x${l}` });
    }
    head.dispose();
  },
);

const fxTrain = await loadFixture<Fx & { cfg: { num: number; pos_fraction: number } }>(
  "models/roi_head_train.json",
);

gpuTest(
  "StandardRoIHead.forwardTrain on fixed proposals (GPU MaxIoUAssigner 0.5/0.5, gts added, RandomSampler 0.25 draw, targets, RoIAlign, loss) equals plain PyTorch mmdet, no readback",
  async (gpu) => {
    const { cfg, arrays: A } = fxTrain;
    const t = (a: FixtureArray, requiresGrad = false) =>
      Tensor.from(a.data, a.shape, { requiresGrad, dtype: a.dtype === "i32" ? "i32" : "f32" });
    const roiHead = HEADS.build({
      type: "StandardRoIHead",
      bbox_roi_extractor: {
        type: "SingleRoIExtractor",
        roi_layer: { type: "RoIAlign", output_size: 7, sampling_ratio: 0 },
        out_channels: cfg.in_channels,
        featmap_strides: cfg.featmap_strides,
        finest_scale: cfg.finest_scale,
      },
      bbox_head: {
        type: "Shared2FCBBoxHead",
        in_channels: cfg.in_channels,
        fc_out_channels: cfg.fc_out_channels,
        roi_feat_size: 7,
        num_classes: cfg.num_classes,
        bbox_coder: {
          type: "DeltaXYWHBBoxCoder",
          target_means: [0, 0, 0, 0],
          target_stds: [0.1, 0.1, 0.2, 0.2],
        },
        loss_cls: { type: "CrossEntropyLoss", use_sigmoid: false, loss_weight: 1.0 },
        loss_bbox: { type: "L1Loss", loss_weight: 1.0 },
      },
      train_cfg: {
        assigner: {
          type: "MaxIoUAssigner",
          pos_iou_thr: 0.5,
          neg_iou_thr: 0.5,
          min_pos_iou: 0.5,
          match_low_quality: false,
          ignore_iof_thr: -1,
        },
        sampler: {
          type: "RandomSampler",
          num: cfg.num,
          pos_fraction: cfg.pos_fraction,
          neg_pos_ub: -1,
          add_gt_as_proposals: true,
        },
        pos_weight: -1,
        debug: false,
      },
    }) as unknown as StandardRoIHead;
    const head = roiHead.bboxHead;
    for (const [name, p] of head.stateTensors()) assignTensor(p, Float32Array.from(A[name].data));
    const params = [...head.stateTensors().entries()];
    const N = 2;
    const gtBboxes = [0, 1].map((n) => Float32Array.from(A[`gt_bboxes${n}`].data));
    const gtLabels = [0, 1].map((n) => Int32Array.from(A[`gt_labels${n}`].data));
    const before = gpu.stats().readbacks;
    const r = tidy(() => {
      const xs = [0, 1, 2, 3].map((l) => t(A[`x${l}`], true));
      const proposals = {
        proposals: t(A.proposals),
        valid: t(A.valid),
        counts: Tensor.zeros([N], { dtype: "u32" }),
        capacity: A.valid.shape[1],
      };
      const l = roiHead.forwardTrain(xs, [], proposals, gtBboxes, gtLabels, null) as Record<
        string,
        Tensor
      >;
      backward(F.add(l.loss_cls, l.loss_bbox));
      return { l, gx: xs.map((x) => x.grad!) };
    });
    assert.equal(gpu.stats().readbacks, before, "no readback in forwardTrain and backward");
    assert.deepEqual(Object.keys(r.l), ["loss_cls", "acc", "loss_bbox"]);
    const tol = { rtol: 1e-4, atol: 1e-5 };
    assertClose([await r.l.loss_cls.item()], [fxTrain.losses.loss_cls], {
      ...tol,
      msg: "loss_cls",
    });
    assertClose([await r.l.loss_bbox.item()], [fxTrain.losses.loss_bbox], {
      ...tol,
      msg: "loss_bbox",
    });
    assertClose([await r.l.acc.item()], [fxTrain.losses.acc], { ...tol, msg: "acc" });
    for (const [name, p] of params) {
      assertClose(await p.grad!.toArray(), A[`grad.${name}`].data, { ...tol, msg: `grad ${name}` });
    }
    for (let l = 0; l < 4; l++) {
      assertClose(await r.gx[l].toArray(), A[`gx${l}`].data, { ...tol, msg: `grad x${l}` });
    }
    roiHead.dispose();
  },
);
