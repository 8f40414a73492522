/**
 * Test-time augmentation of two-stage detectors against `tools/gen_two_stage_aug_fixtures.py`
 * (mmdetection v2.25's `merge_aug_proposals`, `bbox_mapping`, `aug_test_bboxes` /
 * `merge_aug_bboxes` / `multiclass_nms` re-implemented in PyTorch on fixed head outputs), over
 * four augmentations: none, horizontal flip, vertical flip at a non-uniform scale, diagonal flip
 * at 0.75.
 */
import { assert, assertClose, type FixtureArray, loadFixture } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import { Tensor } from "../../../lib/autograd/tensor.ts";
import { augFrameOf, bboxMapping } from "../../../lib/core/post_processing/merge_augs.ts";
import { getGpu } from "../../../lib/gpu/runtime.ts";
import "../../../lib/models/mod.ts";
import {
  mergeAugProposalsGpu,
  type ProposalsGpu,
} from "../../../lib/models/dense_heads/rpn_head.ts";
import type { ImgMeta } from "../../../lib/models/detectors/base.ts";
import { HEADS } from "../../../lib/models/registry.ts";
import type { StandardRoIHead } from "../../../lib/models/roi_heads/standard_roi_head.ts";
import { mapProposalsToRois } from "../../../lib/ops/aug_boxes.ts";

interface Fx {
  img_metas: ImgMeta[];
  num_classes: number;
  rpn_test_cfg: { nms: { iou_threshold: number }; max_per_img: number };
  rcnn_test_cfg: Record<string, unknown>;
  arrays: Record<string, FixtureArray>;
}

const fx = await loadFixture<Fx>("models/two_stage_aug.json");
const A = fx.img_metas.length;
const f32 = (k: string) => Float32Array.from(fx.arrays[k].data);
const frames = fx.img_metas.map((m) => augFrameOf(m));
// values compared bit for bit, except that -0 equals 0
const bits = (a: ArrayLike<number>) => Array.from(a, (v) => v + 0);

function upload(rows: Float32Array, valid: Float32Array): ProposalsGpu {
  const M = valid.length;
  let k = 0;
  while (k < M && valid[k] > 0) k++;
  return {
    proposals: Tensor.from(rows, [1, M, 5]),
    valid: Tensor.from(valid, [1, M]),
    counts: new Tensor(getGpu().upload(Uint32Array.of(k), [1], "u32", "counts")),
    capacity: M,
  };
}
const dispose = (p: ProposalsGpu) => {
  for (const t of [p.proposals, p.valid, p.counts]) t.dispose();
};

gpuTest(
  "mergeAugProposalsGpu equals merge_aug_proposals (map back, concat, nms, max_per_img) over 4 flips/scales with padding",
  async () => {
    const parts = fx.img_metas.map((_, i) => upload(f32(`proposals${i}`), f32(`valid${i}`)));
    const cfg = fx.rpn_test_cfg;
    const r = mergeAugProposalsGpu(parts, frames, {
      iouThreshold: cfg.nms.iou_threshold,
      maxPerImg: cfg.max_per_img,
    });
    try {
      const [rows, valid, counts] = await getGpu().readMany([
        r.proposals.raw,
        r.valid.raw,
        r.counts.raw,
      ]) as [Float32Array, Float32Array, Uint32Array];
      const want = fx.arrays.merged;
      const k = want.shape[0];
      assert.equal(counts[0], k, "merged proposals");
      assert.equal(r.capacity, cfg.max_per_img);
      assertClose(rows.slice(0, k * 5), want.data, { atol: 1e-5, rtol: 1e-6 });
      assert.equal(valid.slice(0, k).every((v) => v === 1), true);
      assert.equal(rows.slice(k * 5).every((v) => v === 0), true, "padding rows are zero");
    } finally {
      for (const p of [...parts, r]) dispose(p);
    }
  },
);

gpuTest(
  "mapProposalsToRois equals bbox_mapping (scale, then flip) with -1 on padding rows",
  async () => {
    const merged = fx.arrays.merged;
    const k = merged.shape[0], M = k + 3;
    const rows = new Float32Array(M * 5), valid = new Float32Array(M);
    rows.set(merged.data);
    valid.fill(1, 0, k);
    const p = upload(rows, valid);
    try {
      for (let i = 0; i < A; i++) {
        const rois = mapProposalsToRois(p.proposals.raw, p.valid.raw, frames[i]);
        const got = await getGpu().read(rois) as Float32Array;
        rois.release();
        assert.deepEqual(
          bits(got.slice(0, k * 5)),
          bits(Float32Array.from(fx.arrays[`rois${i}`].data)),
          `augmentation ${i}: RoIs bit-equal to bbox_mapping`,
        );
        for (let r = k; r < M; r++) assert.equal(got[r * 5], -1, `padding row ${r}`);
        // the CPU bbox_mapping agrees
        const boxes = new Float32Array(k * 4);
        for (let r = 0; r < k; r++) boxes.set(merged.data.slice(r * 5, r * 5 + 4), r * 4);
        const cpu = bboxMapping(boxes, frames[i]);
        for (let r = 0; r < k; r++) {
          assert.deepEqual(
            bits(cpu.slice(r * 4, r * 4 + 4)),
            bits(got.slice(r * 5 + 1, r * 5 + 5)),
          );
        }
      }
    } finally {
      dispose(p);
    }
  },
);

gpuTest(
  "StandardRoIHead.mergeAugDetections equals aug_test_bboxes (softmax, decode per frame, merge_aug_bboxes, multiclass_nms), with and without rescale",
  () => {
    const C = fx.num_classes;
    const head = HEADS.build({
      type: "StandardRoIHead",
      bbox_roi_extractor: {
        type: "SingleRoIExtractor",
        roi_layer: { type: "RoIAlign", output_size: 7, sampling_ratio: 0 },
        out_channels: 2,
        featmap_strides: [4, 8, 16, 32],
      },
      bbox_head: {
        type: "Shared2FCBBoxHead",
        in_channels: 2,
        fc_out_channels: 8,
        roi_feat_size: 7,
        num_classes: C,
        bbox_coder: {
          type: "DeltaXYWHBBoxCoder",
          target_means: [0, 0, 0, 0],
          target_stds: [0.1, 0.1, 0.2, 0.2],
        },
      },
      test_cfg: fx.rcnn_test_cfg,
    }) as unknown as StandardRoIHead;
    try {
      const outs = fx.img_metas.map((_, i) => ({
        rois: f32(`rois${i}`),
        cls: f32(`cls${i}`),
        reg: f32(`reg${i}`),
      }));
      const labels = fx.arrays.labels.data;
      for (const [rescale, key] of [[true, "dets_rescale"], [false, "dets"]] as const) {
        const d = head.mergeAugDetections(outs, fx.img_metas, rescale);
        assert.deepEqual(Array.from(d.labels), labels, `labels (rescale ${rescale})`);
        assertClose(d.bboxes, fx.arrays[key].data, { atol: 1e-4, rtol: 1e-5 });
      }
      // one augmentation without flip at scale 1 is get_bboxes (simple_test_bboxes)
      const one = head.mergeAugDetections([outs[0]], [fx.img_metas[0]], true);
      const simple = head.bboxHead.getBboxes(
        outs[0].rois,
        outs[0].cls,
        outs[0].reg,
        fx.img_metas[0].img_shape!,
        fx.img_metas[0].scale_factor,
        true,
        fx.rcnn_test_cfg,
      );
      assert.deepEqual(Array.from(one.bboxes), Array.from(simple.bboxes));
      assert.deepEqual(Array.from(one.labels), Array.from(simple.labels));
      // no proposals: no detections (mmdet's empty branch of aug_test_bboxes)
      const empty = {
        rois: new Float32Array(0),
        cls: new Float32Array(0),
        reg: new Float32Array(0),
      };
      const none = head.mergeAugDetections([empty, empty], fx.img_metas.slice(0, 2), false);
      assert.equal(none.bboxes.length, 0);
      assert.equal(none.labels.length, 0);
    } finally {
      head.dispose();
    }
  },
);
