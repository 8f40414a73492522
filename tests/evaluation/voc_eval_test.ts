import { assert, assertClose } from "../_assert.ts";
import {
  averagePrecision,
  bboxOverlaps,
  evalMap,
  formatMapSummary,
} from "../../lib/evaluation/voc_eval.ts";

const f32 = (...v: number[]) => Float32Array.from(v);

// One class. Image 1: gts [0,0,10,10], [20,20,30,30]; image 2: gt [0,0,10,10].
// Detections by score: 0.9 TP (exact), 0.8 FP (no overlap), 0.7 TP (exact), 0.6 TP (IoU 81/119).
// recall (1/3, 1/3, 2/3, 1), precision (1, 1/2, 2/3, 3/4).
const anns = [
  { bboxes: [0, 0, 10, 10, 20, 20, 30, 30], labels: [0, 0] },
  { bboxes: [0, 0, 10, 10], labels: [0] },
];
const dets = [
  [f32(0, 0, 10, 10, 0.9, 50, 50, 60, 60, 0.8, 20, 20, 30, 30, 0.7)],
  [f32(1, 1, 11, 11, 0.6)],
];

Deno.test("evalMap() area AP equals the hand-derived 1/3 + 1/3·0.75 + 1/3·0.75", () => {
  // precision made non-increasing from the right: (1, 0.75, 0.75, 0.75); recall steps of 1/3
  const { mean_ap, results } = evalMap(dets, anns);
  assertClose(mean_ap[0], 1 / 3 + 0.5, { atol: 1e-6 });
  assert.deepEqual(results[0].num_gts, [3]);
  assert.equal(results[0].num_dets, 4);
  assertClose(results[0].recall[0], [1 / 3, 1 / 3, 2 / 3, 1], { atol: 1e-7 });
  assertClose(results[0].precision[0], [1, 0.5, 2 / 3, 0.75], { atol: 1e-7 });
});

Deno.test("evalMap() 11-point AP equals the hand-derived (4·1 + 7·0.75) / 11", () => {
  // thresholds 0, .1, .2, .3 see precision 1; .4 … 1.0 see max(2/3, 3/4) = 0.75
  const { mean_ap } = evalMap(dets, anns, { mode: "11points" });
  assertClose(mean_ap[0], (4 + 7 * 0.75) / 11, { atol: 1e-6 });
});

Deno.test("evalMap() neither rewards nor penalises detections of ignored (difficult) boxes; duplicates are FPs", () => {
  const withIgnore = [
    { ...anns[0], bboxes_ignore: [100, 100, 120, 120], labels_ignore: [0] },
    anns[1],
  ];
  const more = [
    [f32(
      0,
      0,
      10,
      10,
      0.9,
      50,
      50,
      60,
      60,
      0.8,
      20,
      20,
      30,
      30,
      0.7,
      100,
      100,
      120,
      120,
      0.95,
      0,
      0,
      10,
      10,
      0.5,
    )],
    dets[1],
  ];
  const { mean_ap, results } = evalMap(more, withIgnore);
  assertClose(mean_ap[0], 1 / 3 + 0.5, { atol: 1e-6 });
  // 5 scored detections after the ignored one: the duplicate at 0.5 is a FP → final precision 3/5
  const p = results[0].precision[0];
  assertClose(p[p.length - 1], 3 / 5, { atol: 1e-7 });
});

Deno.test("evalMap() with legacy coordinates counts the +1 pixel (IoU 36/81 vs 50/100)", () => {
  const a = [{ bboxes: [0, 0, 9, 9], labels: [0] }];
  const d = [[f32(0, 0, 4, 9, 0.9)]];
  assert.equal(evalMap(d, a).mean_ap[0], 0);
  assertClose(evalMap(d, a, { use_legacy_coordinate: true }).mean_ap[0], 1, { atol: 1e-6 });
  assertClose(bboxOverlaps([0, 0, 4, 9], [0, 0, 9, 9], { use_legacy_coordinate: true }), [0.5], {
    atol: 1e-7,
  });
});

Deno.test("evalMap() with scale ranges counts only gts and unmatched dets inside each area range", () => {
  // small gt (area 25) and big gt (area 1600), both detected; a small FP (area 16) scores highest
  const a = [{ bboxes: [0, 0, 5, 5, 20, 20, 60, 60], labels: [0, 0] }];
  const d = [[f32(100, 100, 104, 104, 0.99, 0, 0, 5, 5, 0.9, 20, 20, 60, 60, 0.8)]];
  const { mean_ap, results } = evalMap(d, a, { scale_ranges: [[0, 8], [8, 1000]] });
  assert.deepEqual(results[0].num_gts, [1, 1]);
  assertClose(mean_ap, [0.5, 1], { atol: 1e-6 });
});

Deno.test("evalMap() leaves classes without ground truth out of the mean", () => {
  const a = [{ bboxes: [0, 0, 10, 10], labels: [0] }];
  const d = [[f32(0, 0, 10, 10, 0.9), f32(5, 5, 9, 9, 0.8)]];
  const { mean_ap, results } = evalMap(d, a);
  assert.equal(results[1].num_gts[0], 0);
  assertClose(mean_ap[0], 1, { atol: 1e-6 });
  assert.ok(formatMapSummary({ mean_ap, results }, ["a", "b"]).includes("| mAP"));
});

Deno.test("averagePrecision() of ground truth against itself is 1 in both modes", () => {
  assertClose(averagePrecision([0.5, 1], [1, 1]), 1, { atol: 1e-7 });
  assertClose(averagePrecision([0.5, 1], [1, 1], "11points"), 1, { atol: 1e-7 });
  assert.throws(() => averagePrecision([1], [1], "bogus" as "area"), RangeError);
});
