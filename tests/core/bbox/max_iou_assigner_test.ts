import { assert, type FixtureArray, loadFixture } from "../../_assert.ts";
import { BBOX_ASSIGNERS, MaxIoUAssigner, type MaxIoUAssignerCfg } from "../../../lib/core/mod.ts";

const RETINA: MaxIoUAssignerCfg = {
  pos_iou_thr: 0.5,
  neg_iou_thr: 0.4,
  min_pos_iou: 0,
  ignore_iof_thr: -1,
};
const f32 = (a: FixtureArray) => Float32Array.from(a.data);

interface AssignCase {
  name: string;
  cfg: Omit<MaxIoUAssignerCfg, "neg_iou_thr"> & { neg_iou_thr: number | [number, number] };
  bboxes: FixtureArray;
  gt_bboxes: FixtureArray;
  gt_labels: FixtureArray;
  gt_bboxes_ignore: FixtureArray | null;
  gt_inds: FixtureArray;
  max_overlaps: FixtureArray;
  labels: FixtureArray;
}

Deno.test("MaxIoUAssigner.assign() equals the PyTorch implementation of spec §2.5 on every fixture case", async () => {
  const { cases } = await loadFixture<{ cases: AssignCase[] }>("core/max_iou_assigner.json");
  assert.equal(cases.length, 10);
  for (const c of cases) {
    const assigner = BBOX_ASSIGNERS.build({ type: "MaxIoUAssigner", ...c.cfg });
    const r = assigner.assign({
      bboxes: f32(c.bboxes),
      gtBboxes: f32(c.gt_bboxes),
      gtBboxesIgnore: c.gt_bboxes_ignore ? f32(c.gt_bboxes_ignore) : null,
      gtLabels: Int32Array.from(c.gt_labels.data),
    });
    assert.deepEqual(Array.from(r.gtInds), c.gt_inds.data, `${c.name}: gt_inds`);
    assert.deepEqual(Array.from(r.maxOverlaps), c.max_overlaps.data, `${c.name}: max_overlaps`);
    assert.deepEqual(Array.from(r.labels!), c.labels.data, `${c.name}: labels`);
  }
});

Deno.test("MaxIoUAssigner.assign() equals PyTorch on random cases over the whole option space", async () => {
  const { cases } = await loadFixture<{ cases: AssignCase[] }>(
    "core/max_iou_assigner_random.json",
  );
  let positives = 0, ignored = 0, ties = 0, ignoreRegions = 0, noGt = 0, rangeNeg = 0;
  for (const c of cases.filter((c) => c.name.startsWith("random_"))) {
    const r = new MaxIoUAssigner(c.cfg).assign({
      bboxes: f32(c.bboxes),
      gtBboxes: f32(c.gt_bboxes),
      gtBboxesIgnore: c.gt_bboxes_ignore ? f32(c.gt_bboxes_ignore) : null,
      gtLabels: Int32Array.from(c.gt_labels.data),
    });
    assert.deepEqual(Array.from(r.gtInds), c.gt_inds.data, `${c.name}: gt_inds`);
    assert.deepEqual(Array.from(r.labels!), c.labels.data, `${c.name}: labels`);
    assert.deepEqual(
      Array.from(r.maxOverlaps),
      c.max_overlaps.data.map(Math.fround),
      `${c.name}: max_overlaps`,
    );
    const mo = c.max_overlaps.data;
    positives += c.gt_inds.data.filter((g) => g > 0).length;
    ignored += c.gt_inds.data.filter((g) => g < 0).length;
    ties += new Set(mo).size < mo.length ? 1 : 0;
    ignoreRegions += c.gt_bboxes_ignore && mo.includes(-1) ? 1 : 0;
    noGt += c.gt_bboxes.shape[0] === 0 ? 1 : 0;
    rangeNeg += Array.isArray(c.cfg.neg_iou_thr) ? 1 : 0;
  }
  assert.ok(
    positives > 300 && ignored > 300 && ties > 100 && ignoreRegions > 20 && noGt > 10 &&
      rangeNeg > 30,
    `coverage: ${positives} pos, ${ignored} ignored, ${ties} ties, ${ignoreRegions} with ignore ` +
      `regions, ${noGt} without gts, ${rangeNeg} with a (lo, hi) neg_iou_thr`,
  );
});

Deno.test("MaxIoUAssigner.assign() marks every box negative when there is no ground truth", () => {
  const r = new MaxIoUAssigner(RETINA).assign({
    bboxes: Float32Array.of(0, 0, 10, 10, 5, 5, 20, 20),
    gtBboxes: new Float32Array(0),
    gtLabels: new Int32Array(0),
  });
  assert.deepEqual([Array.from(r.gtInds), Array.from(r.labels!), Array.from(r.maxOverlaps)], [
    [0, 0],
    [-1, -1],
    [0, 0],
  ]);
  assert.equal(r.numGts, 0);
  const none = new MaxIoUAssigner(RETINA).assign({
    bboxes: new Float32Array(0),
    gtBboxes: Float32Array.of(0, 0, 1, 1),
  });
  assert.equal(none.gtInds.length, 0);
  assert.equal(none.labels, null, "labels are null when no gt labels are given");
});

Deno.test("MaxIoUAssigner.assign() with one gt: positive at ≥ pos_iou_thr, ignored in between, negative below", () => {
  // IoUs with gt [0, 0, 10, 10]: 1, 0.6, 0.45, 0.2 (right-shifted copies), 0
  const bboxes = Float32Array.of(
    0,
    0,
    10,
    10,
    2.5,
    0,
    12.5,
    10,
    3.7931035,
    0,
    13.7931035,
    10,
    6.6666667,
    0,
    16.6666667,
    10,
    50,
    50,
    60,
    60,
  );
  const r = new MaxIoUAssigner(RETINA).assign({
    bboxes,
    gtBboxes: Float32Array.of(0, 0, 10, 10),
    gtLabels: Int32Array.of(7),
  });
  assert.deepEqual(Array.from(r.gtInds), [1, 1, -1, 0, 0]);
  assert.deepEqual(Array.from(r.labels!), [7, 7, -1, -1, -1]);
});

Deno.test("MaxIoUAssigner low-quality matching gives all boxes tied at a gt's best IoU to it", () => {
  // gt centred between four anchors: IoU 400 / 1024 with each, below pos_iou_thr
  const anchors = Float32Array.of(
    -8,
    -8,
    24,
    24,
    0,
    -8,
    32,
    24,
    -8,
    0,
    24,
    32,
    0,
    0,
    32,
    32,
    40,
    40,
    72,
    72,
  );
  const gt = Float32Array.of(2, 2, 22, 22);
  assert.deepEqual(
    Array.from(new MaxIoUAssigner(RETINA).assign({ bboxes: anchors, gtBboxes: gt }).gtInds),
    [1, 1, 1, 1, 0],
  );
  const first = new MaxIoUAssigner({ ...RETINA, gt_max_assign_all: false }).assign({
    bboxes: anchors,
    gtBboxes: gt,
  });
  assert.deepEqual(
    Array.from(first.gtInds),
    [1, 0, 0, 0, 0],
    "gt_max_assign_all false: only the first maximum",
  );
  const off = new MaxIoUAssigner({ ...RETINA, match_low_quality: false }).assign({
    bboxes: anchors,
    gtBboxes: gt,
  });
  assert.deepEqual(Array.from(off.gtInds), [0, 0, 0, 0, 0]);
});

Deno.test("MaxIoUAssigner low-quality matches run in gt order, overwriting earlier gts and step-4 positives", () => {
  // two identical gts: step 4 picks the first (argmax tie), step 5 lets the second overwrite
  const anchors = Float32Array.of(0, 0, 10, 10, 20, 20, 30, 30);
  const gts = Float32Array.of(0, 0, 10, 10, 0, 0, 10, 10);
  const r = new MaxIoUAssigner(RETINA).assign({
    bboxes: anchors,
    gtBboxes: gts,
    gtLabels: Int32Array.of(3, 5),
  });
  assert.deepEqual([Array.from(r.gtInds), Array.from(r.labels!)], [[2, 0], [5, -1]]);
  const noLq = new MaxIoUAssigner({ ...RETINA, match_low_quality: false }).assign({
    bboxes: anchors,
    gtBboxes: gts,
  });
  assert.deepEqual(Array.from(noLq.gtInds), [1, 0], "without step 5 the first gt keeps the tie");
});

Deno.test("MaxIoUAssigner: a gt with zero IoU to every anchor claims every IoU-0 anchor (spec §2.5 hazard)", () => {
  const anchors = Float32Array.of(0, 0, 10, 10, 20, 0, 30, 10, 0, 0, 9, 9);
  const gts = Float32Array.of(0, 0, 10, 10, 100, 100, 110, 110);
  const r = new MaxIoUAssigner(RETINA).assign({ bboxes: anchors, gtBboxes: gts });
  // gt 2's best IoU is 0 ≥ min_pos_iou 0, so every anchor with IoU 0 to it — all three — becomes
  // its positive, overwriting anchor 0 (IoU 1 with gt 1) and anchor 2 (IoU 0.81 with gt 1)
  assert.deepEqual(Array.from(r.gtInds), [2, 2, 2]);
  const guarded = new MaxIoUAssigner({ ...RETINA, min_pos_iou: 0.1 }).assign({
    bboxes: anchors,
    gtBboxes: gts,
  });
  assert.deepEqual(Array.from(guarded.gtInds), [1, 0, 1], "min_pos_iou > 0 disarms it");
});

Deno.test("MaxIoUAssigner ignores boxes inside ignore regions (ignore_iof_thr > 0)", () => {
  const anchors = Float32Array.of(0, 0, 10, 10, 50, 50, 60, 60, 52, 52, 58, 58, 80, 80, 90, 90);
  const gt = Float32Array.of(0, 0, 10, 10), ignore = Float32Array.of(48, 48, 62, 62);
  const wrt = new MaxIoUAssigner({ ...RETINA, ignore_iof_thr: 0.5 }).assign({
    bboxes: anchors,
    gtBboxes: gt,
    gtBboxesIgnore: ignore,
  });
  assert.deepEqual(Array.from(wrt.gtInds), [1, -1, -1, 0]);
  assert.deepEqual(Array.from(wrt.maxOverlaps), [1, -1, -1, 0]);
  // IoF over the ignore box: anchor 1 covers 100/196 of it, anchor 2 only 36/196
  const wrtIgnore = new MaxIoUAssigner({
    ...RETINA,
    ignore_iof_thr: 0.5,
    ignore_wrt_candidates: false,
  })
    .assign({ bboxes: anchors, gtBboxes: gt, gtBboxesIgnore: ignore });
  assert.deepEqual(Array.from(wrtIgnore.gtInds), [1, -1, 0, 0]);
  const off = new MaxIoUAssigner(RETINA).assign({
    bboxes: anchors,
    gtBboxes: gt,
    gtBboxesIgnore: ignore,
  });
  assert.deepEqual(
    Array.from(off.gtInds),
    [1, 0, 0, 0],
    "ignore_iof_thr −1 disables ignore regions",
  );
});

Deno.test("MaxIoUAssigner handles more than 256 ground truths (PyTorch fixture)", async () => {
  const { cases } = await loadFixture<{ cases: AssignCase[] }>(
    "core/max_iou_assigner_random.json",
  );
  const c = cases.find((c) => c.name === "many_gts_400")!;
  assert.equal(c.gt_bboxes.shape[0], 400);
  const r = new MaxIoUAssigner(c.cfg).assign({
    bboxes: f32(c.bboxes),
    gtBboxes: f32(c.gt_bboxes),
    gtLabels: Int32Array.from(c.gt_labels.data),
  });
  assert.deepEqual(Array.from(r.gtInds), c.gt_inds.data);
  assert.deepEqual(Array.from(r.labels!), c.labels.data);
  assert.deepEqual(Array.from(r.maxOverlaps), c.max_overlaps.data.map(Math.fround));
  assert.ok(r.gtInds.some((g) => g > 256), "some boxes are matched to gts beyond index 256");
});

Deno.test("MaxIoUAssigner.assignWrtOverlaps() assigns from a given overlap matrix and validates it", () => {
  const a = new MaxIoUAssigner(RETINA);
  // the AssignResult worked example
  const overlaps = Float32Array.of(0.7, 0.1, 0.45, 0, 0.2, 0.05, 0.1, 0.6);
  const r = a.assignWrtOverlaps(overlaps, [2, 4], Int32Array.of(3, 7));
  assert.deepEqual([Array.from(r.gtInds), Array.from(r.labels!)], [[1, 0, -1, 2], [3, -1, -1, 7]]);
  assert.throws(
    () => a.assignWrtOverlaps(overlaps, [3, 4]),
    /length 8 does not match 3 gts × 4 boxes/,
  );
  assert.throws(
    () => new MaxIoUAssigner({ pos_iou_thr: 0.5 } as MaxIoUAssignerCfg),
    /"neg_iou_thr"/,
  );
  assert.throws(
    () => BBOX_ASSIGNERS.build({ type: "MaxIoUAssigner", neg_iou_thr: 0.4 }),
    /^TypeError: MaxIoUAssigner: /,
  );
  assert.throws(
    () => a.assign({ bboxes: anchorsOne(), gtBboxes: anchorsOne(), gtLabels: Int32Array.of(1, 2) }),
    /2 gt labels/,
  );
});

function anchorsOne(): Float32Array {
  return Float32Array.of(0, 0, 1, 1);
}
