/**
 * The RetinaNet head-loss oracle (`tests/fixtures/core/retina_loss*.json`, a plain-PyTorch
 * re-implementation of mmdetection's RetinaHead loss) against the TypeScript reference, and the
 * lib/core CPU components composed as `AnchorHead.get_targets` against the fixture's targets.
 */
import { assert, assertClose, type FixtureArray, loadFixture } from "../../_assert.ts";
import {
  ANCHOR_GENERATORS,
  BBOX_ASSIGNERS,
  BBOX_CODERS,
  BBOX_SAMPLERS,
  concatArrays,
  type FeatmapSize,
  imagesToLevels,
  unmap,
} from "../../../lib/core/mod.ts";
import { retinaLossRef, type RetinaLossRefInputs } from "../../_reference/retina_loss_ref.ts";

interface RetinaFixture {
  num_classes: number;
  strides: number[];
  featmap_sizes: FeatmapSize[];
  anchor_generator: { type: string };
  assigner: { type: string; pos_iou_thr: number; neg_iou_thr: number; min_pos_iou: number };
  img_shape: [number, number];
  pad_shapes: [number, number][];
  gt_bboxes: FixtureArray[];
  gt_labels: FixtureArray[];
  cls_scores: FixtureArray[];
  bbox_preds: FixtureArray[];
  anchors: FixtureArray[];
  valid_flags: FixtureArray[][];
  labels: FixtureArray[];
  label_weights: FixtureArray[];
  bbox_targets: FixtureArray[];
  bbox_weights: FixtureArray[];
  num_pos_per_image: number[];
  num_total_pos: number;
  loss_cls: number[];
  loss_bbox: number[];
  grad_cls_scores: FixtureArray[];
  grad_bbox_preds: FixtureArray[];
}

const CASES = ["core/retina_loss.json", "core/retina_loss_empty.json"];

function inputs(fx: RetinaFixture, clsScores?: ArrayLike<number>[]): RetinaLossRefInputs {
  return {
    numClasses: fx.num_classes,
    numAnchors: fx.anchors[0].shape[0] / (fx.featmap_sizes[0][0] * fx.featmap_sizes[0][1]),
    featmapSizes: fx.featmap_sizes,
    clsScores: clsScores ?? fx.cls_scores.map((c) => c.data),
    bboxPreds: fx.bbox_preds.map((b) => b.data),
    anchors: fx.anchors.map((a) => a.data),
    validFlags: fx.valid_flags.map((img) => img.map((v) => v.data)),
    gtBboxes: fx.gt_bboxes.map((g) => g.data),
    gtLabels: fx.gt_labels.map((g) => g.data),
  };
}

Deno.test("retinaLossRef() equals the PyTorch RetinaHead loss fixture: targets, losses and gradients", async () => {
  for (const path of CASES) {
    const fx = await loadFixture<RetinaFixture>(path);
    const r = retinaLossRef(inputs(fx), { assigner: fx.assigner });
    assert.equal(r.numTotalPos, fx.num_total_pos, path);
    fx.featmap_sizes.forEach((_, l) => {
      const msg = `${path} level ${l}`;
      assert.deepEqual(Array.from(r.labels[l]), fx.labels[l].data, msg);
      assert.deepEqual(Array.from(r.labelWeights[l]), fx.label_weights[l].data, msg);
      assert.deepEqual(Array.from(r.bboxWeights[l]), fx.bbox_weights[l].data, msg);
      assertClose(r.bboxTargets[l], fx.bbox_targets[l].data, { rtol: 1e-5, atol: 1e-6, msg });
      assertClose(r.lossCls[l], fx.loss_cls[l], { rtol: 1e-5, msg: `${msg} loss_cls` });
      assertClose(r.lossBbox[l], fx.loss_bbox[l], {
        rtol: 1e-5,
        atol: 1e-7,
        msg: `${msg} loss_bbox`,
      });
      assertClose(r.gradCls[l], fx.grad_cls_scores[l].data, {
        rtol: 1e-5,
        atol: 1e-8,
        msg: `${msg} grad cls`,
      });
      assertClose(r.gradBbox[l], fx.grad_bbox_preds[l].data, {
        rtol: 1e-5,
        atol: 1e-8,
        msg: `${msg} grad bbox`,
      });
    });
    assert.ok(fx.loss_bbox.every((v) => v > 0), `${path}: both levels have positives`);
  }
});

Deno.test("lib/core components composed as AnchorHead.get_targets reproduce the fixture's targets", async () => {
  for (const path of CASES) {
    const fx = await loadFixture<RetinaFixture>(path);
    const gen = ANCHOR_GENERATORS.build(fx.anchor_generator);
    const assigner = BBOX_ASSIGNERS.build(fx.assigner);
    const sampler = BBOX_SAMPLERS.build({ type: "PseudoSampler" });
    const coder = BBOX_CODERS.build({ type: "DeltaXYWHBBoxCoder" });
    const mlvl = gen.gridAnchors(fx.featmap_sizes);
    mlvl.forEach((a, l) =>
      assert.deepEqual(Array.from(a), fx.anchors[l].data, `${path} anchors ${l}`)
    );
    const flat = concatArrays(mlvl), C = fx.num_classes;
    const perImage = {
      labels: [] as Int32Array[],
      lw: [] as Float32Array[],
      bt: [] as Float32Array[],
      bw: [] as Float32Array[],
    };
    let numTotalPos = 0;
    fx.pad_shapes.forEach((pad, n) => {
      const valid = gen.validFlags(fx.featmap_sizes, pad);
      valid.forEach((v, l) => assert.deepEqual(Array.from(v), fx.valid_flags[n][l].data));
      const inside = concatArrays(valid); // allowed_border −1
      const idx = [...inside.keys()].filter((j) => inside[j]);
      const anchors = Float32Array.from(
        idx.flatMap((j) => Array.from(flat.subarray(4 * j, 4 * j + 4))),
      );
      const gtBboxes = Float32Array.from(fx.gt_bboxes[n].data),
        gtLabels = Int32Array.from(fx.gt_labels[n].data);
      const res = sampler.sample(assigner.assign({ bboxes: anchors, gtBboxes, gtLabels }), {
        bboxes: anchors,
        gtBboxes,
      });
      const m = idx.length;
      const labels = new Int32Array(m).fill(C),
        lw = new Float32Array(m),
        bt = new Float32Array(4 * m),
        bw = new Float32Array(4 * m);
      const targets = coder.encode(res.posBboxes, res.posGtBboxes);
      res.posInds.forEach((j, r) => {
        bt.set(targets.subarray(4 * r, 4 * r + 4), 4 * j);
        bw.fill(1, 4 * j, 4 * j + 4);
        labels[j] = res.posGtLabels![r];
        lw[j] = 1;
      });
      res.negInds.forEach((j) => (lw[j] = 1));
      perImage.labels.push(unmap(labels, inside, { fill: C }));
      perImage.lw.push(unmap(lw, inside));
      perImage.bt.push(unmap(bt, inside, { width: 4 }));
      perImage.bw.push(unmap(bw, inside, { width: 4 }));
      assert.equal(res.posInds.length, fx.num_pos_per_image[n]);
      numTotalPos += Math.max(res.posInds.length, 1);
    });
    assert.equal(numTotalPos, fx.num_total_pos);
    const counts = mlvl.map((a) => a.length / 4);
    imagesToLevels(perImage.labels, counts).forEach((l, i) =>
      assert.deepEqual(Array.from(l), fx.labels[i].data)
    );
    imagesToLevels(perImage.lw, counts).forEach((l, i) =>
      assert.deepEqual(Array.from(l), fx.label_weights[i].data)
    );
    imagesToLevels(perImage.bw, counts, { width: 4 }).forEach((l, i) =>
      assert.deepEqual(Array.from(l), fx.bbox_weights[i].data)
    );
    imagesToLevels(perImage.bt, counts, { width: 4 }).forEach((l, i) =>
      assertClose(l, fx.bbox_targets[i].data, {
        rtol: 4e-7,
        atol: 1e-6,
        msg: `${path} targets ${i}`,
      })
    );
  }
});

Deno.test("retinaLossRef() gives ≈ 1.13 focal loss per positive at the prior bias −4.59512 (spec §2.8)", async () => {
  const fx = await loadFixture<RetinaFixture>("core/retina_loss.json");
  const prior = fx.cls_scores.map((c) =>
    new Float64Array(c.data.length).fill(-Math.log((1 - 0.01) / 0.01))
  );
  const r = retinaLossRef(inputs(fx, prior), { assigner: fx.assigner });
  const total = r.lossCls.reduce((a, b) => a + b, 0);
  // every image has positives, so num_total_pos = #positives; negatives add ~C·0.75·1e-4·0.01 each
  assert.ok(fx.num_pos_per_image.every((p) => p > 0));
  assertClose(total, 0.25 * 0.99 ** 2 * Math.log(100), { rtol: 0.01 });
  const v22 = retinaLossRef(inputs(fx, prior), { assigner: fx.assigner, version: "v2.2x" });
  assert.ok(
    v22.lossCls[0] < r.lossCls[0] && v22.lossCls[0] / r.lossCls[0] > 1 - 1e-8,
    "v2.2x adds eps to avg_factor",
  );
});
