import { assert, assertClose, type FixtureArray, loadFixture } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { Rng } from "../_reference/rng.ts";
import { batchedNmsRef, nmsRef } from "../_reference/nms_ref.ts";
import { batchedNms, batchedNmsGpu, nms } from "../../lib/ops/nms.ts";
import { topkSegments } from "../../lib/ops/topk.ts";
import { batchedNms as batchedNmsCpu } from "../../lib/core/post_processing/nms.ts";
import { multiclassNms } from "../../lib/core/post_processing/bbox_nms.ts";
import { argsortDesc, filterScoresAndTopk } from "../../lib/core/utils/misc.ts";
import type { Gpu } from "../../lib/gpu/runtime.ts";

type NmsFixture = {
  cases: {
    name: string;
    boxes: FixtureArray;
    scores: FixtureArray;
    labels: FixtureArray;
    results: { iou_threshold: number; nms_keep: FixtureArray; batched_nms_keep: FixtureArray }[];
  }[];
  multiclass: {
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
  };
};

function upload(
  gpu: Gpu,
  boxes: ArrayLike<number>,
  scores: ArrayLike<number>,
  labels?: ArrayLike<number>,
) {
  const n = scores.length;
  return {
    b: gpu.upload(boxes, [n, 4]),
    s: gpu.upload(scores, [n]),
    l: labels ? gpu.upload(Int32Array.from(labels), [n], "i32") : null,
    release() {
      this.b.release();
      this.s.release();
      this.l?.release();
    },
  };
}

gpuTest(
  "nms() and batchedNms() equal torchvision's nms / batched_nms on the fixtures (ties, identical, zero-area, outside boxes)",
  async (gpu) => {
    const fx = await loadFixture<NmsFixture>("core/nms.json");
    for (const c of fx.cases) {
      const t = upload(gpu, c.boxes.data, c.scores.data, c.labels.data);
      const C = Math.max(...c.labels.data) + 1;
      for (const r of c.results) {
        const plain = await nms(t.b, t.s, { iouThreshold: r.iou_threshold });
        assert.deepEqual(
          Array.from(plain.inds),
          r.nms_keep.data,
          `${c.name} nms ${r.iou_threshold}`,
        );
        const kept = plain.inds;
        assertClose(
          plain.dets,
          Array.from(kept).flatMap((
            i,
          ) => [...c.boxes.data.slice(4 * i, 4 * i + 4), c.scores.data[i]]),
          { rtol: 0, atol: 0, msg: "dets" },
        );
        const batched = await batchedNms(t.b, t.s, t.l!, {
          iouThreshold: r.iou_threshold,
          numClasses: C,
        });
        assert.deepEqual(
          Array.from(batched.inds),
          r.batched_nms_keep.data,
          `${c.name} batched ${r.iou_threshold}`,
        );
        assert.deepEqual(
          Array.from(batched.labels),
          Array.from(batched.inds).map((i) => c.labels.data[i]),
          "labels",
        );
      }
      t.release();
    }
  },
);

gpuTest(
  "batchedNms() per-class mode (split_thr reached) equals the CPU batched_nms split path and the per-class reference",
  async (gpu) => {
    const fx = await loadFixture<NmsFixture>("core/nms.json");
    for (const c of fx.cases) {
      const t = upload(gpu, c.boxes.data, c.scores.data, c.labels.data);
      const C = Math.max(...c.labels.data) + 1;
      for (const thr of [0.3, 0.5]) {
        const got = await batchedNms(t.b, t.s, t.l!, {
          iouThreshold: thr,
          numClasses: C,
          splitThr: 1,
        });
        const cpu = batchedNmsCpu({
          boxes: Float32Array.from(c.boxes.data),
          scores: Float32Array.from(c.scores.data),
          labels: Int32Array.from(c.labels.data),
        }, { iou_threshold: thr, split_thr: 1 });
        assert.deepEqual(Array.from(got.inds), Array.from(cpu.keep), `${c.name} ${thr} vs CPU`);
        assert.deepEqual(
          Array.from(got.inds),
          batchedNmsRef(c.boxes.data, c.scores.data, c.labels.data, thr, { f32: true }),
          `${c.name} ${thr} vs reference`,
        );
      }
      t.release();
    }
  },
);

gpuTest(
  "nms() equals the reference on random boxes with grid ties and tied scores, and keeps max_num",
  async (gpu) => {
    const r = new Rng(77);
    for (const [n, grid] of [[300, 4], [700, 0], [1, 0]]) {
      const boxes = r.boxes(n, { size: 200, minWh: 4, maxWh: 60, grid });
      const scores = Float32Array.from({ length: n }, () => Math.round(r.next() * 50) / 50); // many equal scores
      const t = upload(gpu, boxes, scores);
      for (const thr of [0.3, 0.5, 0.7]) {
        const got = await nms(t.b, t.s, { iouThreshold: thr });
        assert.deepEqual(
          Array.from(got.inds),
          nmsRef(boxes, scores, thr, { f32: true }),
          `n ${n} grid ${grid} thr ${thr}`,
        );
        const top = await nms(t.b, t.s, { iouThreshold: thr, maxNum: 5 });
        assert.deepEqual(
          Array.from(top.inds),
          Array.from(got.inds.slice(0, 5)),
          "max_num keeps the first",
        );
      }
      t.release();
    }
  },
);

gpuTest(
  "batchedNmsGpu() equals mmdetection's multiclass_nms for several images at once (fixture and random)",
  async (gpu) => {
    const fx = (await loadFixture<NmsFixture>("core/nms.json")).multiclass;
    const C = fx.num_classes, n = fx.bboxes.shape[0];
    const scoresNoBg = fx.scores.data.filter((_, k) => k % (C + 1) < C);
    const r = new Rng(12);
    const rnd = Array.from(
      { length: 2 },
      () => ({
        boxes: r.boxes(n, { size: 100, grid: 2 }),
        scores: Float32Array.from({ length: n * C }, () => r.next() * 0.3),
      }),
    );
    const all = [{
      boxes: Float32Array.from(fx.bboxes.data),
      scores: Float32Array.from(scoresNoBg),
    }, ...rnd];
    const boxes = gpu.upload(Float32Array.from(all.flatMap((a) => Array.from(a.boxes))), [3, n, 4]);
    const scores = gpu.upload(Float32Array.from(all.flatMap((a) => Array.from(a.scores))), [
      3,
      n,
      C,
    ]);
    const got = await batchedNmsGpu({ boxes, scores, numClasses: C }, {
      scoreThr: fx.score_thr,
      iouThreshold: fx.iou_threshold,
      maxNum: fx.max_num,
    });
    assertClose(got[0].dets, fx.dets.data, { rtol: 0, atol: 0, msg: "fixture dets" });
    assert.deepEqual(Array.from(got[0].labels), fx.labels.data, "fixture labels");
    all.forEach((a, i) => {
      const withBg = Float32Array.from(
        { length: n * (C + 1) },
        (_, k) => (k % (C + 1) < C ? a.scores[Math.floor(k / (C + 1)) * C + (k % (C + 1))] : 0),
      );
      const cpu = multiclassNms({ bboxes: a.boxes, scores: withBg }, {
        numClasses: C,
        score_thr: fx.score_thr,
        nms: { iou_threshold: fx.iou_threshold },
        max_num: fx.max_num,
      });
      assert.deepEqual(Array.from(got[i].dets), Array.from(cpu.dets), `image ${i} dets`);
      assert.deepEqual(Array.from(got[i].labels), Array.from(cpu.labels), `image ${i} labels`);
      assert.deepEqual(Array.from(got[i].inds), Array.from(cpu.inds), `image ${i} inds`);
    });
    const none = await batchedNmsGpu({ boxes, scores, numClasses: C }, {
      scoreThr: 2,
      iouThreshold: 0.5,
    });
    assert.deepEqual(none.map((d) => d.labels.length), [0, 0, 0], "nothing above the threshold");
    boxes.release();
    scores.release();
  },
);

gpuTest(
  "topkSegments() picks each segment's k largest, ties to the lower index, sorted or in original order",
  async (gpu) => {
    const r = new Rng(31);
    const lens = [5000, 37, 1, 300, 1200];
    const vals = Float32Array.from(
      { length: lens.reduce((a, b) => a + b, 0) },
      () => Math.round(r.next() * 200) / 200,
    );
    const t = gpu.upload(vals, [vals.length]);
    for (const keepOrder of [false, true]) {
      const segs = lens.map((len, i) => ({
        start: lens.slice(0, i).reduce((a, b) => a + b, 0),
        len,
        k: 100,
      }));
      const top = topkSegments(t, segs, { keepOrder });
      const [sel, perm] = await gpu.readMany([top.sel, top.perm]) as Uint32Array[];
      segs.forEach((s, i) => {
        const seg = vals.subarray(s.start, s.start + s.len);
        const expected = s.len <= s.k && keepOrder
          ? Array.from({ length: s.len }, (_, j) => j)
          : Array.from(argsortDesc(seg).slice(0, s.k));
        const got = Array.from(
          { length: top.counts[i] },
          (_, j) => sel[2 * perm[top.offsets[i] + j] + 1],
        );
        assert.deepEqual(got, expected, `segment ${i} keepOrder ${keepOrder}`);
      });
      top.sel.release();
      top.perm.release();
    }
    t.release();
  },
);

gpuTest(
  "topkSegments() over (box, class) scores equals mmdetection v2.18's filter_scores_and_topk",
  async (gpu) => {
    const fx = (await loadFixture<NmsFixture>("core/nms.json")).multiclass;
    const C = fx.num_classes;
    const scores = Float32Array.from(fx.scores.data.filter((_, k) => k % (C + 1) < C));
    const masked = scores.map((v) => (v > fx.score_thr ? v : -1));
    const t = gpu.upload(masked, [masked.length]);
    const top = topkSegments(t, [{ start: 0, len: masked.length, k: fx.topk }]);
    const [sel, perm] = await gpu.readMany([top.sel, top.perm]) as Uint32Array[];
    const flat = Array.from({ length: top.counts[0] }, (_, j) => sel[2 * perm[j] + 1]).filter((f) =>
      masked[f] > fx.score_thr
    );
    assert.deepEqual(flat.map((f) => f % C), fx.topk_labels.data, "labels");
    assert.deepEqual(flat.map((f) => Math.floor(f / C)), fx.topk_keep_idxs.data, "box indices");
    assertClose(flat.map((f) => scores[f]), fx.topk_scores.data, {
      rtol: 0,
      atol: 0,
      msg: "scores",
    });
    const cpu = filterScoresAndTopk(scores, C, { scoreThr: fx.score_thr, topk: fx.topk });
    assert.deepEqual(
      flat.map((f) => Math.floor(f / C)),
      Array.from(cpu.keepIdxs),
      "CPU filterScoresAndTopk",
    );
    for (const x of [t, top.sel, top.perm]) x.release();
  },
);
