/**
 * Test-time GPU decoding with every box coder the heads accept: `DeltaXYWHBBoxCoder` with
 * `add_ctr_clamp` (centre shift clamped to ±`ctr_clamp` pixels, dw/dh clamped from above only) and
 * `LegacyDeltaXYWHBBoxCoder` (+1 widths, clipped to `[0, w − 1]` × `[0, h − 1]`) give the same
 * detections as the CPU pipeline built on the coders' own `decode` (the mmdetection reference).
 */
import { assert, assertClose } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import { Rng } from "../../_reference/rng.ts";
import { Tensor } from "../../../lib/autograd/tensor.ts";
import { BBOX_CODERS } from "../../../lib/core/mod.ts";
import type { DeltaXYWHBBoxCoder } from "../../../lib/core/bbox/coders/delta_xywh_bbox_coder.ts";
import { RetinaHead } from "../../../lib/models/dense_heads/retina_head.ts";
import type { ImgMeta } from "../../../lib/models/detectors/base.ts";
import { getBboxesRef, type RefLevel } from "./_get_bboxes_ref.ts";

const SIZES: [number, number][] = [[8, 8], [4, 4], [2, 2]];
const C = 2, A = 3;

const CODERS = [
  // large deltas and a small ctr_clamp so the clamps decide many boxes
  { type: "DeltaXYWHBBoxCoder", add_ctr_clamp: true, ctr_clamp: 4 },
  { type: "DeltaXYWHBBoxCoder", add_ctr_clamp: true, target_stds: [0.1, 0.1, 0.2, 0.2] },
  { type: "LegacyDeltaXYWHBBoxCoder" },
  { type: "LegacyDeltaXYWHBBoxCoder", target_stds: [0.1, 0.1, 0.2, 0.2] },
];

for (const coderCfg of CODERS) {
  gpuTest(
    `getBboxes() on the GPU decodes as ${JSON.stringify(coderCfg)}'s CPU decode`,
    async () => {
      const head = new RetinaHead({
        num_classes: C,
        in_channels: 4,
        feat_channels: 4,
        stacked_convs: 1,
        anchor_generator: {
          type: "AnchorGenerator",
          octave_base_scale: 4,
          scales_per_octave: 1,
          ratios: [0.5, 1.0, 2.0],
          strides: [8, 16, 32],
        },
        bbox_coder: coderCfg,
        loss_cls: { type: "FocalLoss", use_sigmoid: true },
        loss_bbox: { type: "L1Loss" },
        train_cfg: null,
      });
      const r = new Rng(31);
      const N = 2;
      const cls = SIZES.map(([h, w]) =>
        Float32Array.from({ length: N * A * C * h * w }, () => r.uniform(-4, 2))
      );
      const reg = SIZES.map(([h, w]) =>
        Float32Array.from({ length: N * A * 4 * h * w }, () => r.uniform(-3, 3))
      );
      const metas: ImgMeta[] = [
        { img_shape: [60, 64, 3], pad_shape: [64, 64, 3], scale_factor: [1, 1, 1, 1] },
        { img_shape: [50, 40, 3], pad_shape: [64, 64, 3], scale_factor: [2, 1.5, 2, 1.5] },
      ];
      const cfg = {
        nms_pre: 40,
        score_thr: 0.05,
        nms: { type: "nms", iou_threshold: 0.5 },
        max_per_img: 30,
      };
      const clsT = cls.map((d, l) => Tensor.from(d, [N, A * C, ...SIZES[l]]));
      const regT = reg.map((d, l) => Tensor.from(d, [N, A * 4, ...SIZES[l]]));
      const anchors = head.anchorGenerator.gridAnchors(SIZES);
      const coder = BBOX_CODERS.build(coderCfg) as DeltaXYWHBBoxCoder;
      for (const rescale of [false, true]) {
        const dets = await head.getBboxes(clsT, regT, metas, { rescale, cfg });
        metas.forEach((m, n) => {
          const levels: RefLevel[] = SIZES.map(([H, W], l) => {
            const pc = A * C * H * W, pr = A * 4 * H * W;
            return {
              cls: cls[l].subarray(n * pc, (n + 1) * pc),
              reg: reg[l].subarray(n * pr, (n + 1) * pr),
              anchors: anchors[l],
              H,
              W,
            };
          });
          const ref = getBboxesRef(levels, {
            numClasses: C,
            numAnchors: A,
            nmsPre: 40,
            scoreThr: 0.05,
            iouThreshold: 0.5,
            maxPerImg: 30,
            rule: "v2.11",
            imgShape: [m.img_shape![0], m.img_shape![1]],
            scaleFactor: rescale ? m.scale_factor as number[] : null,
            coder,
          });
          assert.ok(ref.labels.length > 5, "the case must keep detections");
          assert.deepEqual(Array.from(dets[n].labels), Array.from(ref.labels), `image ${n} labels`);
          assertClose(dets[n].bboxes, ref.bboxes, {
            rtol: 1e-5,
            atol: 1e-4,
            msg: `image ${n} boxes`,
          });
          if (coderCfg.type === "LegacyDeltaXYWHBBoxCoder" && !rescale) {
            // clipped to w − 1 / h − 1, and the clip is reached by some box
            const [h, w] = m.img_shape!;
            const b = dets[n].bboxes;
            let atEdge = 0;
            for (let i = 0; i < b.length; i += 5) {
              assert.ok(
                b[i + 2] <= w - 1 && b[i + 3] <= h - 1,
                `box ${i / 5} inside [0, w-1]x[0, h-1]`,
              );
              if (b[i + 2] === w - 1 || b[i + 3] === h - 1) atEdge++;
            }
            assert.ok(atEdge > 0, "some box reaches the legacy clip edge");
          }
        });
      }
      for (const t of [...clsT, ...regT]) t.dispose();
      head.dispose();
    },
  );
}
