import { assert } from "../../_assert.ts";
import { BBOX_SAMPLERS, MaxIoUAssigner, PseudoSampler } from "../../../lib/core/mod.ts";

Deno.test("PseudoSampler.sample() takes every positive and negative, ascending, with their gts", () => {
  const bboxes = Float32Array.of(0, 0, 10, 10, 50, 50, 60, 60, 1, 1, 11, 11, 3.8, 0, 13.8, 10);
  const gtBboxes = Float32Array.of(0, 0, 10, 10);
  const assign = new MaxIoUAssigner({ pos_iou_thr: 0.5, neg_iou_thr: 0.4 })
    .assign({ bboxes, gtBboxes, gtLabels: Int32Array.of(4) });
  assert.deepEqual(Array.from(assign.gtInds), [1, 0, 1, -1]);
  const r = BBOX_SAMPLERS.build({ type: "PseudoSampler" }).sample(assign, { bboxes, gtBboxes });
  assert.deepEqual(Array.from(r.posInds), [0, 2]);
  assert.deepEqual(Array.from(r.negInds), [1]);
  assert.deepEqual(Array.from(r.posBboxes), [0, 0, 10, 10, 1, 1, 11, 11]);
  assert.deepEqual(Array.from(r.negBboxes), [50, 50, 60, 60]);
  assert.deepEqual(Array.from(r.posAssignedGtInds), [0, 0]);
  assert.deepEqual(Array.from(r.posGtBboxes), [0, 0, 10, 10, 0, 0, 10, 10]);
  assert.deepEqual(Array.from(r.posGtLabels!), [4, 4]);
  assert.deepEqual(Array.from(r.posIsGt), [0, 0]);
  assert.equal(r.numGts, 1);
});

Deno.test("PseudoSampler.sample() with no gts gives no positives and all negatives", () => {
  const bboxes = Float32Array.of(0, 0, 10, 10, 5, 5, 9, 9);
  const assign = new MaxIoUAssigner({ pos_iou_thr: 0.5, neg_iou_thr: 0.4 }).assign({
    bboxes,
    gtBboxes: new Float32Array(0),
  });
  const r = new PseudoSampler().sample(assign, { bboxes, gtBboxes: new Float32Array(0) });
  assert.deepEqual([r.posInds.length, Array.from(r.negInds), r.posGtBboxes.length, r.posGtLabels], [
    0,
    [0, 1],
    0,
    null,
  ]);
  const bad = {
    numGts: 0,
    gtInds: Int32Array.of(1),
    maxOverlaps: new Float32Array(1),
    labels: null,
  };
  assert.throws(
    () =>
      new PseudoSampler().sample(bad, {
        bboxes: Float32Array.of(0, 0, 1, 1),
        gtBboxes: new Float32Array(0),
      }),
    /no gt boxes/,
  );
});
