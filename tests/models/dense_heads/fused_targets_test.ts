/**
 * The fused target kernel (MaxIoUAssigner + PseudoSampler + DeltaXYWHBBoxCoder in one pass, opt-in
 * with `head.fusedTargets = true`) and the composed GPU stages give bit-identical targets on random
 * batches with ignore regions, empty images and many gts; `deno task bench targets` times both.
 */
import { assert } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import { Rng } from "../../_reference/rng.ts";
import { tidy } from "../../../lib/autograd/tensor.ts";
import { RetinaHead } from "../../../lib/models/dense_heads/retina_head.ts";
import type { ImgMeta } from "../../../lib/models/detectors/base.ts";

function boxes(r: Rng, n: number, h: number, w: number): Float32Array {
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const bw = r.uniform(4, w / 2), bh = r.uniform(4, h / 2);
    const x = r.uniform(0, w - bw), y = r.uniform(0, h - bh);
    out.set([x, y, x + bw, y + bh], 4 * i);
  }
  return out;
}

for (
  const assigner of [
    { pos_iou_thr: 0.5, neg_iou_thr: 0.4, min_pos_iou: 0, ignore_iof_thr: 0.5 },
    { pos_iou_thr: 0.5, neg_iou_thr: [0.1, 0.4], min_pos_iou: 0.3, gt_max_assign_all: false },
  ]
) {
  gpuTest(
    `fused and composed anchor targets are identical (${JSON.stringify(assigner)})`,
    async () => {
      const head = new RetinaHead({
        num_classes: 4,
        in_channels: 4,
        feat_channels: 4,
        stacked_convs: 0,
        anchor_generator: {
          type: "AnchorGenerator",
          octave_base_scale: 4,
          scales_per_octave: 2,
          ratios: [0.5, 1.0, 2.0],
          strides: [8, 16, 32],
        },
        bbox_coder: {
          type: "DeltaXYWHBBoxCoder",
          target_means: [0, 0, 0, 0],
          target_stds: [0.1, 0.1, 0.2, 0.2],
        },
        loss_cls: { type: "FocalLoss", use_sigmoid: true },
        loss_bbox: { type: "L1Loss" },
        train_cfg: {
          assigner: { type: "MaxIoUAssigner", ...assigner },
          allowed_border: -1,
          pos_weight: -1,
        },
      });
      const r = new Rng(11);
      const H = 96, W = 128;
      const sizes: [number, number][] = [[12, 16], [6, 8], [3, 4]];
      const set = head.getAnchors(sizes);
      const N = 4;
      const metas: ImgMeta[] = Array.from({ length: N }, (_, i) => ({
        img_shape: [H - 8 * i, W - 4 * i, 3],
        pad_shape: [H, W, 3],
        scale_factor: [1, 1, 1, 1],
      }));
      for (let trial = 0; trial < 4; trial++) {
        const counts = [0, 1 + trial, 40 + 80 * trial, 7];
        const gts = counts.map((k) => boxes(r, k, H, W));
        const labels = counts.map((k) => Int32Array.from({ length: k }, () => r.int(0, 4)));
        const ignore = counts.map((_, i) => (i % 2 ? boxes(r, 2, H, W) : null));
        const get = async (fused: boolean) => {
          head.fusedTargets = fused;
          const t = tidy(() => head.getTargets(set, gts, metas, ignore, labels));
          // the fused kernel has no sampling stage: proves which path ran
          assert.equal(t.sampled === null, fused, `fused ${fused}`);
          const out = await Promise.all(
            [t.labels, t.labelWeights, t.bboxTargets, t.bboxWeights, t.assign, t.counts].map((x) =>
              x.toArray()
            ),
          );
          for (
            const x of [t.labels, t.labelWeights, t.bboxTargets, t.bboxWeights, t.assign, t.counts]
          ) {
            x.dispose();
          }
          t.sampled?.dispose();
          t.flags.dispose();
          return out;
        };
        const fused = await get(true), composed = await get(false);
        // numTotalPos/Neg are GPU scalars of the same counts
        const names = ["labels", "labelWeights", "bboxTargets", "bboxWeights", "assign", "counts"];
        names.forEach((n, i) =>
          assert.deepEqual(
            new Uint32Array(composed[i].buffer),
            new Uint32Array(fused[i].buffer),
            `trial ${trial}: ${n} (bitwise)`,
          )
        );
        assert.ok(fused[3].some((v) => v > 0), "the batch has positives");
      }
      head.dispose();
    },
  );
}
