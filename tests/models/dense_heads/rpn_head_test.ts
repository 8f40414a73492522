import { assert, assertClose, type FixtureArray, loadFixture } from "../../_assert.ts";
import * as F from "../../../lib/autograd/functional.ts";
import { backward } from "../../../lib/autograd/tape.ts";
import { gpuTest } from "../../_gpu.ts";
import { Rng } from "../../_reference/rng.ts";
import { Tensor, tidy } from "../../../lib/autograd/tensor.ts";
import { DeltaXYWHBBoxCoder } from "../../../lib/core/bbox/coders/delta_xywh_bbox_coder.ts";
import type { MaxIoUAssigner } from "../../../lib/core/bbox/assigners/max_iou_assigner.ts";
import { type RandomSampler, stepSeed } from "../../../lib/core/bbox/samplers/random_sampler.ts";
import { batchedNms } from "../../../lib/core/post_processing/nms.ts";
import type { FeatmapSize } from "../../../lib/core/anchor/anchor_generator.ts";
import type { RPNHead, RpnTestCfg } from "../../../lib/models/dense_heads/rpn_head.ts";
import "../../../lib/models/dense_heads/rpn_head.ts";
import { HEADS } from "../../../lib/models/registry.ts";
import type { ImgMeta } from "../../../lib/models/detectors/base.ts";
import type { Gpu } from "../../../lib/gpu/runtime.ts";

const f = Math.fround;

function buildRpn(extra: Record<string, unknown> = {}): RPNHead {
  return HEADS.build({
    type: "RPNHead",
    in_channels: 4,
    feat_channels: 6,
    anchor_generator: {
      type: "AnchorGenerator",
      scales: [2, 4],
      ratios: [0.5, 1.0, 2.0],
      strides: [8, 16],
    },
    loss_cls: { type: "CrossEntropyLoss", use_sigmoid: true, loss_weight: 1.0 },
    loss_bbox: { type: "L1Loss", loss_weight: 1.0 },
    train_cfg: {
      assigner: {
        type: "MaxIoUAssigner",
        pos_iou_thr: 0.7,
        neg_iou_thr: 0.3,
        min_pos_iou: 0.3,
        match_low_quality: true,
        ignore_iof_thr: -1,
      },
      sampler: {
        type: "RandomSampler",
        num: 32,
        pos_fraction: 0.5,
        neg_pos_ub: -1,
        add_gt_as_proposals: false,
      },
      allowed_border: -1,
      pos_weight: -1,
    },
    test_cfg: { nms_pre: 40, max_per_img: 30, nms: { type: "nms", iou_threshold: 0.7 } },
    ...extra,
  }) as unknown as RPNHead;
}

/** NCHW level output → rows `(y·W + x)·A + a` of `c` channels each. */
function rows(x: Float32Array, [, C, H, W]: number[], c: number): Float32Array {
  const A = C / c, out = new Float32Array(H * W * C);
  for (let y = 0; y < H; y++) {
    for (let xx = 0; xx < W; xx++) {
      for (let a = 0; a < A; a++) {
        for (let k = 0; k < c; k++) {
          out[((y * W + xx) * A + a) * c + k] = x[(a * c + k) * H * W + y * W + xx];
        }
      }
    }
  }
  return out;
}

/** mmdetection v2.25 `RPNHead._get_bboxes_single` + `_bbox_post_process`, on the CPU. */
function proposalsRef(
  cls: Float32Array[],
  reg: Float32Array[],
  anchors: Float32Array[],
  imgShape: number[],
  cfg: Required<Pick<RpnTestCfg, "nms_pre" | "max_per_img" | "min_bbox_size">> & { iou: number },
): Float32Array {
  const coder = new DeltaXYWHBBoxCoder({});
  const sc: number[] = [], bx: number[] = [], an: number[] = [], lv: number[] = [];
  cls.forEach((c, l) => {
    const s = Array.from(c, (v) => f(1 / (1 + Math.exp(-v))));
    let order = s.map((_, i) => i);
    if (cfg.nms_pre > 0 && cfg.nms_pre < s.length) {
      order = order.sort((a, b) => s[b] - s[a] || a - b).slice(0, cfg.nms_pre);
    }
    for (const i of order) {
      sc.push(s[i]);
      bx.push(...reg[l].subarray(i * 4, i * 4 + 4));
      an.push(...anchors[l].subarray(i * 4, i * 4 + 4));
      lv.push(l);
    }
  });
  const boxes = coder.decode(Float32Array.from(an), Float32Array.from(bx), { maxShape: imgShape });
  const keep: number[] = [];
  for (let i = 0; i < sc.length; i++) {
    const w = boxes[i * 4 + 2] - boxes[i * 4], h = boxes[i * 4 + 3] - boxes[i * 4 + 1];
    if (cfg.min_bbox_size < 0 || (w > cfg.min_bbox_size && h > cfg.min_bbox_size)) keep.push(i);
  }
  const kb = new Float32Array(keep.length * 4);
  keep.forEach((i, r) => kb.set(boxes.subarray(i * 4, i * 4 + 4), r * 4));
  const r = batchedNms({
    boxes: kb,
    scores: Float32Array.from(keep, (i) => sc[i]),
    labels: Int32Array.from(keep, (i) => lv[i]),
  }, { iou_threshold: cfg.iou });
  return r.dets.slice(0, cfg.max_per_img * 5);
}

async function randomOutputs(
  _gpu: Gpu,
  head: RPNHead,
  N: number,
  sizes: FeatmapSize[],
  seed: number,
) {
  const rng = new Rng(seed);
  const feats = sizes.map(([h, w]) =>
    Tensor.from(Float32Array.from({ length: N * 4 * h * w }, () => rng.normal()), [N, 4, h, w])
  );
  // larger weights than the init so that scores and deltas spread
  const sd: Record<string, { dtype: "f32"; shape: number[]; data: Float32Array<ArrayBuffer> }> = {};
  for (const [name, p] of head.namedParameters()) {
    const data = Float32Array.from({ length: p.size }, () => rng.normal() * 0.5);
    sd[name] = { dtype: "f32", shape: [...p.shape], data };
  }
  head.loadStateDict(sd);
  const [cls, reg] = tidy(() => head.forward(feats));
  const hc = await Promise.all(cls.map((t) => t.toArray())) as Float32Array[];
  const hr = await Promise.all(reg.map((t) => t.toArray())) as Float32Array[];
  for (const t of feats) t.dispose();
  return { cls, reg, hc, hr };
}

gpuTest(
  "RPNHead: mmdetection's layers and state-dict keys, outputs [N, A, H, W] and [N, 4A, H, W]",
  async () => {
    const head = buildRpn();
    assert.deepEqual(
      head.namedParameters().map(([n]) => n).sort(),
      [
        "rpn_cls.bias",
        "rpn_cls.weight",
        "rpn_conv.bias",
        "rpn_conv.weight",
        "rpn_reg.bias",
        "rpn_reg.weight",
      ],
    );
    assert.equal(head.numClasses, 1);
    assert.equal(head.clsOutChannels, 1);
    const x = Tensor.from(new Float32Array(2 * 4 * 5 * 6), [2, 4, 5, 6]);
    const [[c], [r]] = tidy(() => head.forward([x]));
    assert.deepEqual(c.shape, [2, 6, 5, 6]);
    assert.deepEqual(r.shape, [2, 24, 5, 6]);
    for (const t of [x, c, r]) t.dispose();
    head.dispose();
  },
);

gpuTest(
  "RPNHead.getProposalsGpu equals mmdetection's _bbox_post_process on the CPU (top-k per level, min size, batched NMS by level, max_per_img)",
  async (gpu) => {
    const head = buildRpn();
    const N = 3, sizes: FeatmapSize[] = [[6, 7], [3, 4]];
    const { cls, reg, hc, hr } = await randomOutputs(gpu, head, N, sizes, 11);
    const metas: ImgMeta[] = [[48, 56], [40, 50], [30, 56]].map((s) => ({
      img_shape: [...s, 3],
      pad_shape: [48, 56, 3],
    }));
    const anchors = head.anchorGenerator.gridAnchors(sizes);
    for (
      const cfg of [
        { nms_pre: 40, max_per_img: 30, min_bbox_size: 0 },
        { nms_pre: 1000, max_per_img: 1000, min_bbox_size: 4 },
        { nms_pre: 10, max_per_img: 5, min_bbox_size: -1 },
      ]
    ) {
      const p = head.getProposalsGpu(cls, reg, metas, {
        ...cfg,
        nms: { type: "nms", iou_threshold: 0.7 },
      });
      const [rowsG, counts, valid] = await gpu.readMany([
        p.proposals.raw,
        p.counts.raw,
        p.valid.raw,
      ]) as [
        Float32Array,
        Uint32Array,
        Float32Array,
      ];
      const M = p.capacity;
      assert.equal(M, cfg.max_per_img);
      for (let n = 0; n < N; n++) {
        const per = (levels: Float32Array[], c: number) =>
          levels.map((x, l) => {
            const [h, w] = sizes[l];
            const C = x.length / (N * h * w);
            return rows(x.subarray(n * C * h * w, (n + 1) * C * h * w), [1, C, h, w], c);
          });
        const ref = proposalsRef(per(hc, 1), per(hr, 4), anchors, metas[n].img_shape as number[], {
          ...cfg,
          iou: 0.7,
        });
        const k = ref.length / 5;
        assert.equal(counts[n], k, `image ${n}, ${JSON.stringify(cfg)}: proposal count`);
        assert.ok(k > 3, `image ${n}: only ${k} proposals`);
        assertClose(rowsG.subarray(n * M * 5, n * M * 5 + k * 5), ref, {
          atol: 1e-4,
          rtol: 1e-5,
        });
        for (let r = 0; r < M; r++) assert.equal(valid[n * M + r], r < k ? 1 : 0);
        for (let r = k * 5; r < M * 5; r++) assert.equal(rowsG[n * M * 5 + r], 0);
      }
      for (const t of [p.proposals, p.valid, p.counts]) t.dispose();
    }
    // getBboxes: the same rows read back, rescaled after NMS
    const dets = await head.getBboxes(cls, reg, metas.map((m) => ({ ...m, scale_factor: 2 })), {
      rescale: true,
    });
    assert.equal(dets.length, N);
    for (const t of [...cls, ...reg]) t.dispose();
    head.dispose();
  },
);

gpuTest(
  "RPNHead targets: MaxIoUAssigner + RandomSampler on the GPU choose what the CPU classes choose for the step's seed",
  async (gpu) => {
    const head = buildRpn();
    const N = 2, sizes: FeatmapSize[] = [[6, 7], [3, 4]];
    const set = head.getAnchors(sizes);
    const metas: ImgMeta[] = [0, 1].map(() => ({ img_shape: [48, 56, 3], pad_shape: [48, 56, 3] }));
    const gts = [
      Float32Array.of(4, 4, 30, 28, 20, 10, 50, 40, 0, 20, 16, 46),
      Float32Array.of(10, 8, 42, 40),
    ];
    head.samplingStep = 5;
    const t = head.getTargets(set, gts, metas, null, null);
    const [lw, labels, cnt] = await gpu.readMany([
      t.labelWeights.raw,
      t.labels.raw,
      t.counts.raw,
    ]) as [
      Float32Array,
      Int32Array,
      Uint32Array,
    ];
    const A = set.anchors.shape[0];
    const anchors = await set.anchors.toArray() as Float32Array;
    const assigner = head.assigner as unknown as MaxIoUAssigner;
    const sampler = head.sampler as unknown as RandomSampler;
    for (let n = 0; n < N; n++) {
      const a = assigner.assign({ bboxes: anchors, gtBboxes: gts[n] });
      const s = sampler.sample(a, {
        bboxes: anchors,
        gtBboxes: gts[n],
        seed: stepSeed(0, 5),
        image: n,
      });
      const want = new Float32Array(A);
      for (const j of [...s.posInds, ...s.negInds]) want[j] = 1;
      assert.deepEqual(Array.from(lw.subarray(n * A, (n + 1) * A)), Array.from(want), `image ${n}`);
      for (const j of s.posInds) assert.equal(labels[n * A + j], 0);
      assert.deepEqual([cnt[2 * n], cnt[2 * n + 1]], [s.posInds.length, s.negInds.length]);
      assert.equal(s.posInds.length + s.negInds.length, 32);
    }
    for (const x of Object.values(t)) x?.dispose?.();
    head.dispose();
  },
);

type RpnFixture = {
  in_channels: number;
  feat_channels: number;
  strides: number[];
  scales: number[];
  ratios: number[];
  num: number;
  pos_fraction: number;
  sampling_step: number;
  img_shape: number[];
  pad_shapes: number[][];
  params: Record<string, FixtureArray>;
  feats: FixtureArray[];
  gt_bboxes: FixtureArray[];
  cls_scores: FixtureArray[];
  bbox_preds: FixtureArray[];
  num_total_samples: number;
  loss_cls: number[];
  loss_bbox: number[];
  grad_cls_scores: FixtureArray[];
  grad_bbox_preds: FixtureArray[];
  grad_params: Record<string, FixtureArray>;
};

gpuTest(
  "RPNHead forward, loss and gradients equal the plain-PyTorch mmdetection v2.25 RPN (sampler's choice fed in), no readback",
  async (gpu) => {
    const fx = await loadFixture<RpnFixture>("models/rpn_head_loss.json");
    const head = buildRpn({
      in_channels: fx.in_channels,
      feat_channels: fx.feat_channels,
      anchor_generator: {
        type: "AnchorGenerator",
        scales: fx.scales,
        ratios: fx.ratios,
        strides: fx.strides,
      },
      train_cfg: {
        assigner: {
          type: "MaxIoUAssigner",
          pos_iou_thr: 0.7,
          neg_iou_thr: 0.3,
          min_pos_iou: 0.3,
          match_low_quality: true,
          ignore_iof_thr: -1,
        },
        sampler: {
          type: "RandomSampler",
          num: fx.num,
          pos_fraction: fx.pos_fraction,
          neg_pos_ub: -1,
          add_gt_as_proposals: false,
        },
        allowed_border: -1,
        pos_weight: -1,
      },
    });
    const sd: Record<string, { dtype: "f32"; shape: number[]; data: Float32Array<ArrayBuffer> }> =
      {};
    for (const [k, v] of Object.entries(fx.params)) {
      sd[k] = { dtype: "f32", shape: v.shape, data: Float32Array.from(v.data) };
    }
    head.loadStateDict(sd);
    head.setTrainIter(fx.sampling_step);
    const metas: ImgMeta[] = fx.pad_shapes.map((p, i) => ({
      img_shape: [...fx.img_shape, 3],
      pad_shape: [...p, 3],
      filename: `img${i}.jpg`,
    }));
    const before = gpu.stats().readbacks;
    const out = tidy(() => {
      const feats = fx.feats.map((a) => Tensor.from(a.data, a.shape));
      const [cls, reg] = head.forward(feats);
      const l = head.lossRpn(
        cls,
        reg,
        fx.gt_bboxes.map((b) => Float32Array.from(b.data)),
        metas,
      );
      backward([...l.loss_rpn_cls, ...l.loss_rpn_bbox].reduce((a, b) => F.add(a, b)));
      return { l, cls, reg };
    });
    assert.equal(gpu.stats().readbacks, before, "forward, loss and backward must not read back");
    for (let lv = 0; lv < fx.strides.length; lv++) {
      assertClose(await out.cls[lv].toArray(), fx.cls_scores[lv].data, { rtol: 1e-5, atol: 1e-6 });
      assertClose(await out.reg[lv].toArray(), fx.bbox_preds[lv].data, { rtol: 1e-5, atol: 1e-6 });
      assertClose(await out.l.loss_rpn_cls[lv].item(), fx.loss_cls[lv], {
        rtol: 1e-5,
        msg: `loss_rpn_cls level ${lv}`,
      });
      assertClose(await out.l.loss_rpn_bbox[lv].item(), fx.loss_bbox[lv], {
        rtol: 1e-5,
        msg: `loss_rpn_bbox level ${lv}`,
      });
    }
    for (const [name, p] of head.namedParameters()) {
      assertClose(await p.grad!.toArray(), fx.grad_params[name].data, {
        rtol: 1e-4,
        atol: 1e-7,
        msg: `grad ${name}`,
      });
    }
    for (const t of [...out.cls, ...out.reg, ...out.l.loss_rpn_cls, ...out.l.loss_rpn_bbox]) {
      t.dispose();
    }
    head.dispose();
  },
);
