import { assert, assertClose } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import { Rng } from "../../_reference/rng.ts";
import { sigmoidFocalRef } from "../../_reference/focal_loss_ref.ts";
import { Tensor, tidy } from "../../../lib/autograd/tensor.ts";
import { RetinaHead, type RetinaHeadCfg } from "../../../lib/models/dense_heads/retina_head.ts";
import { augTestGpu } from "../../../lib/models/dense_heads/anchor_head_inference.ts";
import { HEADS } from "../../../lib/models/registry.ts";
import type { ImgMeta } from "../../../lib/models/detectors/base.ts";
import {
  candidatesRef,
  getBboxesRef,
  nmsRef,
  type RefCfg,
  type RefLevel,
} from "./_get_bboxes_ref.ts";

const RETINA: RetinaHeadCfg = {
  num_classes: 80,
  in_channels: 256,
  stacked_convs: 4,
  feat_channels: 256,
  anchor_generator: {
    type: "AnchorGenerator",
    octave_base_scale: 4,
    scales_per_octave: 3,
    ratios: [0.5, 1.0, 2.0],
    strides: [8, 16, 32, 64, 128],
  },
  bbox_coder: { type: "DeltaXYWHBBoxCoder", target_means: [0, 0, 0, 0], target_stds: [1, 1, 1, 1] },
  loss_cls: { type: "FocalLoss", use_sigmoid: true, gamma: 2.0, alpha: 0.25, loss_weight: 1.0 },
  loss_bbox: { type: "L1Loss", loss_weight: 1.0 },
  train_cfg: {
    assigner: {
      type: "MaxIoUAssigner",
      pos_iou_thr: 0.5,
      neg_iou_thr: 0.4,
      min_pos_iou: 0,
      ignore_iof_thr: -1,
    },
    allowed_border: -1,
    pos_weight: -1,
    debug: false,
  },
  test_cfg: {
    nms_pre: 1000,
    min_bbox_size: 0,
    score_thr: 0.05,
    nms: { type: "nms", iou_threshold: 0.5 },
    max_per_img: 100,
  },
};

const tiny = (extra: Partial<RetinaHeadCfg> = {}) =>
  new RetinaHead({ ...RETINA, in_channels: 8, feat_channels: 8, stacked_convs: 2, ...extra });
const SIZES: [number, number][] = [[8, 8], [4, 4], [2, 2], [1, 1], [1, 1]];
const META: ImgMeta = {
  img_shape: [60, 64, 3],
  pad_shape: [64, 64, 3],
  scale_factor: [0.5, 0.5, 0.5, 0.5],
  filename: "a.jpg",
};

gpuTest(
  "RetinaHead has mmdetection's modules, state-dict keys, parameter count and initialisation",
  async () => {
    const head = HEADS.build({ type: "RetinaHead", ...RETINA }) as RetinaHead;
    const keys = [...head.stateTensors().keys()];
    for (
      const k of [
        "cls_convs.0.conv.weight",
        "cls_convs.3.conv.bias",
        "reg_convs.3.conv.weight",
        "retina_cls.weight",
        "retina_cls.bias",
        "retina_reg.weight",
        "retina_reg.bias",
      ]
    ) {
      assert.ok(keys.includes(k), `missing ${k}`);
    }
    assert.equal(keys.length, 20);
    assert.equal(head.numParameters().total, 6463220, "spec §2.2 head parameter count");
    assert.deepEqual(head.retinaCls.weight.shape, [720, 256, 3, 3]);
    const bias = await head.retinaCls.bias!.toArray();
    assert.ok(
      bias.every((b) => b === Math.fround(-4.59511985013459)),
      "retina_cls bias = bias_init_with_prob(0.01)",
    );
    const w = Array.from(await head.clsConvs.items[0].conv.weight.toArray());
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    assert.ok(Math.abs(std - 0.01) < 5e-4, `tower weights N(0, 0.01²), std ${std}`);
    assert.ok((await head.retinaReg.bias!.toArray()).every((b) => b === 0));
    head.dispose();
    const gn = tiny({ norm_cfg: { type: "GN", num_groups: 4, requires_grad: true } });
    assert.ok([...gn.stateTensors().keys()].includes("cls_convs.0.gn.weight"), "norm_cfg honoured");
    assert.ok(
      ![...gn.stateTensors().keys()].includes("cls_convs.0.conv.bias"),
      "no conv bias before a norm",
    );
    gn.dispose();
  },
);

const feats = (r: Rng | null, N: number) =>
  SIZES.map(([h, w]) =>
    Tensor.from(Float32Array.from({ length: N * 8 * h * w }, () => (r ? r.uniform(-1, 1) : 0)), [
      N,
      8,
      h,
      w,
    ])
  );

gpuTest(
  "a freshly initialised RetinaHead gives loss_cls = 1.1284 per positive plus the negatives' 80·7.54e-7 (spec §2.8)",
  async () => {
    const head = tiny();
    const gts = [Float32Array.of(4, 6, 36, 40, 30, 10, 60, 30), Float32Array.of(10, 10, 50, 50)];
    const labels = [Int32Array.of(3, 7), Int32Array.of(12)];
    const metas = [META, { ...META, filename: "b.jpg" }];
    const out = tidy(() => {
      const l = head.forwardTrain(feats(null, 2), metas, gts, labels);
      const t = head.getTargets(head.getAnchors(SIZES), gts, metas, null, labels);
      return {
        cls: l.loss_cls,
        bbox: l.loss_bbox,
        counts: t.counts,
        bt: t.bboxTargets,
        bw: t.bboxWeights,
        np: t.numTotalPos,
      };
    });
    const counts = await out.counts.toArray(), np = await out.np.item();
    const P = counts[0] + counts[2], Neg = counts[1] + counts[3];
    // zero features: every logit is exactly the prior bias, p = 0.01
    const x = Math.fround(-4.59511985013459);
    const pos = sigmoidFocalRef([x], [1]).loss[0], neg = sigmoidFocalRef([x], [0]).loss[0];
    assertClose(pos, 0.25 * 0.99 ** 2 * Math.log(100), { rtol: 1e-6, msg: "1.1284 per positive" });
    const lossCls = (await Promise.all(out.cls.map((t) => t.item()))).reduce((a, b) => a + b, 0);
    assertClose(lossCls, (P * pos + (P * 79 + Neg * 80) * neg) / np, {
      rtol: 1e-4,
      msg: "loss_cls",
    });
    assert.ok(
      P > 0 && Math.abs((lossCls * np) / P - 1.1284) < 0.05,
      `≈ 1.13 per positive, got ${(lossCls * np) / P}`,
    );
    const [bt, bw] = (await Promise.all([out.bt.toArray(), out.bw.toArray()])).map((a) =>
      Array.from(a)
    );
    const l1 = bt.reduce((s, v, i) => s + Math.abs(v) * bw[i], 0) / np; // zero deltas
    assertClose((await Promise.all(out.bbox.map((t) => t.item()))).reduce((a, b) => a + b, 0), l1, {
      rtol: 1e-5,
      msg: "loss_bbox",
    });
    for (const t of [...out.cls, ...out.bbox, out.counts, out.bt, out.bw, out.np]) t.dispose();
    head.dispose();
  },
);

gpuTest(
  "RetinaHead.forwardTrain(): empty gt gives non-zero loss_cls and zero loss_bbox, one gt gives both non-zero",
  async (gpu) => {
    const head = tiny({ num_classes: 4 });
    const r = new Rng(1);
    for (
      const [gts, bboxZero] of [[[new Float32Array(0)], true], [
        [Float32Array.of(8, 8, 40, 44)],
        false,
      ]] as const
    ) {
      const before = gpu.stats().readbacks;
      const l = tidy(() =>
        head.forwardTrain(feats(r, 1), [META], [...gts], [
          gts[0].length ? Int32Array.of(2) : new Int32Array(0),
        ])
      );
      assert.equal(gpu.stats().readbacks, before, "no readback in forwardTrain");
      const cls = (await Promise.all(l.loss_cls.map((t) => t.item()))).reduce((a, b) => a + b, 0);
      const bbox = (await Promise.all(l.loss_bbox.map((t) => t.item()))).reduce((a, b) => a + b, 0);
      assert.ok(cls > 0 && Number.isFinite(cls), `loss_cls ${cls}`);
      assert.ok(bboxZero ? bbox === 0 : bbox > 0, `loss_bbox ${bbox}`);
      for (const t of [...l.loss_cls, ...l.loss_bbox]) t.dispose();
    }
    head.dispose();
  },
);

function randomOutputs(r: Rng, N: number, C: number, A = 9) {
  const cls = SIZES.map(([h, w]) =>
    Float32Array.from({ length: N * A * C * h * w }, () => r.uniform(-4, 2))
  );
  const reg = SIZES.map(([h, w]) =>
    Float32Array.from({ length: N * A * 4 * h * w }, () => r.uniform(-0.5, 0.5))
  );
  return { cls, reg };
}

function refLevels(
  head: RetinaHead,
  o: { cls: Float32Array[]; reg: Float32Array[] },
  n: number,
  C: number,
): RefLevel[] {
  const anchors = head.anchorGenerator.gridAnchors(SIZES);
  return SIZES.map(([H, W], l) => {
    const pc = 9 * C * H * W, pr = 36 * H * W;
    return {
      cls: o.cls[l].subarray(n * pc, (n + 1) * pc),
      reg: o.reg[l].subarray(n * pr, (n + 1) * pr),
      anchors: anchors[l],
      H,
      W,
    };
  });
}

for (const rule of ["v2.11", "v2.18"] as const) {
  gpuTest(
    `RetinaHead.getBboxes() (${rule} top-k rule) equals the CPU pipeline: top-k, decode, rescale, multi-class NMS`,
    async () => {
      const C = 3;
      const head = tiny({ num_classes: C });
      const r = new Rng(rule === "v2.11" ? 21 : 22);
      const o = randomOutputs(r, 2, C);
      const cfg = {
        nms_pre: 60,
        score_thr: 0.05,
        nms: { type: "nms", iou_threshold: 0.5 },
        max_per_img: 40,
        topk_rule: rule,
      };
      const metas = [META, { ...META, img_shape: [50, 40, 3], scale_factor: [2, 1.5, 2, 1.5] }];
      const cls = o.cls.map((d, l) => Tensor.from(d, [2, 9 * C, ...SIZES[l]]));
      const reg = o.reg.map((d, l) => Tensor.from(d, [2, 36, ...SIZES[l]]));
      for (const rescale of [true, false]) {
        const dets = await head.getBboxes(cls, reg, metas, { rescale, cfg });
        metas.forEach((m, n) => {
          const ref = getBboxesRef(refLevels(head, o, n, C), {
            numClasses: C,
            numAnchors: 9,
            nmsPre: 60,
            scoreThr: 0.05,
            iouThreshold: 0.5,
            maxPerImg: 40,
            rule,
            imgShape: [m.img_shape![0], m.img_shape![1]],
            scaleFactor: rescale ? m.scale_factor as number[] : null,
          });
          assert.ok(ref.labels.length > 10, "the case must keep detections");
          assert.deepEqual(
            Array.from(dets[n].labels),
            Array.from(ref.labels),
            `image ${n} labels (rescale ${rescale})`,
          );
          assertClose(dets[n].bboxes, ref.bboxes, {
            rtol: 1e-5,
            atol: 1e-4,
            msg: `image ${n} boxes and scores`,
          });
        });
      }
      for (const t of [...cls, ...reg]) t.dispose();
      head.dispose();
    },
  );
}

gpuTest(
  "augTest() merges flipped and unflipped candidates as mmdetection's aug_test_bboxes",
  async () => {
    const C = 2;
    const head = tiny({ num_classes: C });
    const r = new Rng(5);
    const outs = [randomOutputs(r, 1, C), randomOutputs(r, 1, C)];
    const metas: ImgMeta[][] = [[{ ...META, flip: false }], [{
      ...META,
      flip: true,
      flip_direction: "horizontal",
    }]];
    const base: RefCfg = {
      numClasses: C,
      numAnchors: 9,
      nmsPre: 60,
      scoreThr: 0.05,
      iouThreshold: 0.5,
      maxPerImg: 30,
      rule: "v2.11",
      imgShape: [60, 64],
      scaleFactor: [0.5, 0.5, 0.5, 0.5],
    };
    const parts = outs.map((o, i) =>
      candidatesRef(refLevels(head, o, 0, C), { ...base, flip: metas[i][0].flip as boolean })
    );
    const ref = nmsRef({
      boxes: parts.flatMap((p) => p.boxes),
      scores: parts.flatMap((p) => p.scores),
      labels: [],
    }, base);
    const tensors = outs.map((o) =>
      [
        o.cls.map((d, l) => Tensor.from(d, [1, 9 * C, ...SIZES[l]])),
        o.reg.map((d, l) => Tensor.from(d, [1, 36, ...SIZES[l]])),
      ] as [Tensor[], Tensor[]]
    );
    const s = head.inferenceSettings({ ...RETINA.test_cfg, nms_pre: 60, max_per_img: 30 });
    const sets = tensors.map(() => head.getAnchors(SIZES));
    const [dets] = await augTestGpu(tensors, sets, metas, s, { rescale: true });
    assert.ok(ref.labels.length > 5);
    assert.deepEqual(Array.from(dets.labels), Array.from(ref.labels));
    assertClose(dets.bboxes, ref.bboxes, { rtol: 1e-5, atol: 1e-4 });
    const [scaled] = await augTestGpu(tensors, sets, metas, s, { rescale: false });
    assertClose(
      scaled.bboxes.filter((_, k) => k % 5 < 4),
      ref.bboxes.filter((_, k) => k % 5 < 4).map((v) => v * 0.5),
      { rtol: 1e-5, atol: 1e-4, msg: "not rescaled" },
    );
    for (const [c, g] of tensors) for (const t of [...c, ...g]) t.dispose();
    head.dispose();
  },
);

gpuTest(
  "RetinaHead.simpleTest() runs the towers without the tape and returns score-sorted boxes inside the image",
  async () => {
    const head = tiny({ num_classes: 4, test_cfg: { ...RETINA.test_cfg, score_thr: 0 } });
    const r = new Rng(9);
    const f = feats(r, 1);
    const [det] = await head.simpleTest(f, [META], { rescale: false });
    assert.equal(det.bboxes.length, det.labels.length * 5);
    assert.ok(det.labels.length > 0 && det.labels.length <= 100);
    for (let k = 0; k < det.labels.length; k++) {
      const [x1, y1, x2, y2, s] = det.bboxes.subarray(5 * k, 5 * k + 5);
      assert.ok(
        x1 >= 0 && y1 >= 0 && x2 <= 64 && y2 <= 60 && x1 <= x2 && y1 <= y2,
        "clipped to img_shape",
      );
      if (k > 0) assert.ok(s <= det.bboxes[5 * k - 1], "sorted by score");
    }
    for (const t of f) t.dispose();
    head.dispose();
  },
);
