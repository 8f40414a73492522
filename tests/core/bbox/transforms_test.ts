import { assert } from "../../_assert.ts";
import { bbox2result, filterDegenerateGts, MaxIoUAssigner } from "../../../lib/core/mod.ts";

Deno.test("bbox2result() splits detections into one [m, 5] array per class", () => {
  const dets = Float32Array.of(0, 0, 1, 1, 0.9, 2, 2, 3, 3, 0.8, 4, 4, 5, 5, 0.7);
  const out = bbox2result({ dets, labels: Int32Array.of(2, 0, 2) }, 3);
  assert.deepEqual(out.map((a) => Array.from(a)), [[2, 2, 3, 3, Math.fround(0.8)], [], [
    0,
    0,
    1,
    1,
    Math.fround(0.9),
    4,
    4,
    5,
    5,
    Math.fround(0.7),
  ]]);
  assert.deepEqual(
    bbox2result({ dets: new Float32Array(0), labels: new Int32Array(0) }, 2).map((a) => a.length),
    [0, 0],
  );
  assert.throws(
    () => bbox2result({ dets, labels: Int32Array.of(0, 1, 3) }, 3),
    /label 3 is outside \[0, 3\)/,
  );
});

Deno.test("filterDegenerateGts() drops zero-area and inverted gts with one warning naming the image", () => {
  const bboxes = Float32Array.of(0, 0, 10, 10, 5, 5, 5, 9, 8, 8, 4, 12, 1, 2, 3, 4, 0, 0, NaN, 3);
  const warnings: string[] = [];
  const r = filterDegenerateGts(bboxes, Int32Array.of(1, 2, 3, 4, 5), {
    imageName: "000000397133.jpg",
    warn: (m) => warnings.push(m),
  });
  assert.deepEqual([Array.from(r.bboxes), Array.from(r.labels), Array.from(r.keep), r.numDropped], [
    [0, 0, 10, 10, 1, 2, 3, 4],
    [1, 4],
    [0, 3],
    3,
  ]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /Dropped 3 degenerate gt box\(es\) of image "000000397133\.jpg"/);
  filterDegenerateGts(Float32Array.of(0, 0, 1, 1), Int32Array.of(0), {
    warn: (m) => warnings.push(m),
  });
  assert.equal(warnings.length, 1, "no warning when nothing is dropped");
});

Deno.test("filterDegenerateGts() keeps the assigner from matching every anchor to a zero-area gt", () => {
  const anchors = Float32Array.of(0, 0, 10, 10, 20, 0, 30, 10, 40, 0, 50, 10);
  const gts = Float32Array.of(0, 0, 10, 10, 35, 5, 35, 9); // the second has zero width
  const assigner = new MaxIoUAssigner({ pos_iou_thr: 0.5, neg_iou_thr: 0.4, min_pos_iou: 0 });
  assert.deepEqual(Array.from(assigner.assign({ bboxes: anchors, gtBboxes: gts }).gtInds), [
    2,
    2,
    2,
  ]);
  const clean = filterDegenerateGts(gts, Int32Array.of(0, 1), { warn: () => {} });
  assert.deepEqual(
    Array.from(assigner.assign({ bboxes: anchors, gtBboxes: clean.bboxes }).gtInds),
    [1, 0, 0],
  );
});
