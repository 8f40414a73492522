/**
 * Tier-3 smoke test: the real `configs/retinanet/retinanet_tiny_shapes.ts` (bases merged), widths
 * shrunk further, built through the registries with the real `RetinaHead`; one training step and
 * one test pass, checking mmdet's invariants.
 */
import { backward } from "../../../lib/autograd/tape.ts";
import { Tensor, tidy } from "../../../lib/autograd/tensor.ts";
import { loadConfig } from "../../../lib/config/config.ts";
import { setSeed } from "../../../lib/nn/init.ts";
import { buildDetector } from "../../../lib/models/mod.ts";
import type { ImgMeta } from "../../../lib/models/detectors/base.ts";
import type { SingleStageDetector } from "../../../lib/models/detectors/single_stage.ts";
import type { TypedCfg } from "../../../lib/utils/registry.ts";
import { Rng } from "../../../lib/utils/rng.ts";
import { assert } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";

const cfg = await loadConfig(
  new URL("../../../configs/retinanet/retinanet_tiny_shapes.ts", import.meta.url),
);
// deno-lint-ignore no-explicit-any
const model = structuredClone(cfg.dict.model) as any;
model.backbone.base_channels = 4; // stage outputs 4, 8, 16, 32
model.neck.in_channels = [4, 8, 16, 32];
model.neck.out_channels = 8;
Object.assign(model.bbox_head, { in_channels: 8, feat_channels: 8, stacked_convs: 1 });
if (model.bbox_head.norm_cfg?.type === "GN") model.bbox_head.norm_cfg.num_groups = 4; // GN groups must divide 8 channels

const S = 64;
function metas(flip = false): ImgMeta[] {
  return [{
    img_shape: [S, S, 3],
    pad_shape: [S, S, 3],
    ori_shape: [S, S, 3],
    scale_factor: [1, 1, 1, 1],
    flip,
    flip_direction: flip ? "horizontal" : null,
    filename: "smoke.png",
  }];
}
function image(): Tensor {
  const r = new Rng(4);
  return Tensor.from(Float32Array.from({ length: 3 * S * S }, () => r.normal()), [1, 3, S, S]);
}

gpuTest(
  "RetinaNet (tiny shapes config) train step: empty gt gives loss_cls > 0 and loss_bbox = 0, one box gives both > 0",
  async () => {
    setSeed(0);
    const det = buildDetector(model as TypedCfg) as SingleStageDetector;
    det.train();
    const img = image();
    const values: Record<string, number>[] = [];
    for (
      const [boxes, labels] of [[new Float32Array(0), new Int32Array(0)], [
        Float32Array.of(8, 10, 40, 44),
        Int32Array.of(2),
      ]] as const
    ) {
      const out = tidy(() => {
        const o = det.trainStep({
          img,
          img_metas: metas(),
          gt_bboxes: [boxes],
          gt_labels: [labels],
        });
        backward(o.loss);
        return o.log_vars;
      });
      const v: Record<string, number> = {};
      for (const [k, t] of Object.entries(out)) {
        v[k] = await t.item();
        t.dispose();
      }
      values.push(v);
      for (const [n, p] of det.namedParameters()) {
        if (!p.grad) continue;
        const g = await p.grad.toArray();
        assert.ok(g.every(Number.isFinite), `${n} gradient is finite`);
        p.grad.dispose();
        p.grad = null;
      }
    }
    assert.deepEqual(Object.keys(values[0]), ["loss_cls", "loss_bbox", "loss"]);
    assert.ok(
      values[0].loss_cls > 0 && values[0].loss_bbox === 0,
      `empty gt: ${JSON.stringify(values[0])}`,
    );
    assert.ok(
      values[1].loss_cls > 0 && values[1].loss_bbox > 0,
      `one gt: ${JSON.stringify(values[1])}`,
    );
    assert.ok(Number.isFinite(values[1].loss));
    img.dispose();
    det.dispose();
  },
);

gpuTest(
  "RetinaNet (tiny shapes config) test pass returns per-class [m, 5] detections, also with flip TTA",
  async () => {
    setSeed(0);
    const det = buildDetector(model as TypedCfg) as SingleStageDetector;
    det.eval();
    const img = image();
    const [res] = await det.forward([img], [metas()], { returnLoss: false, rescale: true });
    assert.equal(res.length, 3, "one array per class");
    for (const a of res) assert.equal(a.length % 5, 0);
    if (typeof det.bboxHead.augTest === "function") {
      const aug = await det.forward([img, img], [metas(), metas(true)], {
        returnLoss: false,
        rescale: true,
      });
      assert.equal(aug.length, 1);
      assert.equal(aug[0].length, 3);
    }
    img.dispose();
    det.dispose();
  },
);
