/**
 * Proposal recall: `evalRecalls` equals mmdetection v2.25's `eval_recalls` (fixture cases with few
 * and many proposals, more gts than proposals, empty images, legacy coordinates, one and ten IoU
 * thresholds), `evaluateCoco({ useCats: false })` equals pycocotools with `useCats = 0` (the
 * `proposal` metric), and CocoDataset's `proposal_fast` / `proposal` metrics report them under
 * mmdetection's keys.
 */
import { assert, assertClose, loadFixture } from "../_assert.ts";
import { type CocoJson, type CocoResult, evaluateCoco } from "../../lib/evaluation/coco_eval.ts";
import { evalRecalls, RECALL_IOU_THRS } from "../../lib/evaluation/recall.ts";
import { CocoDataset } from "../../lib/datasets/coco.ts";

interface RecallCase {
  name: string;
  gts: number[][];
  proposals: number[][];
  proposal_nums: number[];
  iou_thrs: number[];
  legacy: boolean;
  recalls: number[][];
  ar: number[];
}
interface ProposalCase {
  gt: CocoJson;
  dets: CocoResult[];
  maxDets: number[];
  stats: number[];
}
// tools/gen_recall_fixtures.py (mmdet's eval_recalls in numpy; pycocotools with useCats = 0)
const fx = await loadFixture<{ eval_recalls: RecallCase[]; proposal: ProposalCase[] }>(
  "evaluation/recall_cases.json",
);

for (const c of fx.eval_recalls) {
  Deno.test(`evalRecalls equals mmdetection's eval_recalls: ${c.name}`, () => {
    const r = evalRecalls(c.gts, c.proposals, 5, {
      proposalNums: c.proposal_nums,
      iouThrs: c.iou_thrs,
      useLegacyCoordinate: c.legacy,
    });
    assert.ok(r.numGts > 0);
    r.recalls.forEach((row, i) =>
      assertClose(row, c.recalls[i], {
        rtol: 0,
        atol: 1e-12,
        msg: `${c.proposal_nums[i]} proposals`,
      })
    );
    assertClose(r.ar, c.ar, { rtol: 0, atol: 1e-12, msg: "AR" });
  });
}

Deno.test("evalRecalls: greedy matching, empty images and proposal limits by hand", () => {
  // image 0: a proposal equal to gt 0 (IoU 1) and one on gt 1 (IoU 100/120); image 1 has no gt,
  // image 2 no proposal: with 1 proposal only gt 0 is found, with 2 both of image 0
  const gts = [[0, 0, 10, 10, 20, 0, 30, 10], [], [0, 0, 4, 4]];
  const props = [[0, 0, 10, 10, 0.9, 18, 0, 30, 10, 0.5], [1, 1, 5, 5, 0.3], []];
  const r = evalRecalls(gts, props, 5, { proposalNums: [1, 2], iouThrs: [0.5, 0.7] });
  assert.equal(r.numGts, 3);
  assert.deepEqual(r.recalls, [[1 / 3, 1 / 3], [2 / 3, 2 / 3]]);
  // rows are sorted by score before the limit: the low-scored exact match comes second
  const r2 = evalRecalls([[0, 0, 10, 10]], [[50, 50, 60, 60, 0.9, 0, 0, 10, 10, 0.1]], 5, {
    proposalNums: [1, 2],
  });
  assert.deepEqual(r2.recalls, [[0], [1]]);
  assert.throws(() => evalRecalls([[0, 0, 1]], [[]]), /not rows of 4/);
  assert.throws(() => evalRecalls([[]], [[], []]), /1 images of ground truth but 2/);
  assert.equal(RECALL_IOU_THRS.length, 10);
  assert.equal(RECALL_IOU_THRS[9], 0.95);
});

fx.proposal.forEach((c, n) => {
  Deno.test(`evaluateCoco useCats=false equals pycocotools useCats=0 (case ${n})`, () => {
    const res = evaluateCoco(c.gt, c.dets, { maxDets: c.maxDets, useCats: false });
    assertClose(res.stats, c.stats, { rtol: 0, atol: 1e-12 });
    assert.deepEqual(res.params.catIds, [-1]);
    // with categories the numbers differ (every proposal is category 1)
    const withCats = evaluateCoco(c.gt, c.dets, { maxDets: c.maxDets });
    assert.notDeepEqual(withCats.stats, res.stats);
  });
});

Deno.test("CocoDataset: proposal_fast and proposal metrics of RPN results", async () => {
  const c = fx.proposal[0];
  const dir = await Deno.makeTempDir();
  try {
    const ann = `${dir}/ann.json`;
    await Deno.writeTextFile(ann, JSON.stringify(c.gt));
    const ds = new CocoDataset({
      ann_file: ann,
      img_prefix: dir,
      classes: c.gt.categories.map((k) => k.name),
      test_mode: true,
      warn: () => {},
    });
    // RPN results: one [k, 5] array per image (xyxy + score)
    const results = ds.imgIds.map((id) => [
      Float32Array.from(
        c.dets.filter((d) => d.image_id === id).flatMap((d) => [
          d.bbox[0],
          d.bbox[1],
          d.bbox[0] + d.bbox[2],
          d.bbox[1] + d.bbox[3],
          d.score,
        ]),
      ),
    ]);
    const logs: string[] = [];
    const m = ds.evaluate(results, {
      metric: ["proposal_fast", "proposal"],
      proposal_nums: c.maxDets,
      logger: (l) => logs.push(l),
    });
    const [a, b, k] = c.maxDets;
    assert.deepEqual(
      Object.keys(m).sort(),
      [
        `AR@${a}`,
        `AR@${b}`,
        `AR@${k}`,
        `AR_l@${k}`,
        `AR_m@${k}`,
        `AR_s@${k}`,
      ].sort(),
    );
    // "proposal" keys carry pycocotools' numbers rounded to 3 decimals (they overwrite the
    // proposal_fast values of the same names, as in mmdetection's dict)
    assert.equal(m[`AR_m@${k}`], Number(c.stats[10].toFixed(3)));
    assert.equal(m[`AR@${a}`], Number(c.stats[6].toFixed(3)));
    const fast = ds.fastEvalRecall(results, { proposal_nums: c.maxDets, logger: () => {} });
    // proposal_fast: gts without crowd, proposals as given, IoU .50:.95
    const gts = ds.imgIds.map((id) =>
      c.gt.annotations.filter((x) => x.image_id === id && !x.iscrowd).flatMap((x) => [
        x.bbox[0],
        x.bbox[1],
        x.bbox[0] + x.bbox[2],
        x.bbox[1] + x.bbox[3],
      ])
    );
    const ref = evalRecalls(gts, results.map((r) => r[0]), 5, {
      proposalNums: c.maxDets,
      iouThrs: RECALL_IOU_THRS,
    });
    assert.deepEqual([fast[`AR@${a}`], fast[`AR@${b}`], fast[`AR@${k}`]], ref.ar);
    assert.ok(ref.ar[2] > 0 && ref.ar[2] < 1);
    assert.ok(logs.some((l) => l.startsWith(`AR@${a}\t`)));
    assert.throws(
      () => ds.evaluate(results, { metric: "proposal", proposal_nums: [10, 20] }),
      /proposal_nums must hold 3 counts/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
