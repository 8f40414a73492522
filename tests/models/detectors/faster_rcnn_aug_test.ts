/**
 * Faster R-CNN test-time augmentation end to end on a tiny model (the tiny shapes config,
 * narrowed, random weights): `augTest` with one augmentation equals `simpleTest`; a flip pair
 * gives per-class detections inside the image that do not depend on the order of the
 * augmentations; the RPN detector's `augTest` likewise; and `testDetector` (the `deno task test`
 * API) with `MultiScaleFlipAug(flip=True)` runs the augmented path on a checkpoint.
 */
import { Tensor } from "../../../lib/autograd/tensor.ts";
import { toCpuStateDict } from "../../../lib/apis/adapters.ts";
import { testDetector } from "../../../lib/apis/test.ts";
import { applyCfgOptions, loadConfig } from "../../../lib/config/mod.ts";
import { ensureShapesDataset } from "../../../lib/datasets/synthetic.ts";
import { setSeed } from "../../../lib/nn/init.ts";
import { buildDetector } from "../../../lib/models/mod.ts";
import type { BboxResult, ImgMeta } from "../../../lib/models/detectors/base.ts";
import { RPN } from "../../../lib/models/detectors/rpn.ts";
import { type FasterRCNN, TwoStageDetector } from "../../../lib/models/detectors/two_stage.ts";
import { saveCheckpoint } from "../../../lib/runner/checkpoint.ts";
import type { TypedCfg } from "../../../lib/utils/registry.ts";
import { Rng } from "../../../lib/utils/rng.ts";
import { assert, assertClose } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import { CACHE } from "../../e2e/_tiny.ts";

const cfgUrl = (p: string) => new URL(`../../../configs/${p}`, import.meta.url);
const NARROW = [
  "model.backbone.base_channels=4",
  "model.neck.in_channels=[4,8,16,32]",
  "model.neck.out_channels=8",
  "model.rpn_head.in_channels=8",
  "model.rpn_head.feat_channels=8",
  "model.roi_head.bbox_roi_extractor.out_channels=8",
  "model.roi_head.bbox_head.in_channels=8",
  "model.roi_head.bbox_head.fc_out_channels=32",
  "model.test_cfg.rpn.max_per_img=64",
  // random weights score near 1 / (C + 1): keep low-scoring detections so that NMS has work
  "model.test_cfg.rcnn.score_thr=0.01",
];
const tiny = await loadConfig(cfgUrl("faster_rcnn/faster_rcnn_tiny_shapes.ts"));
applyCfgOptions(tiny, NARROW, { warn: () => {} });

const H = 64, W = 64;
function meta(flip: boolean, sf = 1): ImgMeta {
  return {
    img_shape: [H, W, 3],
    pad_shape: [H, W, 3],
    ori_shape: [H / sf, W / sf, 3],
    scale_factor: [sf, sf, sf, sf],
    flip,
    flip_direction: flip ? "horizontal" : null,
    batch_input_shape: [H, W],
  };
}
function image(seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: 3 * H * W }, () => r.normal());
}
function flipW(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < H; y++) {
      for (let x0 = 0; x0 < W; x0++) {
        out[(c * H + y) * W + x0] = x[(c * H + y) * W + (W - 1 - x0)];
      }
    }
  }
  return out;
}
const same = (a: BboxResult[], b: BboxResult[], msg: string) => {
  assert.equal(a.length, b.length, msg);
  a.forEach((r, n) =>
    r.forEach((cls, c) =>
      assert.deepEqual(Array.from(cls), Array.from(b[n][c]), `${msg}: image ${n} class ${c}`)
    )
  );
};

gpuTest(
  "Faster R-CNN augTest: one augmentation equals simpleTest; a flip pair gives in-image per-class detections independent of augmentation order",
  async () => {
    setSeed(0);
    const det = buildDetector(tiny.dict.model as TypedCfg) as FasterRCNN;
    det.eval();
    const x = image(7), xf = flipW(x);
    const img = Tensor.from(x, [1, 3, H, W]), imgF = Tensor.from(xf, [1, 3, H, W]);
    try {
      for (const rescale of [false, true]) {
        const simple = await det.simpleTest(img, [meta(false)], { rescale });
        const aug = await det.augTest([img], [[meta(false)]], { rescale });
        same(aug, simple, `one augmentation, rescale ${rescale}`);
      }
      // a scaled single augmentation: the same detections up to the scale round trip
      const s2 = await det.simpleTest(img, [meta(false, 2)], { rescale: true });
      const a2 = await det.augTest([img], [[meta(false, 2)]], { rescale: true });
      const n2 = s2[0].reduce((a, c) => a + c.length, 0);
      assert.ok(n2 > 0, "the random model detects something");
      a2[0].forEach((c, k) => assertClose(c, s2[0][k], { atol: 1e-3, rtol: 1e-4 }));

      const pair = await det.forwardTest([img, imgF], [[meta(false)], [meta(true)]], {
        rescale: true,
      });
      assert.equal(pair.length, 1);
      assert.equal(pair[0].length, 3, "one array per class");
      let n = 0;
      for (const cls of pair[0]) {
        for (let r = 0; r * 5 < cls.length; r++, n++) {
          const [x1, y1, x2, y2, s] = cls.slice(r * 5, r * 5 + 5);
          assert.ok(0 <= x1 && x1 <= x2 && x2 <= W && 0 <= y1 && y1 <= y2 && y2 <= H, `box ${r}`);
          assert.ok(s > 0.01 && s <= 1, `score ${s}`);
        }
      }
      assert.ok(n > 0 && n <= 100, `${n} detections`);
      const swapped = await det.augTest([imgF, img], [[meta(true)], [meta(false)]], {
        rescale: true,
      });
      pair[0].forEach((c, k) => assertClose(swapped[0][k], c, { atol: 1e-4, rtol: 1e-5 }));
      // no proposal survives min_bbox_size: no detections, as mmdet's empty branch
      const rpnCfg = det.rpnHead.rpnTestCfg!;
      const keep = rpnCfg.min_bbox_size;
      rpnCfg.min_bbox_size = 1e6;
      try {
        const none = await det.augTest([img, imgF], [[meta(false)], [meta(true)]]);
        assert.deepEqual(none[0].map((c) => c.length), [0, 0, 0]);
      } finally {
        rpnCfg.min_bbox_size = keep;
      }
      // the flip matters: the pair differs from the unflipped image alone
      const alone = await det.simpleTest(img, [meta(false)], { rescale: true });
      assert.notDeepEqual(
        pair[0].map((c) => Array.from(c)),
        alone[0].map((c) => Array.from(c)),
      );
    } finally {
      img.dispose();
      imgF.dispose();
      det.dispose();
    }
  },
);

gpuTest(
  "RPN augTest: one augmentation equals simpleTest, a flip pair merges proposals",
  async () => {
    const cfg = await loadConfig(cfgUrl("rpn/rpn_tiny_shapes.ts"));
    applyCfgOptions(cfg, [
      "model.backbone.base_channels=4",
      "model.neck.in_channels=[4,8,16,32]",
      "model.neck.out_channels=8",
      "model.rpn_head.in_channels=8",
      "model.rpn_head.feat_channels=8",
      "model.test_cfg.rpn.max_per_img=50",
    ], { warn: () => {} });
    setSeed(1);
    const det = buildDetector(cfg.dict.model as TypedCfg) as RPN;
    assert.ok(det instanceof RPN);
    det.eval();
    const x = image(9);
    const img = Tensor.from(x, [1, 3, H, W]), imgF = Tensor.from(flipW(x), [1, 3, H, W]);
    try {
      for (const rescale of [false, true]) {
        same(
          await det.augTest([img], [[meta(false)]], { rescale }),
          await det.simpleTest(img, [meta(false)], { rescale }),
          `RPN, rescale ${rescale}`,
        );
      }
      const [[p]] = await det.augTest([img, imgF], [[meta(false)], [meta(true)]], {
        rescale: true,
      });
      const k = p.length / 5;
      assert.ok(k > 0 && k <= 50, `${k} merged proposals`);
      for (let r = 1; r < k; r++) assert.ok(p[r * 5 + 4] <= p[r * 5 - 1], "sorted by score");
    } finally {
      img.dispose();
      imgF.dispose();
      det.dispose();
    }
  },
);

gpuTest(
  "testDetector (deno task test) with MultiScaleFlipAug flip=True runs Faster R-CNN's augTest on a checkpoint",
  async () => {
    const info = await ensureShapesDataset(CACHE, {
      numTrain: 8,
      numVal: 4,
      imgSize: 64,
      seed: 3,
      objectSize: [14, 32],
      objectsPerImage: [1, 3],
    });
    const cfg = await loadConfig(cfgUrl("faster_rcnn/faster_rcnn_tiny_shapes.ts"));
    applyCfgOptions(cfg, [
      ...NARROW,
      "data.workers_per_gpu=0",
      "+data.synthetic=None",
      ...["train", "val", "test"].map((s) => `data.${s}.data_root=${info.root}/`),
      "data.test.pipeline.1.img_scale=[64,64]",
      "data.test.pipeline.1.flip=True",
    ], { warn: () => {} });
    const dir = await Deno.makeTempDir({ prefix: "wgdet-frcnn-aug-" });
    setSeed(2);
    const det = buildDetector(cfg.dict.model as TypedCfg);
    const ckpt = `${dir}/random.safetensors`;
    await saveCheckpoint(ckpt, { stateDict: toCpuStateDict(await det.stateDict()) });
    det.dispose();
    const proto = TwoStageDetector.prototype;
    const orig = proto.augTest;
    let calls = 0, augs = 0;
    proto.augTest = function (this: TwoStageDetector, imgs, metas, opts) {
      calls++;
      augs = imgs.length;
      assert.deepEqual(metas.map((m) => m[0].flip), [false, true]);
      return orig.call(this, imgs, metas, opts);
    };
    try {
      const m = await testDetector(cfg, ckpt, { eval: ["bbox"], log: () => {}, progress: "none" });
      assert.equal(calls, 4, "augTest once per test image");
      assert.equal(augs, 2, "no flip + horizontal flip");
      const map = (m as Record<string, number>).bbox_mAP;
      assert.ok(typeof map === "number" && map >= 0 && map <= 1, `bbox_mAP ${map}`);
    } finally {
      proto.augTest = orig;
      await Deno.remove(dir, { recursive: true });
    }
  },
);
