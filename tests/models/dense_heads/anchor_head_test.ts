import { assert, assertClose, type FixtureArray, loadFixture } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import { Rng } from "../../_reference/rng.ts";
import { focalLossRef } from "../../_reference/focal_loss_ref.ts";
import { giouLossRef } from "../../_reference/giou_ref.ts";
import { softmaxCrossEntropyRef } from "../../_reference/cross_entropy_ref.ts";
import * as F from "../../../lib/autograd/functional.ts";
import { backward } from "../../../lib/autograd/tape.ts";
import { Tensor, tidy } from "../../../lib/autograd/tensor.ts";
import { DeltaXYWHBBoxCoder } from "../../../lib/core/bbox/coders/delta_xywh_bbox_coder.ts";
import type { AnchorHead, AnchorHeadCfg } from "../../../lib/models/dense_heads/anchor_head.ts";
import "../../../lib/models/dense_heads/retina_head.ts";
import { HEADS } from "../../../lib/models/registry.ts";
import type { ImgMeta } from "../../../lib/models/detectors/base.ts";
import { rowsOf } from "./_get_bboxes_ref.ts";

type RetinaFixture = {
  num_classes: number;
  anchor_generator: Record<string, unknown> & { type: string };
  assigner: Record<string, unknown> & { type: string };
  img_shape: number[];
  pad_shapes: number[][];
  featmap_sizes: [number, number][];
  gt_bboxes: FixtureArray[];
  gt_labels: FixtureArray[];
  cls_scores: FixtureArray[];
  bbox_preds: FixtureArray[];
  num_total_pos: number;
  loss_cls: number[];
  loss_bbox: number[];
  grad_cls_scores: FixtureArray[];
  grad_bbox_preds: FixtureArray[];
};

function buildHead(
  fx: {
    num_classes: number;
    anchor_generator: AnchorHeadCfg["anchor_generator"];
    assigner: Record<string, unknown> & { type: string };
  },
  extra: Partial<AnchorHeadCfg> = {},
): AnchorHead {
  return HEADS.build({
    type: "AnchorHead",
    num_classes: fx.num_classes,
    in_channels: 4,
    anchor_generator: fx.anchor_generator,
    loss_cls: { type: "FocalLoss", use_sigmoid: true, gamma: 2.0, alpha: 0.25, loss_weight: 1.0 },
    loss_bbox: { type: "L1Loss", loss_weight: 1.0 },
    train_cfg: { assigner: fx.assigner, allowed_border: -1, pos_weight: -1 },
    ...extra,
  }) as AnchorHead;
}

const metasOf = (fx: RetinaFixture): ImgMeta[] =>
  fx.pad_shapes.map((p, i) => ({
    img_shape: [...fx.img_shape, 3],
    pad_shape: [...p, 3],
    filename: `img${i}.jpg`,
  }));

for (const name of ["retina_loss", "retina_loss_empty"]) {
  gpuTest(
    `AnchorHead.loss() equals the plain-PyTorch mmdetection loss (${name}): values, gradients, no readback`,
    async (gpu) => {
      const fx = await loadFixture<RetinaFixture>(`core/${name}.json`);
      const head = buildHead(fx);
      const before = gpu.stats().readbacks;
      const out = tidy(() => {
        const cls = fx.cls_scores.map((a) => Tensor.from(a.data, a.shape, { requiresGrad: true }));
        const reg = fx.bbox_preds.map((a) => Tensor.from(a.data, a.shape, { requiresGrad: true }));
        const losses = head.loss(
          cls,
          reg,
          fx.gt_bboxes.map((b) => Float32Array.from(b.data)),
          fx.gt_labels.map((b) => Int32Array.from(b.data)),
          metasOf(fx),
        );
        backward([...losses.loss_cls, ...losses.loss_bbox].reduce((a, b) => F.add(a, b)));
        return { losses, gc: cls.map((t) => t.grad!), gr: reg.map((t) => t.grad!) };
      });
      assert.equal(gpu.stats().readbacks, before, "loss() and backward() must not read back");
      assert.equal(out.losses.loss_cls.length, fx.featmap_sizes.length);
      for (let l = 0; l < fx.featmap_sizes.length; l++) {
        assertClose(await out.losses.loss_cls[l].item(), fx.loss_cls[l], {
          rtol: 1e-5,
          msg: `loss_cls level ${l}`,
        });
        assertClose(await out.losses.loss_bbox[l].item(), fx.loss_bbox[l], {
          rtol: 1e-5,
          msg: `loss_bbox level ${l}`,
        });
        assertClose(await out.gc[l].toArray(), fx.grad_cls_scores[l].data, {
          rtol: 1e-4,
          atol: 1e-8,
          msg: `grad cls level ${l}`,
        });
        assertClose(await out.gr[l].toArray(), fx.grad_bbox_preds[l].data, {
          rtol: 1e-4,
          atol: 1e-8,
          msg: `grad bbox level ${l}`,
        });
      }
      for (const t of [...out.losses.loss_cls, ...out.losses.loss_bbox, ...out.gc, ...out.gr]) {
        t.dispose();
      }
      head.dispose();
    },
  );
}

gpuTest(
  "AnchorHead.loss() drops degenerate gts with one warning naming the image and never gives NaN",
  async () => {
    const fx = await loadFixture<RetinaFixture>("core/retina_loss.json");
    const head = buildHead(fx);
    const warnings: string[] = [];
    head.warn = (m) => warnings.push(m);
    const gts = [
      Float32Array.of(2, 2, 22, 22, 5, 5, 5, 30, 10, 10, 4, 20),
      Float32Array.of(4, 4, 36, 20),
    ];
    const labels = [Int32Array.of(0, 1, 2), Int32Array.of(1)];
    const values = tidy(() => {
      const cls = fx.cls_scores.map((a) => Tensor.from(a.data, a.shape));
      const reg = fx.bbox_preds.map((a) => Tensor.from(a.data, a.shape));
      const l = head.loss(cls, reg, gts, labels, metasOf(fx));
      return [...l.loss_cls, ...l.loss_bbox];
    });
    const host = await Promise.all(values.map((t) => t.item()));
    assert.ok(host.every(Number.isFinite), `finite losses: ${host}`);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0], /Dropped 2 degenerate gt box\(es\) of image "img0\.jpg"/);
    assert.throws(
      () => tidy(() => head.loss(values.slice(0, 0), [], gts, labels, metasOf(fx))),
      /0 feature levels/,
    );
    assert.throws(() =>
      tidy(() => {
        const cls = fx.cls_scores.map((a) => Tensor.from(a.data, a.shape));
        const reg = fx.bbox_preds.map((a) => Tensor.from(a.data, a.shape));
        return head.loss(cls, reg, gts, [Int32Array.of(0, 1, 2), Int32Array.of(3)], metasOf(fx))
          .loss_cls;
      }), /image "img1\.jpg": gt label 3 is outside \[0, 3\)/);
    for (const t of values) t.dispose();
    head.dispose();
  },
);

/** Reads back everything a CPU re-computation of the per-level losses needs. */
async function targetsOf(
  head: AnchorHead,
  fx: RetinaFixture,
  gts: Float32Array[],
  labels: Int32Array[],
) {
  const set = head.getAnchors(fx.featmap_sizes);
  const t = head.getTargets(set, gts, metasOf(fx), null, labels);
  const [lab, lw, bt, bw] = await Promise.all([
    t.labels.toArray(),
    t.labelWeights.toArray(),
    t.bboxTargets.toArray(),
    t.bboxWeights.toArray(),
  ]);
  const numPos = await t.numTotalPos.item(), numNeg = await t.numTotalNeg.item();
  for (const x of Object.values(t)) x.dispose();
  return { set, lab, lw, bt, bw, numPos, numNeg };
}

gpuTest(
  "AnchorHead with reg_decoded_bbox and GIoULoss regresses decoded boxes (equals a CPU recomputation)",
  async () => {
    const fx = await loadFixture<RetinaFixture>("core/retina_loss.json");
    const head = buildHead(fx, {
      reg_decoded_bbox: true,
      loss_bbox: { type: "GIoULoss", loss_weight: 2.0 },
    });
    const gts = fx.gt_bboxes.map((b) => Float32Array.from(b.data)),
      labels = fx.gt_labels.map((b) => Int32Array.from(b.data));
    const tg = await targetsOf(head, fx, gts, labels);
    const coder = new DeltaXYWHBBoxCoder({});
    const N = 2, A = 6;
    const got = tidy(() => {
      const cls = fx.cls_scores.map((a) => Tensor.from(a.data, a.shape));
      const reg = fx.bbox_preds.map((a) => Tensor.from(a.data, a.shape));
      return head.loss(cls, reg, gts, labels, metasOf(fx)).loss_bbox;
    });
    const total = tg.set.numLevelAnchors.reduce((a, b) => a + b, 0);
    for (let l = 0; l < 2; l++) {
      const [H, W] = fx.featmap_sizes[l];
      let sum = 0;
      for (let n = 0; n < N; n++) {
        const chw = Float32Array.from(
          fx.bbox_preds[l].data.slice(n * A * 4 * H * W, (n + 1) * A * 4 * H * W),
        );
        const deltas = rowsOf(chw, A, 4, H, W);
        const dec = coder.decode(tg.set.hostAnchors[l], deltas);
        for (let j = 0; j < tg.set.numLevelAnchors[l]; j++) {
          const k = n * total + tg.set.levelStarts[l] + j;
          if (!tg.bw[4 * k]) continue;
          sum += giouLossRef(dec.subarray(4 * j, 4 * j + 4), tg.bt.subarray(4 * k, 4 * k + 4), 1e-6)
            .loss[0];
        }
      }
      assertClose(await got[l].item(), (2 * sum) / tg.numPos, {
        rtol: 1e-4,
        msg: `GIoU level ${l}`,
      });
    }
    for (const t of got) t.dispose();
    head.dispose();
  },
);

gpuTest(
  "AnchorHead with softmax CrossEntropyLoss samples with PseudoSampler and normalises by positives + negatives",
  async () => {
    const fx = await loadFixture<RetinaFixture>("core/retina_loss.json");
    const C = fx.num_classes, A = 6, N = 2;
    const head = buildHead(fx, {
      loss_cls: { type: "CrossEntropyLoss", use_sigmoid: false, loss_weight: 1.0 },
    });
    assert.equal(head.clsOutChannels, C + 1);
    assert.ok(head.sampling);
    const gts = fx.gt_bboxes.map((b) => Float32Array.from(b.data)),
      labels = fx.gt_labels.map((b) => Int32Array.from(b.data));
    const tg = await targetsOf(head, fx, gts, labels);
    const r = new Rng(6);
    const cls = fx.featmap_sizes.map(([h, w]) =>
      Float32Array.from({ length: N * A * (C + 1) * h * w }, () => r.uniform(-2, 2))
    );
    const got = tidy(() => {
      const c = cls.map((d, l) => Tensor.from(d, [N, A * (C + 1), ...fx.featmap_sizes[l]]));
      const reg = fx.bbox_preds.map((a) => Tensor.from(a.data, a.shape));
      return head.loss(c, reg, gts, labels, metasOf(fx)).loss_cls;
    });
    const total = tg.set.numLevelAnchors.reduce((a, b) => a + b, 0);
    for (let l = 0; l < 2; l++) {
      const [H, W] = fx.featmap_sizes[l];
      const logits: number[] = [], lab: number[] = [], wts: number[] = [];
      for (let n = 0; n < N; n++) {
        const per = (C + 1) * A * H * W;
        logits.push(...rowsOf(cls[l].subarray(n * per, (n + 1) * per), A, C + 1, H, W));
        for (let j = 0; j < tg.set.numLevelAnchors[l]; j++) {
          const k = n * total + tg.set.levelStarts[l] + j;
          lab.push(tg.lab[k]);
          wts.push(tg.lw[k]);
        }
      }
      const ref = softmaxCrossEntropyRef(logits, lab, {
        weights: wts,
        avgFactor: tg.numPos + tg.numNeg,
      });
      assertClose(await got[l].item(), ref.value as number, { rtol: 1e-5, msg: `CE level ${l}` });
    }
    for (const t of got) t.dispose();
    head.dispose();
  },
);

gpuTest(
  "AnchorHead rejects unsupported assigners, samplers and coders with errors naming them",
  () => {
    const base = {
      num_classes: 3,
      anchor_generator: { type: "AnchorGenerator", scales: [1], ratios: [1], strides: [8] },
      assigner: { type: "MaxIoUAssigner", pos_iou_thr: 0.5, neg_iou_thr: 0.4 },
    };
    assert.throws(
      () => buildHead({ ...base, assigner: { type: "ATSSAssigner", topk: 9 } }),
      /ATSSAssigner/,
    );
    assert.throws(() =>
      buildHead(base, {
        loss_cls: { type: "CrossEntropyLoss", use_sigmoid: true },
        train_cfg: { assigner: base.assigner, sampler: { type: "RandomSampler", num: 256 } },
      }), /RandomSampler: "pos_fraction" must lie in \[0, 1\]/);
    assert.throws(
      () => buildHead(base, { bbox_coder: { type: "TBLRBBoxCoder" } }),
      /TBLRBBoxCoder/,
    );
    assert.throws(
      () => buildHead({ ...base, num_classes: 0 }),
      /num_classes must be a positive integer/,
    );
    const head = buildHead(base, { train_cfg: null });
    assert.throws(
      () => head.getTargets(head.getAnchors([[2, 2]]), [], []),
      /built without train_cfg/,
    );
    head.dispose();
  },
);

gpuTest(
  "sigmoid focal loss of the head equals the reference on the fixture's own targets (cross-check of the level split)",
  async () => {
    const fx = await loadFixture<RetinaFixture>("core/retina_loss.json");
    const head = buildHead(fx);
    const gts = fx.gt_bboxes.map((b) => Float32Array.from(b.data)),
      labels = fx.gt_labels.map((b) => Int32Array.from(b.data));
    const tg = await targetsOf(head, fx, gts, labels);
    assert.equal(tg.numPos, fx.num_total_pos);
    const total = tg.set.numLevelAnchors.reduce((a, b) => a + b, 0);
    let sum = 0;
    for (let l = 0; l < 2; l++) {
      const [H, W] = fx.featmap_sizes[l];
      for (let n = 0; n < 2; n++) {
        const per = 6 * fx.num_classes * H * W;
        const rows = rowsOf(
          Float32Array.from(fx.cls_scores[l].data.slice(n * per, (n + 1) * per)),
          6,
          fx.num_classes,
          H,
          W,
        );
        const k0 = n * total + tg.set.levelStarts[l], m = tg.set.numLevelAnchors[l];
        sum += focalLossRef(rows, tg.lab.subarray(k0, k0 + m), {
          weights: tg.lw.subarray(k0, k0 + m),
          reduction: "sum",
        }).value as number;
      }
    }
    assertClose(sum / tg.numPos, fx.loss_cls[0] + fx.loss_cls[1], { rtol: 1e-5 });
    head.dispose();
  },
);
