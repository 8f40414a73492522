/**
 * Inference on non-square inputs padded at the bottom/right (issue "top-edge bias"): the GPU
 * `RetinaHead.getBboxes` equals mmdetection v2.25's `get_bboxes` run in plain PyTorch
 * (tools/gen_get_bboxes_fixtures.py: anchors with centre offset 0, per-level
 * filter_scores_and_topk, decode clipped to each image's own img_shape, rescale, mmcv's
 * batched_nms) on the same head outputs, two images with different img_shape in one 96×160 pad.
 */
import { assert, assertClose, loadFixture } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import { Tensor } from "../../../lib/autograd/tensor.ts";
import { RetinaHead } from "../../../lib/models/dense_heads/retina_head.ts";
import type { ImgMeta } from "../../../lib/models/detectors/base.ts";

interface Fx {
  num_classes: number;
  strides: number[];
  sizes: [number, number][];
  metas: ImgMeta[];
  cfg: { nms_pre: number; score_thr: number; iou_threshold: number; max_per_img: number };
  cls: number[][];
  reg: number[][];
  expected: { dets: number[]; labels: number[] }[];
}

gpuTest(
  "getBboxes on non-square, bottom/right-padded images equals mmdetection's get_bboxes (PyTorch)",
  async () => {
    const fx = await loadFixture<Fx>("models/get_bboxes_nonsquare.json");
    const C = fx.num_classes, A = 3;
    const head = new RetinaHead({
      num_classes: C,
      in_channels: 4,
      feat_channels: 4,
      stacked_convs: 0,
      anchor_generator: {
        type: "AnchorGenerator",
        octave_base_scale: 4,
        scales_per_octave: 1,
        ratios: [0.5, 1.0, 2.0],
        strides: fx.strides,
      },
      loss_cls: { type: "FocalLoss", use_sigmoid: true },
      loss_bbox: { type: "L1Loss" },
      train_cfg: null,
    });
    const cls = fx.cls.map((d, l) => Tensor.from(Float32Array.from(d), [2, A * C, ...fx.sizes[l]]));
    const reg = fx.reg.map((d, l) => Tensor.from(Float32Array.from(d), [2, A * 4, ...fx.sizes[l]]));
    const dets = await head.getBboxes(cls, reg, fx.metas, {
      rescale: true,
      cfg: {
        nms_pre: fx.cfg.nms_pre,
        score_thr: fx.cfg.score_thr,
        nms: { type: "nms", iou_threshold: fx.cfg.iou_threshold },
        max_per_img: fx.cfg.max_per_img,
        topk_rule: "v2.18",
      },
    });
    fx.expected.forEach((e, n) => {
      assert.ok(e.labels.length > 10, "the case keeps detections");
      assert.deepEqual(Array.from(dets[n].labels), e.labels, `image ${n} labels`);
      assertClose(dets[n].bboxes, Float32Array.from(e.dets), {
        rtol: 1e-5,
        atol: 1e-4,
        msg: `image ${n} boxes and scores`,
      });
      // boxes stay inside the image (not the padding) in original-image pixels
      const [h, w] = fx.metas[n].img_shape!;
      const sf = fx.metas[n].scale_factor as number[];
      const b = dets[n].bboxes;
      for (let i = 0; i < b.length; i += 5) {
        assert.ok(
          b[i + 2] <= w / sf[0] + 1e-3 && b[i + 3] <= h / sf[1] + 1e-3,
          `box ${i / 5} inside`,
        );
      }
    });
    for (const t of [...cls, ...reg]) t.dispose();
    head.dispose();
  },
);
