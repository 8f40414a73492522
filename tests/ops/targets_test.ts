import { assert, assertClose, type FixtureArray, loadFixture } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { Rng } from "../_reference/rng.ts";
import { DeltaXYWHBBoxCoder, MaxIoUAssigner, type MaxIoUAssignerCfg } from "../../lib/core/mod.ts";
import { anchorFlags, levelTable } from "../../lib/ops/bbox.ts";
import {
  assignTargets,
  type AssignTargetsOptions,
  packTargetInputs,
} from "../../lib/ops/targets.ts";
import type { Gpu } from "../../lib/gpu/runtime.ts";

interface Image {
  gts: Float32Array;
  labels: Int32Array;
  ignore?: Float32Array | null;
}

interface Assigned {
  gtInds: Int32Array;
  maxOverlaps: Float32Array;
  labels: Int32Array;
  labelWeights: Float32Array;
  bboxTargets: Float32Array;
  bboxWeights: Float32Array;
  counts: Uint32Array;
  numTotalPos: number;
  numTotalNeg: number;
}

const NUM_CLASSES = 80;

/** Assigns every image against the same anchors (one level of A anchors, all valid) in one batch. */
async function gpuAssign(
  gpu: Gpu,
  anchors: Float32Array,
  images: Image[],
  cfg: MaxIoUAssignerCfg,
): Promise<Assigned> {
  const A = anchors.length / 4;
  const packed = packTargetInputs({
    gtBboxes: images.map((im) => im.gts),
    gtLabels: images.map((im) => im.labels),
    gtBboxesIgnore: images.map((im) => im.ignore ?? null),
    validSizes: images.map(() => [[1, A]]),
    imgShapes: images.map(() => [1000, 1000]),
  });
  const ta = gpu.upload(anchors, [A, 4]);
  const lv = gpu.upload(levelTable([{ start: 0, featH: 1, featW: A, numBase: 1 }]), [1, 4], "u32");
  const pack = {
    data: gpu.upload(packed.data, [packed.data.length], "u32"),
    layout: packed.layout,
  };
  const flags = anchorFlags(ta, lv, pack, {
    ignoreIofThr: cfg.ignore_iof_thr ?? -1,
    ignoreWrtCandidates: cfg.ignore_wrt_candidates ?? true,
  });
  const opts: AssignTargetsOptions = {
    posIouThr: cfg.pos_iou_thr,
    negIouThr: cfg.neg_iou_thr,
    minPosIou: cfg.min_pos_iou,
    gtMaxAssignAll: cfg.gt_max_assign_all,
    matchLowQuality: cfg.match_low_quality,
    numClasses: NUM_CLASSES,
  };
  const t = assignTargets(ta, flags, pack, opts);
  const h = await gpu.readMany([
    t.assign,
    t.labels,
    t.labelWeights,
    t.bboxTargets,
    t.bboxWeights,
    t.counts,
    t.numTotalPos,
    t.numTotalNeg,
  ]);
  for (const x of [ta, lv, pack.data, flags, ...Object.values(t)]) x.release();
  const assign = h[0] as Int32Array;
  return {
    gtInds: Int32Array.from({ length: assign.length / 2 }, (_, i) => assign[2 * i]),
    maxOverlaps: new Float32Array(
      Int32Array.from({ length: assign.length / 2 }, (_, i) => assign[2 * i + 1]).buffer,
    ),
    labels: h[1] as Int32Array,
    labelWeights: h[2] as Float32Array,
    bboxTargets: h[3] as Float32Array,
    bboxWeights: h[4] as Float32Array,
    counts: h[5] as Uint32Array,
    numTotalPos: h[6][0],
    numTotalNeg: h[7][0],
  };
}

/** Checks one batch against the CPU `MaxIoUAssigner` and `DeltaXYWHBBoxCoder` (both checked against PyTorch in tests/core/bbox). */
function checkAgainstCpu(
  anchors: Float32Array,
  images: Image[],
  cfg: MaxIoUAssignerCfg,
  got: Assigned,
  what: string,
): void {
  const A = anchors.length / 4;
  let totalPos = 0, totalNeg = 0;
  images.forEach((im, n) => {
    const cpu = new MaxIoUAssigner(cfg).assign({
      bboxes: anchors,
      gtBboxes: im.gts,
      gtLabels: im.labels,
      gtBboxesIgnore: im.ignore ?? null,
    });
    const ref = { gtInds: Array.from(cpu.gtInds), maxOverlaps: Array.from(cpu.maxOverlaps) };
    const sl = <T extends { subarray(a: number, b: number): T }>(x: T, w = 1) =>
      x.subarray(n * A * w, (n + 1) * A * w);
    const where = `${what}, image ${n}`;
    assert.deepEqual(Array.from(sl(got.gtInds)), ref.gtInds, `${where}: gt_inds`);
    assert.deepEqual(
      Array.from(sl(got.maxOverlaps)),
      ref.maxOverlaps.map(Math.fround),
      `${where}: max_overlaps`,
    );
    const pos = ref.gtInds.map((g, j) => (g > 0 ? j : -1)).filter((j) => j >= 0);
    const neg = ref.gtInds.filter((g) => g === 0).length;
    assert.deepEqual(
      Array.from(sl(got.labels)),
      ref.gtInds.map((g) => (g > 0 ? im.labels[g - 1] : NUM_CLASSES)),
      `${where}: labels`,
    );
    assert.deepEqual(
      Array.from(sl(got.labelWeights)),
      ref.gtInds.map((g) => (g >= 0 ? 1 : 0)),
      `${where}: label_weights`,
    );
    const bw = sl(got.bboxWeights, 4), bt = sl(got.bboxTargets, 4);
    const expectedW = ref.gtInds.flatMap((g) => (g > 0 ? [1, 1, 1, 1] : [0, 0, 0, 0]));
    assert.deepEqual(Array.from(bw), expectedW, `${where}: bbox_weights`);
    if (pos.length) {
      const p = Float32Array.from(
        pos.flatMap((j) => Array.from(anchors.subarray(4 * j, 4 * j + 4))),
      );
      const g = Float32Array.from(
        pos.flatMap((j) => Array.from(im.gts.subarray(4 * (ref.gtInds[j] - 1), 4 * ref.gtInds[j]))),
      );
      const gotT = pos.flatMap((j) => Array.from(bt.subarray(4 * j, 4 * j + 4)));
      assertClose(gotT, new DeltaXYWHBBoxCoder().encode(p, g), {
        rtol: 1e-5,
        atol: 2e-6,
        msg: `${where}: bbox_targets`,
      });
    }
    assert.ok(
      expectedW.every((w, k) => w !== 0 || bt[k] === 0),
      `${where}: non-positive targets are 0`,
    );
    assert.deepEqual(
      [got.counts[2 * n], got.counts[2 * n + 1]],
      [pos.length, neg],
      `${where}: counts`,
    );
    totalPos += Math.max(pos.length, 1);
    totalNeg += Math.max(neg, 1);
  });
  assert.equal(got.numTotalPos, totalPos, `${what}: num_total_pos`);
  assert.equal(got.numTotalNeg, totalNeg, `${what}: num_total_neg`);
}

type AssignerFixture = {
  cases: {
    name: string;
    cfg: MaxIoUAssignerCfg;
    bboxes: FixtureArray;
    gt_bboxes: FixtureArray;
    gt_labels: FixtureArray;
    gt_bboxes_ignore: FixtureArray | null;
    gt_inds: FixtureArray;
    max_overlaps: FixtureArray;
  }[];
};

gpuTest(
  "assignTargets() equals PyTorch's MaxIoUAssigner on every fixture case (ties, ranges, ignores, 300 gts, no gt)",
  async (gpu) => {
    const fx = await loadFixture<AssignerFixture>("core/max_iou_assigner.json");
    for (const c of fx.cases) {
      const anchors = Float32Array.from(c.bboxes.data);
      const image: Image = {
        gts: Float32Array.from(c.gt_bboxes.data),
        labels: Int32Array.from(c.gt_labels.data),
        ignore: c.gt_bboxes_ignore ? Float32Array.from(c.gt_bboxes_ignore.data) : null,
      };
      const got = await gpuAssign(gpu, anchors, [image], c.cfg);
      assert.deepEqual(Array.from(got.gtInds), c.gt_inds.data, `${c.name}: gt_inds`);
      assert.deepEqual(Array.from(got.maxOverlaps), c.max_overlaps.data, `${c.name}: max_overlaps`);
      checkAgainstCpu(anchors, [image], c.cfg, got, c.name);
    }
  },
);

const CONFIGS: MaxIoUAssignerCfg[] = [
  { pos_iou_thr: 0.5, neg_iou_thr: 0.4, min_pos_iou: 0 },
  { pos_iou_thr: 0.5, neg_iou_thr: 0.5, min_pos_iou: 0, gt_max_assign_all: false },
  { pos_iou_thr: 0.6, neg_iou_thr: [0.1, 0.3], min_pos_iou: 0.3 },
  { pos_iou_thr: 0.7, neg_iou_thr: 0.3, min_pos_iou: 0.3, match_low_quality: false },
  { pos_iou_thr: 0.5, neg_iou_thr: 0.4, ignore_iof_thr: 0.5 },
  { pos_iou_thr: 0.5, neg_iou_thr: 0.4, ignore_iof_thr: 0.3, ignore_wrt_candidates: false },
  { pos_iou_thr: 0.35, neg_iou_thr: 0.35, min_pos_iou: 0.1 },
  {
    pos_iou_thr: 0.5,
    neg_iou_thr: [0, 0.5],
    min_pos_iou: 0,
    gt_max_assign_all: false,
    match_low_quality: true,
  },
];

gpuTest(
  "assignTargets() equals the CPU MaxIoUAssigner and DeltaXYWHBBoxCoder on 2048 random cases (grid ties, empty images, ignores)",
  async (gpu) => {
    const r = new Rng(2024);
    let cases = 0;
    for (const [ci, cfg] of CONFIGS.entries()) {
      for (const grid of [0, 4]) {
        const anchors = r.boxes(48, { size: 64, minWh: 4, maxWh: 40, grid: grid || 0 });
        const images: Image[] = Array.from({ length: 128 }, () => {
          const k = r.int(0, 3) === 0 ? 0 : r.int(1, 12);
          const ignore = r.int(0, 2) ? r.boxes(r.int(1, 3), { size: 64, maxWh: 30, grid }) : null;
          return {
            gts: r.boxes(k, { size: 64, minWh: 2, maxWh: 40, grid }),
            labels: Int32Array.from({ length: k }, () => r.int(0, NUM_CLASSES)),
            ignore,
          };
        });
        const got = await gpuAssign(gpu, anchors, images, cfg);
        checkAgainstCpu(anchors, images, cfg, got, `config ${ci}, grid ${grid}`);
        cases += images.length;
      }
    }
    assert.equal(cases, 2048);
  },
);

gpuTest(
  "assignTargets() handles more gts than one 256-gt tile, and images with many more gts than others",
  async (gpu) => {
    const r = new Rng(5);
    const anchors = r.boxes(300, { size: 128, minWh: 8, maxWh: 64, grid: 2 });
    const images: Image[] = [513, 3, 0, 257].map((k) => ({
      gts: r.boxes(k, { size: 128, minWh: 2, maxWh: 48, grid: 2 }),
      labels: Int32Array.from({ length: k }, () => r.int(0, NUM_CLASSES)),
    }));
    for (const cfg of [CONFIGS[0], CONFIGS[1]]) {
      checkAgainstCpu(anchors, images, cfg, await gpuAssign(gpu, anchors, images, cfg), "many gts");
    }
  },
);

gpuTest(
  "assignTargets() mirrors mmdetection for a gt with zero IoU to every anchor: all IoU-0 anchors become its positives",
  async (gpu) => {
    const anchors = Float32Array.of(0, 0, 10, 10, 10, 0, 20, 10, 0, 10, 10, 20, 10, 10, 20, 20);
    const image = {
      gts: Float32Array.of(100, 100, 110, 110, 0, 0, 10, 10),
      labels: Int32Array.of(3, 5),
    };
    const cfg = { pos_iou_thr: 0.5, neg_iou_thr: 0.4, min_pos_iou: 0 };
    const got = await gpuAssign(gpu, anchors, [image], cfg);
    // anchor 0 matches gt 1 (IoU 1); the others have IoU 0 with both gts, and gt 0's best IoU is 0
    assert.deepEqual(Array.from(got.gtInds), [2, 1, 1, 1]);
    checkAgainstCpu(anchors, [image], cfg, got, "zero-IoU gt");
  },
);

gpuTest("assignTargets() rejects inconsistent inputs with errors naming the shapes", (gpu) => {
  const packed = packTargetInputs({
    gtBboxes: [new Float32Array(0)],
    gtLabels: [new Int32Array(0)],
    validSizes: [[[1, 2]]],
    imgShapes: [[8, 8]],
  });
  const pack = {
    data: gpu.upload(packed.data, [packed.data.length], "u32"),
    layout: packed.layout,
  };
  const anchors = gpu.upload([0, 0, 1, 1, 0, 0, 2, 2], [2, 4]);
  const flags = gpu.upload([1, 1, 1], [3], "u32");
  assert.throws(
    () => assignTargets(anchors, flags, pack, { posIouThr: 0.5, negIouThr: 0.4, numClasses: 3 }),
    /do not describe 1 images/,
  );
  assert.throws(
    () =>
      packTargetInputs({
        gtBboxes: [new Float32Array(4)],
        gtLabels: [new Int32Array(2)],
        validSizes: [[[1, 1]]],
        imgShapes: [[1, 1]],
      }),
    /1 gt boxes do not match 2 labels/,
  );
  for (const t of [pack.data, anchors, flags]) t.release();
});
