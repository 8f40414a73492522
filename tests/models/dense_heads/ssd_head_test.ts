import { assert, assertClose, type FixtureArray, loadFixture } from "../../_assert.ts";
import * as F from "../../../lib/autograd/functional.ts";
import { backward } from "../../../lib/autograd/tape.ts";
import { Tensor, tidy } from "../../../lib/autograd/tensor.ts";
import { gpuTest } from "../../_gpu.ts";
import { Rng } from "../../_reference/rng.ts";
import { hardNegativeWeights } from "../../../lib/ops/hard_negative.ts";
import "../../../lib/models/mod.ts";
import { HEADS, NECKS } from "../../../lib/models/registry.ts";
import type { SSDHead } from "../../../lib/models/dense_heads/ssd_head.ts";
import { L2Norm, type SSDNeck } from "../../../lib/models/necks/ssd_neck.ts";
import type { ImgMeta } from "../../../lib/models/detectors/base.ts";
import type { Module } from "../../../lib/nn/module.ts";
import { DeltaXYWHBBoxCoder } from "../../../lib/core/bbox/coders/delta_xywh_bbox_coder.ts";
import { batchedNms } from "../../../lib/core/post_processing/nms.ts";
import { filterScoresAndTopk } from "../../../lib/core/utils/misc.ts";

interface SsdFixture {
  num_classes: number;
  in_channels: number[];
  out_channels: number[];
  level_strides: number[];
  level_paddings: number[];
  strides: number[];
  min_sizes: number[];
  max_sizes: number[];
  ratios: number[][];
  img_shape: number[];
  feats: FixtureArray[];
  params: Record<string, FixtureArray>;
  gt_bboxes: FixtureArray[];
  gt_labels: FixtureArray[];
  neck_outs: FixtureArray[];
  cls_scores: FixtureArray[];
  bbox_preds: FixtureArray[];
  anchors: FixtureArray;
  loss_cls: number;
  loss_bbox: number;
  num_total_pos: number;
  mining: [number, number][];
  grad_params: Record<string, FixtureArray>;
}

const SSD_TRAIN_CFG = {
  assigner: {
    type: "MaxIoUAssigner",
    pos_iou_thr: 0.5,
    neg_iou_thr: 0.5,
    min_pos_iou: 0.0,
    ignore_iof_thr: -1,
    gt_max_assign_all: false,
  },
  smoothl1_beta: 1.0,
  allowed_border: -1,
  pos_weight: -1,
  neg_pos_ratio: 3,
  debug: false,
};

function load(m: Module, prefix: string, params: Record<string, FixtureArray>): void {
  const sd: Record<string, { dtype: "f32"; shape: number[]; data: Float32Array<ArrayBuffer> }> = {};
  for (const [k, v] of Object.entries(params)) {
    if (!k.startsWith(prefix)) continue;
    sd[k.slice(prefix.length)] = { dtype: "f32", shape: v.shape, data: Float32Array.from(v.data) };
  }
  const names = m.namedParameters().map(([n]) => n).sort();
  assert.deepEqual(Object.keys(sd).sort(), names, `${prefix} parameter names are mmdetection's`);
  m.loadStateDict(sd);
}

/** CPU reference of the mining rule: the weights mmdetection's loss_single effectively applies. */
function miningRef(
  ce: Float32Array,
  labels: Int32Array,
  lw: Float32Array,
  N: number,
  A: number,
  C: number,
  ratio: number,
): { w: Float32Array; stats: number[] } {
  const w = new Float32Array(N * A), stats: number[] = [];
  for (let n = 0; n < N; n++) {
    const neg: number[] = [];
    let P = 0;
    for (let i = 0; i < A; i++) {
      const l = labels[n * A + i];
      if (l >= 0 && l < C) {
        P++;
        w[n * A + i] = lw[n * A + i];
      } else if (l === C) neg.push(i);
    }
    const k = Math.min(ratio * P, neg.length);
    const val = (i: number) => Math.fround(ce[n * A + i] * lw[n * A + i]);
    neg.sort((a, b) => val(b) - val(a) || a - b);
    for (const i of neg.slice(0, k)) w[n * A + i] = lw[n * A + i];
    stats.push(P, k);
  }
  return { w, stats };
}

gpuTest(
  "hard negative mining on the GPU keeps all positives and the top min(3·#pos, #neg) negatives per image (ties, no positives, all positives)",
  async (gpu) => {
    const rng = new Rng(7);
    const C = 4;
    for (
      const [N, A, posP, tieLevels] of [
        [3, 700, 0.05, 0], // mining active, distinct values
        [2, 1000, 0.02, 5], // heavy ties: 5 distinct values
        [2, 40, 0.6, 0], // 3·#pos > #neg: all negatives kept
        [2, 300, 0, 0], // no positives: no negatives
        [1, 9000, 0.01, 0], // SSD300-sized
      ]
    ) {
      const ce = new Float32Array(N * A), labels = new Int32Array(N * A);
      const lw = new Float32Array(N * A);
      for (let i = 0; i < N * A; i++) {
        const r = rng.next();
        labels[i] = r < posP ? rng.int(0, C) : r < 0.97 ? C : -1;
        lw[i] = rng.next() < 0.03 ? 0 : 1;
        ce[i] = tieLevels > 0 ? rng.int(0, tieLevels) * 0.25 : rng.uniform(0, 5);
      }
      const out = hardNegativeWeights(
        Tensor.from(ce, [N, A]).raw,
        Tensor.from(labels, [N, A], { dtype: "i32" }).raw,
        Tensor.from(lw, [N, A]).raw,
        { numClasses: C, negPosRatio: 3 },
      );
      const got = await gpu.read(out.weights) as Float32Array;
      const stats = Array.from(await gpu.read(out.stats) as Uint32Array);
      const ref = miningRef(ce, labels, lw, N, A, C, 3);
      assert.deepEqual(stats, ref.stats, `N ${N} A ${A}: (#pos, k) per image`);
      if (tieLevels === 0) {
        assert.deepEqual(Array.from(got), Array.from(ref.w), `N ${N} A ${A}: weights`);
      }
      // the mined sum (what the loss uses) is tie-independent
      for (let n = 0; n < N; n++) {
        let a = 0, b = 0;
        for (let i = n * A; i < (n + 1) * A; i++) {
          a += got[i] * ce[i];
          b += ref.w[i] * ce[i];
        }
        assertClose(a, b, { rtol: 1e-6, msg: `N ${N} A ${A} image ${n}: mined loss sum` });
      }
      out.weights.release();
      out.stats.release();
    }
  },
);

gpuTest("L2Norm forward and backward equal mmdetection's (plain PyTorch)", async () => {
  const fx = await loadFixture<Record<string, FixtureArray>>("models/ssd_l2norm.json");
  const m = new L2Norm(fx.weight.shape[0], 20);
  assertClose(await m.param("weight").toArray(), new Float32Array(fx.weight.shape[0]).fill(20));
  m.loadStateDict({
    weight: { dtype: "f32", shape: fx.weight.shape, data: Float32Array.from(fx.weight.data) },
  });
  const x = Tensor.from(Float32Array.from(fx.x.data), fx.x.shape);
  x.requiresGrad = true;
  const up = Tensor.from(Float32Array.from(fx.upstream.data), fx.upstream.shape);
  const y = tidy(() => {
    const y = m.forward(x);
    backward(F.sum(F.mul(y, up)));
    return y;
  });
  assertClose(await y.toArray(), fx.y.data, { rtol: 1e-5, atol: 1e-6, msg: "y" });
  assertClose(await x.grad!.toArray(), fx.grad_x.data, { rtol: 1e-4, atol: 1e-6, msg: "grad x" });
  assertClose(await m.param("weight").grad!.toArray(), fx.grad_weight.data, {
    rtol: 1e-4,
    atol: 1e-6,
    msg: "grad weight",
  });
  for (const t of [x, up, y]) t.dispose();
  m.dispose();
});

gpuTest(
  "SSDNeck + SSDHead: forward, hard-negative-mined loss and gradients equal plain-PyTorch mmdetection v2.25, no readback",
  async (gpu) => {
    const fx = await loadFixture<SsdFixture>("models/ssd_head_loss.json");
    const neck = NECKS.build({
      type: "SSDNeck",
      in_channels: fx.in_channels,
      out_channels: fx.out_channels,
      level_strides: fx.level_strides,
      level_paddings: fx.level_paddings,
      l2_norm_scale: 20,
    }) as unknown as SSDNeck;
    const head = HEADS.build({
      type: "SSDHead",
      num_classes: fx.num_classes,
      in_channels: fx.out_channels,
      anchor_generator: {
        type: "SSDAnchorGenerator",
        scale_major: false,
        input_size: fx.img_shape[0],
        strides: fx.strides,
        ratios: fx.ratios,
        min_sizes: fx.min_sizes,
        max_sizes: fx.max_sizes,
      },
      bbox_coder: {
        type: "DeltaXYWHBBoxCoder",
        target_means: [0, 0, 0, 0],
        target_stds: [0.1, 0.1, 0.2, 0.2],
      },
      train_cfg: SSD_TRAIN_CFG,
    }) as unknown as SSDHead;
    assert.deepEqual(head.levelNumAnchors, [4, 6, 6, 4]);
    load(neck, "neck.", fx.params);
    load(head, "bbox_head.", fx.params);
    const sizes = fx.neck_outs.map((o) => [o.shape[2], o.shape[3]] as [number, number]);
    const anchors = head.getAnchors(sizes);
    assertClose(await anchors.anchors.toArray(), fx.anchors.data, {
      rtol: 1e-6,
      atol: 1e-4,
      msg: "anchors",
    });
    const metas: ImgMeta[] = fx.gt_bboxes.map((_, i) => ({
      img_shape: [...fx.img_shape, 3],
      pad_shape: [...fx.img_shape, 3],
      filename: `img${i}.jpg`,
    }));
    const before = gpu.stats().readbacks;
    const out = tidy(() => {
      const feats = fx.feats.map((a) => Tensor.from(Float32Array.from(a.data), a.shape));
      const outs = neck.forward(feats);
      const [cls, reg] = head.forward(outs);
      const l = head.loss(
        cls,
        reg,
        fx.gt_bboxes.map((b) => Float32Array.from(b.data)),
        fx.gt_labels.map((b) => Int32Array.from(b.data)),
        metas,
      );
      backward([...l.loss_cls, ...l.loss_bbox].reduce((a, b) => F.add(a, b)));
      return { l, cls, reg, outs, lc: F.add(l.loss_cls[0], l.loss_cls[1]) };
    });
    assert.equal(gpu.stats().readbacks, before, "forward, loss and backward must not read back");
    for (let lv = 0; lv < fx.strides.length; lv++) {
      assertClose(await out.outs[lv].toArray(), fx.neck_outs[lv].data, {
        rtol: 1e-5,
        atol: 1e-5,
        msg: `neck output ${lv}`,
      });
      assertClose(await out.cls[lv].toArray(), fx.cls_scores[lv].data, {
        rtol: 1e-5,
        atol: 1e-5,
        msg: `cls_score ${lv}`,
      });
      assertClose(await out.reg[lv].toArray(), fx.bbox_preds[lv].data, {
        rtol: 1e-5,
        atol: 1e-5,
        msg: `bbox_pred ${lv}`,
      });
    }
    let lc = 0, lb = 0;
    for (const t of out.l.loss_cls) lc += await t.item();
    for (const t of out.l.loss_bbox) lb += await t.item();
    assertClose(lc, fx.loss_cls, { rtol: 1e-5, msg: "loss_cls" });
    assertClose(lb, fx.loss_bbox, { rtol: 1e-5, msg: "loss_bbox" });
    for (const [prefix, m] of [["neck.", neck], ["bbox_head.", head]] as const) {
      for (const [name, p] of m.namedParameters()) {
        const e = fx.grad_params[prefix + name].data;
        const scale = Math.max(...e.map(Math.abs));
        assertClose(await p.grad!.toArray(), e, {
          rtol: 1e-4,
          atol: 1e-5 * scale,
          msg: `grad ${prefix}${name}`,
        });
      }
    }
    for (const t of [...out.cls, ...out.reg, ...out.outs, ...out.l.loss_cls, ...out.l.loss_bbox]) {
      t.dispose();
    }
    out.lc.dispose();
    neck.dispose();
    head.dispose();
  },
);

/** mmdetection v2.25 `_get_bboxes_single` + `_bbox_post_process` of one image, on the CPU. */
function ssdBboxesRef(
  cls: Float32Array[],
  reg: Float32Array[],
  anchors: Float32Array[],
  shapes: [number, number][],
  numAnchors: number[],
  C: number,
  cfg: { nmsPre: number; scoreThr: number; iou: number; maxPerImg: number; img: [number, number] },
) {
  const fr = Math.fround;
  const coder = new DeltaXYWHBBoxCoder({ target_stds: [0.1, 0.1, 0.2, 0.2] });
  const boxes: number[] = [], scores: number[] = [], labels: number[] = [];
  cls.forEach((c, l) => {
    const [H, W] = shapes[l], A = numAnchors[l], K = C + 1;
    const n = H * W * A;
    const sc = new Float32Array(n * C);
    for (let r = 0; r < n; r++) {
      const s = Math.floor(r / A), a = r % A;
      const row = Array.from({ length: K }, (_, k) => c[(a * K + k) * H * W + s]);
      const m = Math.max(...row);
      const e = row.map((v) => fr(Math.exp(fr(v - m))));
      const sum = fr(e.reduce((x, y) => fr(x + y), 0));
      for (let k = 0; k < C; k++) sc[r * C + k] = fr(e[k] / sum);
    }
    const t = filterScoresAndTopk(sc, C, { scoreThr: cfg.scoreThr, topk: cfg.nmsPre });
    const p: number[] = [], d: number[] = [];
    for (const r of t.keepIdxs) {
      const s = Math.floor(r / A), a = r % A;
      p.push(...anchors[l].subarray(4 * r, 4 * r + 4));
      for (let k = 0; k < 4; k++) d.push(reg[l][(a * 4 + k) * H * W + s]);
    }
    const dec = coder.decode(Float32Array.from(p), Float32Array.from(d), { maxShape: cfg.img });
    boxes.push(...dec);
    scores.push(...t.scores);
    labels.push(...t.labels);
  });
  const r = batchedNms({
    boxes: Float32Array.from(boxes),
    scores: Float32Array.from(scores),
    labels: Int32Array.from(labels),
  }, { iou_threshold: cfg.iou });
  const k = Math.min(r.keep.length, cfg.maxPerImg);
  return {
    bboxes: r.dets.slice(0, 5 * k),
    labels: Int32Array.from(r.keep.subarray(0, k), (i) => labels[i]),
  };
}

gpuTest(
  "SSDHead.getBboxes equals mmdetection v2.25's get_bboxes on the CPU: softmax without background, per-level anchor counts, top nms_pre pairs, batched NMS",
  async () => {
    const C = 3;
    const head = HEADS.build({
      type: "SSDHead",
      num_classes: C,
      in_channels: [4, 6, 6],
      anchor_generator: {
        type: "SSDAnchorGenerator",
        scale_major: false,
        input_size: 64,
        strides: [8, 16, 32],
        ratios: [[2], [2, 3], [2]],
        min_sizes: [10, 20, 36],
        max_sizes: [20, 36, 60],
      },
      bbox_coder: {
        type: "DeltaXYWHBBoxCoder",
        target_means: [0, 0, 0, 0],
        target_stds: [0.1, 0.1, 0.2, 0.2],
      },
      test_cfg: {
        nms_pre: 25,
        nms: { type: "nms", iou_threshold: 0.45 },
        min_bbox_size: 0,
        score_thr: 0.02,
        max_per_img: 30,
      },
    }) as unknown as SSDHead;
    const rng = new Rng(5);
    const sd: Record<string, { dtype: "f32"; shape: number[]; data: Float32Array<ArrayBuffer> }> =
      {};
    for (const [name, p] of head.namedParameters()) {
      const data = Float32Array.from({ length: p.size }, () => rng.normal() * 0.4);
      sd[name] = { dtype: "f32", shape: [...p.shape], data };
    }
    head.loadStateDict(sd);
    const shapes: [number, number][] = [[8, 8], [4, 4], [2, 2]];
    const N = 2;
    const feats = shapes.map(([h, w], l) =>
      Tensor.from(
        Float32Array.from({ length: N * [4, 6, 6][l] * h * w }, () => rng.normal()),
        [N, [4, 6, 6][l], h, w],
      )
    );
    const metas: ImgMeta[] = [0, 1].map(() => ({
      img_shape: [64, 64, 3],
      pad_shape: [64, 64, 3],
      scale_factor: [1, 1, 1, 1],
    }));
    const [cls, reg] = tidy(() => head.forward(feats));
    const dets = await head.getBboxes(cls, reg, metas);
    const hc = await Promise.all(cls.map((t) => t.toArray())) as Float32Array[];
    const hr = await Promise.all(reg.map((t) => t.toArray())) as Float32Array[];
    const anchors = head.getAnchors(shapes).hostAnchors;
    for (let n = 0; n < N; n++) {
      const per = (a: Float32Array[], k: number) =>
        a.map((x, l) => {
          const len = head.levelNumAnchors[l] * k * shapes[l][0] * shapes[l][1];
          return x.subarray(n * len, (n + 1) * len);
        });
      const ref = ssdBboxesRef(
        per(hc, C + 1),
        per(hr, 4),
        anchors,
        shapes,
        head.levelNumAnchors,
        C,
        { nmsPre: 25, scoreThr: 0.02, iou: 0.45, maxPerImg: 30, img: [64, 64] },
      );
      assert.ok(ref.labels.length > 5, `image ${n}: ${ref.labels.length} detections`);
      assert.deepEqual(Array.from(dets[n].labels), Array.from(ref.labels), `image ${n} labels`);
      assertClose(dets[n].bboxes, ref.bboxes, { rtol: 1e-5, atol: 1e-4, msg: `image ${n}` });
    }
    for (const t of [...feats, ...cls, ...reg]) t.dispose();
    head.dispose();
  },
);
