import { assert, assertClose, type FixtureArray, loadFixture } from "../../_assert.ts";
import { batchedNms, filterScoresAndTopk, multiclassNms, nms } from "../../../lib/core/mod.ts";
import { batchedNmsRef, nmsRef } from "../../_reference/nms_ref.ts";
import { Rng } from "../../_reference/rng.ts";

interface NmsCase {
  name: string;
  boxes: FixtureArray;
  scores: FixtureArray;
  labels: FixtureArray;
  results: { iou_threshold: number; nms_keep: FixtureArray; batched_nms_keep: FixtureArray }[];
}
interface Multi {
  bboxes: FixtureArray;
  scores: FixtureArray;
  num_classes: number;
  score_thr: number;
  iou_threshold: number;
  max_num: number;
  dets: FixtureArray;
  labels: FixtureArray;
  topk: number;
  topk_scores: FixtureArray;
  topk_labels: FixtureArray;
  topk_keep_idxs: FixtureArray;
}
const fixture = () => loadFixture<{ cases: NmsCase[]; multiclass: Multi }>("core/nms.json");

Deno.test("nms() keeps the same boxes as torchvision.ops.nms, ties and degenerate boxes included", async () => {
  const { cases } = await fixture();
  for (const c of cases) {
    const boxes = Float32Array.from(c.boxes.data), scores = Float32Array.from(c.scores.data);
    for (const r of c.results) {
      const { keep, dets } = nms(boxes, scores, { iou_threshold: r.iou_threshold });
      assert.deepEqual(Array.from(keep), r.nms_keep.data, `${c.name} @ ${r.iou_threshold}`);
      assert.deepEqual(nmsRef(boxes, scores, r.iou_threshold, { f32: true }), r.nms_keep.data);
      assert.deepEqual(Array.from(dets.subarray(4, 5)), [scores[keep[0]]]);
    }
  }
});

Deno.test("batchedNms() keeps the same boxes as torchvision.ops.batched_nms (coordinate-offset trick)", async () => {
  const { cases } = await fixture();
  for (const c of cases) {
    const data = {
      boxes: Float32Array.from(c.boxes.data),
      scores: Float32Array.from(c.scores.data),
      labels: Int32Array.from(c.labels.data),
    };
    const negative = data.boxes.some((v) => v < 0);
    for (const r of c.results) {
      const msg = `${c.name} @ ${r.iou_threshold}`;
      assert.deepEqual(
        Array.from(batchedNms(data, { iou_threshold: r.iou_threshold }).keep),
        r.batched_nms_keep.data,
        msg,
      );
      // per-class NMS (the split path, and the reference) agrees wherever coordinates are ≥ 0
      const perClass = batchedNmsRef(data.boxes, data.scores, data.labels, r.iou_threshold, {
        f32: true,
      });
      assert.deepEqual(
        Array.from(batchedNms(data, { iou_threshold: r.iou_threshold, split_thr: 1 }).keep),
        perClass,
        msg,
      );
      if (!negative) assert.deepEqual(perClass, r.batched_nms_keep.data, msg);
    }
  }
});

Deno.test("batchedNms() offset trick lets a box with negative coordinates suppress another class, as mmcv's", () => {
  // box 1 (class 1, negative coordinates) shifted by 1·(max + 1) = 12 lands exactly on box 0
  // (class 0, not shifted): the trick assumes coordinates ≥ 0, which clipped detections satisfy
  const data = {
    boxes: Float32Array.of(1, 1, 11, 11, -11, -11, -1, -1),
    scores: Float32Array.of(0.5, 0.9),
    labels: Int32Array.of(0, 1),
  };
  assert.deepEqual(Array.from(batchedNms(data, { iou_threshold: 0.5 }).keep), [1]);
  assert.deepEqual(Array.from(batchedNms(data, { iou_threshold: 0.5, split_thr: 1 }).keep), [1, 0]);
});

Deno.test("nms() suppresses strictly above the threshold and honours max_num and score_threshold", () => {
  // IoU of the first two boxes is exactly 0.5 (inter 100, union 200)
  const boxes = Float32Array.of(0, 0, 10, 15, 0, 5, 10, 20, 30, 30, 40, 40);
  const scores = Float32Array.of(0.9, 0.8, 0.7);
  assert.deepEqual(Array.from(nms(boxes, scores, { iou_threshold: 0.5 }).keep), [0, 1, 2]);
  assert.deepEqual(Array.from(nms(boxes, scores, { iou_threshold: 0.49 }).keep), [0, 2]);
  assert.deepEqual(Array.from(nms(boxes, scores, { iou_threshold: 0.5, max_num: 2 }).keep), [0, 1]);
  assert.deepEqual(
    Array.from(nms(boxes, scores, { iou_threshold: 0.5, score_threshold: 0.75 }).keep),
    [0, 1],
  );
  assert.deepEqual(
    Array.from(nms(boxes, scores, { iou_thr: 0.49 }).keep),
    [0, 2],
    "v2.0–2.2 key iou_thr",
  );
  const v1 = nms(Float32Array.of(0, 0, 9, 9, 5, 0, 14, 9), Float32Array.of(1, 0.5), {
    iou_threshold: 0.3,
    offset: 1,
  });
  assert.deepEqual(Array.from(v1.keep), [0], "offset 1 (v1): widths 10, IoU 50 / 150 > 0.3");
  assert.deepEqual(
    Array.from(nms(new Float32Array(0), new Float32Array(0), { iou_threshold: 0.5 }).keep),
    [],
  );
  assert.throws(() => nms(boxes, scores, {}), /"iou_threshold" must be a number/);
  assert.throws(
    () => nms(boxes, Float32Array.of(1), { iou_threshold: 0.5 }),
    /3 boxes do not match 1 scores/,
  );
});

Deno.test("batchedNms() never suppresses across classes, and class_agnostic does", () => {
  const data = {
    boxes: Float32Array.of(0, 0, 10, 10, 0, 0, 10, 10),
    scores: Float32Array.of(0.9, 0.8),
    labels: Int32Array.of(0, 1),
  };
  assert.deepEqual(Array.from(batchedNms(data, { iou_threshold: 0.5 }).keep), [0, 1]);
  assert.deepEqual(
    Array.from(batchedNms(data, { iou_threshold: 0.5, class_agnostic: true }).keep),
    [0],
  );
  const { dets } = batchedNms(data, { iou_threshold: 0.5 });
  assert.deepEqual(
    Array.from(dets.subarray(5, 10)),
    [0, 0, 10, 10, Math.fround(0.8)],
    "dets hold the un-shifted boxes",
  );
});

Deno.test("batchedNms() equals the per-class reference on random boxes", () => {
  const rng = new Rng(77);
  for (let t = 0; t < 200; t++) {
    const n = rng.int(1, 80);
    const boxes = rng.boxes(n, { size: 100, minWh: 4, maxWh: 40, grid: t % 2 ? 2 : 0 });
    const scores = Float32Array.from({ length: n }, () => Math.round(rng.next() * 10) / 10);
    const labels = Int32Array.from({ length: n }, () => rng.int(0, 4));
    const thr = [0.3, 0.5, 0.7][t % 3];
    const expected = batchedNmsRef(boxes, scores, labels, thr, { f32: true });
    assert.deepEqual(
      Array.from(batchedNms({ boxes, scores, labels }, { iou_threshold: thr }).keep),
      expected,
      `case ${t}`,
    );
  }
});

Deno.test("multiclassNms() and filterScoresAndTopk() match mmdetection semantics on the fixture", async () => {
  const { multiclass: m } = await fixture();
  const r = multiclassNms(
    { bboxes: Float32Array.from(m.bboxes.data), scores: Float32Array.from(m.scores.data) },
    {
      numClasses: m.num_classes,
      score_thr: m.score_thr,
      nms: { type: "nms", iou_threshold: m.iou_threshold },
      max_num: m.max_num,
    },
  );
  assert.deepEqual(Array.from(r.dets), m.dets.data);
  assert.deepEqual(Array.from(r.labels), m.labels.data);
  const scores = Float32Array.from(
    { length: 30 * m.num_classes },
    (_, k) => m.scores.data[Math.floor(k / 4) * 5 + (k % 4)],
  );
  const t = filterScoresAndTopk(scores, m.num_classes, { scoreThr: m.score_thr, topk: m.topk });
  assertClose(t.scores, m.topk_scores.data, { rtol: 0, atol: 0 });
  assert.deepEqual([Array.from(t.labels), Array.from(t.keepIdxs)], [
    m.topk_labels.data,
    m.topk_keep_idxs.data,
  ]);
});

Deno.test("multiclassNms() handles class-specific boxes, score factors and empty results", () => {
  const bboxes = Float32Array.of(0, 0, 10, 10, 50, 50, 60, 60); // one box per class for 1 anchor
  const scores = Float32Array.of(0.9, 0.6, 0);
  const cfg = { numClasses: 2, score_thr: 0.05, nms: { iou_threshold: 0.5 } };
  const r = multiclassNms({ bboxes, scores }, cfg);
  assert.deepEqual([Array.from(r.labels), Array.from(r.dets.subarray(5, 9)), Array.from(r.inds)], [
    [0, 1],
    [50, 50, 60, 60],
    [0, 1],
  ]);
  const f = multiclassNms({ bboxes, scores, scoreFactors: Float32Array.of(0.5) }, cfg);
  assert.deepEqual(Array.from(f.dets.subarray(4, 5)), [Math.fround(0.45)]);
  const none = multiclassNms({ bboxes, scores: Float32Array.of(0.01, 0.05, 0) }, cfg);
  assert.deepEqual([none.dets.length, none.labels.length], [0, 0], "score_thr is strict");
});
