/**
 * Each GPU target stage equals its CPU class on random batches: `MaxIoUAssigner.assignGpu` (with
 * `candidateFlagsGpu` for padding and ignore regions) vs `assign`, `RandomSampler.sampleGpu` vs
 * `sample` (same seed: same draw), `PseudoSampler`, and `roiTargetsGpu` / `denseTargetsGpu` vs
 * the coders' CPU `encode`. 1,024 images in 8 batches of 128: zero gts, 300 gts, grid boxes
 * (IoU ties), ignore boxes, all-negative images, padding rows.
 */
import { assert, assertClose } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import { Rng } from "../../_reference/rng.ts";
import { Tensor } from "../../../lib/autograd/tensor.ts";
import {
  type AssignResult,
  DeltaXYWHBBoxCoder,
  denseTargetsGpu,
  LegacyDeltaXYWHBBoxCoder,
  MaxIoUAssigner,
  type MaxIoUAssignerCfg,
  PseudoSampler,
  RandomSampler,
  roiTargetsGpu,
  samplerKey,
  uploadGts,
} from "../../../lib/core/mod.ts";
import type { Gpu } from "../../../lib/gpu/runtime.ts";

const N = 128, B = 48, C = 7;

interface Img {
  boxes: Float32Array; // [B, 4], rows >= nv are padding
  nv: number;
  gts: Float32Array;
  labels: Int32Array;
  ignore: Float32Array | null;
}

function box(rng: Rng, grid: boolean): number[] {
  if (grid) {
    const x = rng.int(0, 6) * 16,
      y = rng.int(0, 6) * 16,
      w = 16 * rng.int(1, 4),
      h = 16 * rng.int(1, 4);
    return [x, y, x + w, y + h];
  }
  const x = rng.uniform(0, 90), y = rng.uniform(0, 90);
  return [x, y, x + rng.uniform(2, 40), y + rng.uniform(2, 40)].map(Math.fround);
}

function makeBatch(seed: number): Img[] {
  const rng = new Rng(seed);
  return Array.from({ length: N }, (_, n) => {
    const grid = n % 3 === 0;
    const k = n === 5 ? 300 : n % 7 === 0 ? 0 : rng.int(1, 12);
    const nv = n % 4 === 1 ? rng.int(0, B) : B;
    const boxes = new Float32Array(B * 4);
    for (let j = 0; j < nv; j++) boxes.set(box(rng, grid), j * 4);
    // all-negative images: gts far from every box
    const far = n % 11 === 3;
    const gts = new Float32Array(k * 4);
    for (let g = 0; g < k; g++) {
      gts.set(far ? [500 + g, 500, 520 + g, 530] : box(rng, grid || g % 2 === 0), g * 4);
    }
    // a gt equal to a box (IoU 1 ties with duplicates)
    if (k > 1 && nv > 2) boxes.set(gts.subarray(0, 4), 2 * 4);
    const labels = Int32Array.from({ length: k }, () => rng.int(0, C));
    const ignore = n % 5 === 2 ? Float32Array.from([...box(rng, false), ...box(rng, false)]) : null;
    return { boxes, nv, gts, labels, ignore };
  });
}

function f32Bits(x: Float32Array): Int32Array {
  return new Int32Array(x.buffer, x.byteOffset, x.length);
}

async function runBatch(
  gpu: Gpu,
  imgs: Img[],
  acfg: MaxIoUAssignerCfg,
  sampler: RandomSampler,
  coder: DeltaXYWHBBoxCoder,
  seed: number,
): Promise<number> {
  const assigner = new MaxIoUAssigner(acfg);
  const all = new Float32Array(N * B * 4), valid = new Float32Array(N * B);
  imgs.forEach((im, n) => {
    all.set(im.boxes, n * B * 4);
    valid.fill(1, n * B, n * B + im.nv);
  });
  const boxes = Tensor.from(all, [N, B, 4]), validT = Tensor.from(valid, [N, B]);
  const gts = uploadGts({
    gtBboxes: imgs.map((i) => i.gts),
    gtLabels: imgs.map((i) => i.labels),
    gtBboxesIgnore: imgs.map((i) => i.ignore),
  });
  const G = gts.layout.maxGt;
  const flags = assigner.candidateFlagsGpu(boxes, validT, gts);
  const input = { boxes, flags, gts };
  const a = assigner.assignGpu(input);
  const s = sampler.sampleGpu(a, { input, seed });
  const t = roiTargetsGpu(s, gts, coder, { numClasses: C, posWeight: -1 });
  const ps = new PseudoSampler().sampleGpu(a, { input, seed });
  const d = denseTargetsGpu(ps, gts, coder, { numClasses: C, posWeight: 2 });
  const [ga, gcnt, inds, labels, lw, bt, bw, rois, scnt, dl, dlw, dbt] = await gpu.readMany([
    a.assign.raw,
    a.counts.raw,
    t.inds.raw,
    t.labels.raw,
    t.labelWeights.raw,
    t.bboxTargets.raw,
    t.bboxWeights.raw,
    t.rois.raw,
    t.counts.raw,
    d.labels.raw,
    d.labelWeights.raw,
    d.bboxTargets.raw,
  ]) as [
    Int32Array,
    Uint32Array,
    Int32Array,
    Int32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Uint32Array,
    Int32Array,
    Float32Array,
    Float32Array,
  ];
  const S = sampler.num, E = s.boxes.shape[1];
  imgs.forEach((im, n) => {
    const where = `config ${JSON.stringify(acfg)}, image ${n} (${
      im.gts.length / 4
    } gts, ${im.nv} boxes)`;
    const vb = im.boxes.slice(0, im.nv * 4);
    const ref: AssignResult = assigner.assign({
      bboxes: vb,
      gtBboxes: im.gts,
      gtBboxesIgnore: im.ignore,
      gtLabels: im.labels,
    });
    // assignment: gt_inds and max_overlaps bits, padding rows -1
    const gi = Array.from({ length: B }, (_, j) => ga[(n * B + j) * 2]);
    const mo = Int32Array.from({ length: im.nv }, (_, j) => ga[(n * B + j) * 2 + 1]);
    assert.deepEqual(gi.slice(0, im.nv), Array.from(ref.gtInds), `${where}: gt_inds`);
    assert.ok(gi.slice(im.nv).every((v) => v === -1), `${where}: padding rows`);
    assert.deepEqual(
      Array.from(mo),
      Array.from(f32Bits(ref.maxOverlaps)),
      `${where}: max_overlaps`,
    );
    const pos = ref.gtInds.filter((v) => v > 0).length,
      neg = ref.gtInds.filter((v) => v === 0).length;
    assert.deepEqual([gcnt[2 * n], gcnt[2 * n + 1]], [pos, neg], `${where}: counts`);
    // random sampling: the same draw as the CPU class, in SamplingResult order
    const r = sampler.sample(ref, {
      bboxes: vb,
      gtBboxes: im.gts,
      gtLabels: im.labels,
      seed,
      image: n,
      gtSlots: G,
    });
    const k = im.gts.length / 4, gtRows = sampler.addGtAsProposals && G > 0 ? G : 0;
    const toGpu = (
      i: number,
    ) => (sampler.addGtAsProposals && k > 0 ? (i < k ? i : gtRows + i - k) : i + gtRows);
    const want = [...r.posInds, ...r.negInds].map(toGpu);
    const got = Array.from(inds.subarray(n * S, (n + 1) * S));
    assert.deepEqual(got.slice(0, want.length), want, `${where}: sampled indices`);
    assert.ok(got.slice(want.length).every((v) => v === -1), `${where}: index padding`);
    assert.deepEqual([scnt[2 * n], scnt[2 * n + 1]], [r.posInds.length, r.negInds.length]);
    const np = r.posInds.length;
    const enc = coder.encode(r.posBboxes, r.posGtBboxes);
    for (let q = 0; q < S; q++) {
      const row = n * S + q, isPos = q < np, isNeg = !isPos && q < want.length;
      assert.equal(labels[row], isPos ? r.posGtLabels![q] : C, `${where}: label of slot ${q}`);
      assert.equal(lw[row], isPos || isNeg ? 1 : 0, `${where}: label weight of slot ${q}`);
      assert.equal(rois[row * 5], isPos || isNeg ? n : -1);
      if (isPos || isNeg) {
        const src = isPos
          ? r.posBboxes.subarray(q * 4, q * 4 + 4)
          : r.negBboxes.subarray((q - np) * 4, (q - np) * 4 + 4);
        assert.deepEqual(Array.from(rois.subarray(row * 5 + 1, row * 5 + 5)), Array.from(src));
      }
      for (let c = 0; c < 4; c++) {
        assert.equal(bw[row * 4 + c], isPos ? 1 : 0);
        if (!isPos) assert.equal(bt[row * 4 + c], 0);
      }
      if (isPos) {
        assertClose(bt.subarray(row * 4, row * 4 + 4), enc.subarray(q * 4, q * 4 + 4), {
          atol: 2e-6,
          rtol: 1e-6,
        });
      }
    }
    // pseudo sampling + dense targets: every positive and negative, pos_weight 2
    for (let j = 0; j < B; j++) {
      const g = j < im.nv ? ref.gtInds[j] : -1, at = n * B + j;
      assert.equal(dl[at], g > 0 ? im.labels[g - 1] : C);
      assert.equal(dlw[at], g > 0 ? 2 : g === 0 ? 1 : 0);
      if (g > 0) {
        const e = coder.encode(vb.slice(j * 4, j * 4 + 4), im.gts.slice((g - 1) * 4, g * 4));
        assertClose(dbt.subarray(at * 4, at * 4 + 4), e, { atol: 2e-6, rtol: 1e-6 });
      }
    }
    void E;
  });
  for (
    const x of [
      boxes,
      validT,
      flags,
      gts.pack,
      a.assign,
      a.counts,
      ...Object.values(t),
      ...Object.values(d),
    ]
  ) {
    x.dispose();
  }
  for (const x of [s.sampled, s.counts, ps.sampled, ps.counts]) x.dispose();
  if (s.boxes !== boxes) s.boxes.dispose();
  if (s.assign !== a.assign) s.assign.dispose();
  return N;
}

const CONFIGS: MaxIoUAssignerCfg[] = [
  { pos_iou_thr: 0.5, neg_iou_thr: 0.5, min_pos_iou: 0.5, match_low_quality: false },
  { pos_iou_thr: 0.7, neg_iou_thr: 0.3, min_pos_iou: 0.3, match_low_quality: true },
  {
    pos_iou_thr: 0.5,
    neg_iou_thr: [0.1, 0.5],
    min_pos_iou: 0,
    gt_max_assign_all: false,
    ignore_iof_thr: 0.5,
  },
  {
    pos_iou_thr: 0.6,
    neg_iou_thr: 0.4,
    min_pos_iou: 0.1,
    ignore_iof_thr: 0.3,
    ignore_wrt_candidates: false,
  },
];

gpuTest(
  "GPU stages equal the CPU classes on 1,024 random images: MaxIoUAssigner (all options), RandomSampler (same draw), PseudoSampler, RoI and dense targets (both coders)",
  async (gpu) => {
    let cases = 0;
    for (let b = 0; b < 8; b++) {
      const acfg = CONFIGS[b % 4];
      const sampler = new RandomSampler({
        num: b < 4 ? 16 : 24,
        pos_fraction: b % 2 ? 0.25 : 0.5,
        neg_pos_ub: b % 3 === 0 ? 3 : -1,
        add_gt_as_proposals: b % 2 === 1,
      });
      const coder = b < 4
        ? new DeltaXYWHBBoxCoder({
          target_means: [0.1, 0, -0.1, 0],
          target_stds: [0.1, 0.1, 0.2, 0.2],
        })
        : new LegacyDeltaXYWHBBoxCoder({ target_stds: [0.1, 0.1, 0.2, 0.2] });
      cases += await runBatch(gpu, makeBatch(100 + b), acfg, sampler, coder, 1000 + b);
    }
    assert.equal(cases, 1024);
  },
);

gpuTest(
  "RandomSampler on the GPU: exact counts min(num·pos_fraction, #pos) and the rest negatives (neg_pos_ub), reproducible for a seed, different across seeds",
  async (gpu) => {
    const imgs = makeBatch(7);
    const draw = async (cfg: ConstructorParameters<typeof RandomSampler>[0], seed: number) => {
      const assigner = new MaxIoUAssigner({ pos_iou_thr: 0.3, neg_iou_thr: 0.3, min_pos_iou: 0 });
      const sampler = new RandomSampler(cfg);
      const all = new Float32Array(N * B * 4);
      imgs.forEach((im, n) => all.set(im.boxes, n * B * 4));
      const boxes = Tensor.from(all, [N, B, 4]);
      const valid = Tensor.from(new Float32Array(N * B).fill(1), [N, B]);
      const gts = uploadGts({
        gtBboxes: imgs.map((i) => i.gts),
        gtLabels: imgs.map((i) => i.labels),
      });
      const flags = assigner.candidateFlagsGpu(boxes, valid, gts);
      const a = assigner.assignGpu({ boxes, flags, gts });
      const s = sampler.sampleGpu(a, { input: { boxes, flags, gts }, seed });
      const [avail, cnt, smp] = await gpu.readMany([
        a.counts.raw,
        s.counts.raw,
        s.sampled.raw,
      ]) as Uint32Array[];
      for (const x of [boxes, valid, gts.pack, flags, a.assign, a.counts, s.sampled, s.counts]) {
        x.dispose();
      }
      return { avail, cnt, smp };
    };
    const cfg = { num: 20, pos_fraction: 0.25, neg_pos_ub: 2, add_gt_as_proposals: false };
    const x = await draw(cfg, 42), y = await draw(cfg, 42), z = await draw(cfg, 43);
    assert.deepEqual(Array.from(x.smp), Array.from(y.smp), "same seed, same draw");
    assert.notDeepEqual(Array.from(x.smp), Array.from(z.smp), "another seed, another draw");
    let capped = 0;
    for (let n = 0; n < N; n++) {
      const kp = Math.min(5, x.avail[2 * n]);
      const kn = Math.min(20 - kp, 2 * Math.max(kp, 1), x.avail[2 * n + 1]);
      if (kn < 20 - kp && kn < x.avail[2 * n + 1]) capped++;
      assert.deepEqual([x.cnt[2 * n], x.cnt[2 * n + 1]], [kp, kn], `image ${n}`);
      const row = Array.from(x.smp.subarray(n * B, (n + 1) * B));
      assert.equal(row.filter((v) => v === 1).length, kp);
      assert.equal(row.filter((v) => v === 2).length, kn);
    }
    assert.ok(capped > 10, `neg_pos_ub bound only ${capped} images`);
    // without the bound negatives fill up to num
    const u = await draw({ ...cfg, neg_pos_ub: -1 }, 42);
    for (let n = 0; n < N; n++) {
      const kp = Math.min(5, u.avail[2 * n]);
      assert.deepEqual([u.cnt[2 * n], u.cnt[2 * n + 1]], [
        kp,
        Math.min(20 - kp, u.avail[2 * n + 1]),
      ]);
    }
    // the draw behind both samplers is uniform: over 3,000 seeds each of 48 boxes is among the 8
    // smallest keys about 500 times
    const hits = new Float64Array(B);
    for (let sd = 0; sd < 3000; sd++) {
      const keyed = Array.from({ length: B }, (_, j) => [samplerKey(sd, 1, 1, j), j]);
      keyed.sort((p, q) => p[0] - q[0]);
      for (const [, j] of keyed.slice(0, 8)) hits[j]++;
    }
    for (let j = 0; j < B; j++) {
      assert.ok(
        Math.abs(hits[j] - 500) < 100,
        `box ${j} drawn ${hits[j]} times of 3000, not about 500`,
      );
    }
  },
);
