/**
 * mmdetection v2.25's `ConvFCBBoxHead` in its `Shared2FCBBoxHead` form (the Faster R-CNN box
 * head): the pooled RoI features flattened, `num_shared_fcs` fully connected layers with ReLU
 * (`shared_fcs.i`), then `fc_cls` (softmax over `num_classes + 1`, background last) and `fc_reg`
 * (class-specific `4·num_classes` deltas, or 4 with `reg_class_agnostic`). The loss is
 * `BBoxHead.loss` on the GPU targets of `roiTargetsGpu`; `getBboxes` is `BBoxHead.get_bboxes`
 * (softmax, decode clipped to `img_shape`, optional rescale, `multiclass_nms`) on the CPU after one
 * readback.
 *
 * @module
 */
import * as F from "../../../autograd/functional.ts";
import { Tensor } from "../../../autograd/tensor.ts";
import { BBOX_CODERS } from "../../../core/registry.ts";
import type { DeltaXYWHBBoxCoder } from "../../../core/bbox/coders/delta_xywh_bbox_coder.ts";
import "../../../core/bbox/coders/delta_xywh_bbox_coder.ts";
import type { RoiTargetsGpu } from "../../../core/bbox/gpu_stages.ts";
import { multiclassNms } from "../../../core/post_processing/bbox_nms.ts";
import { normalInit, xavierInit } from "../../../nn/init.ts";
import { Linear } from "../../../nn/linear.ts";
import { Module, ModuleList } from "../../../nn/module.ts";
import { clsHits, expandRegTargets } from "../../../ops/roi_head.ts";
import type { TypedCfg } from "../../../utils/registry.ts";
import type { Loss } from "../../losses/utils.ts";
import { HEADS, LOSSES } from "../../registry.ts";
import "../../losses/mod.ts";

/** Config of `ConvFCBBoxHead` / `Shared2FCBBoxHead` (mmdetection keys). */
export interface ConvFCBBoxHeadCfg {
  /** Registry name. */
  type?: string;
  /** Only 0 is supported. */
  num_shared_convs?: number;
  /** Default 0 (`Shared2FCBBoxHead`: 2). */
  num_shared_fcs?: number;
  /** Only 0 is supported. */
  num_cls_convs?: number;
  /** Only 0 is supported. */
  num_cls_fcs?: number;
  /** Only 0 is supported. */
  num_reg_convs?: number;
  /** Only 0 is supported. */
  num_reg_fcs?: number;
  /** Accepted (no convs are built). */
  conv_out_channels?: number;
  /** Default 1024. */
  fc_out_channels?: number;
  /** Channels of the pooled features (default 256). */
  in_channels?: number;
  /** Side of the pooled features (default 7). */
  roi_feat_size?: number | [number, number];
  /** Object classes, without background (default 80). */
  num_classes?: number;
  /** Box coder (default DeltaXYWHBBoxCoder, stds 0.1, 0.1, 0.2, 0.2). */
  bbox_coder?: TypedCfg;
  /** One box for all classes (default false). */
  reg_class_agnostic?: boolean;
  /** Only false is supported. */
  reg_decoded_bbox?: boolean;
  /** Only false is supported. */
  with_avg_pool?: boolean;
  /** Default true. */
  with_cls?: boolean;
  /** Default true. */
  with_reg?: boolean;
  /** Default softmax `CrossEntropyLoss`. */
  loss_cls?: TypedCfg;
  /** Default `SmoothL1Loss` (beta 1); Faster R-CNN configs use `L1Loss`. */
  loss_bbox?: TypedCfg;
  /** Only null / `{type: "Conv"}` / `{type: "Linear"}` (accepted, unused). */
  conv_cfg?: unknown;
  /** Only null (no norm layers in the fcs). */
  norm_cfg?: unknown;
  /** mmdetection's init (accepted; the head applies mmdetection's defaults). */
  init_cfg?: unknown;
}

/** `test_cfg.rcnn` (mmdetection keys). */
export interface RcnnTestCfg {
  /** Default 0.05. */
  score_thr?: number;
  /** `{type: "nms", iou_threshold}` (default 0.5). */
  nms?: { type?: string; iou_threshold?: number; iou_thr?: number };
  /** Default 100. */
  max_per_img?: number;
}

/** Detections of one image (`[k, 5]` rows and `[k]` labels). */
export interface RoiDetections {
  /** `[k, 5]` `(x1, y1, x2, y2, score)`. */
  bboxes: Float32Array;
  /** `[k]` class indices. */
  labels: Int32Array;
}

function refuseNonZero(cfg: ConvFCBBoxHeadCfg, keys: (keyof ConvFCBBoxHeadCfg)[]): void {
  for (const k of keys) {
    const v = cfg[k] as number | undefined;
    if (v != null && v !== 0) {
      throw new RangeError(
        `Cannot build ${
          cfg.type ?? "ConvFCBBoxHead"
        }: ${k} ${v} is not supported: only fully connected shared layers (num_shared_fcs) are built; set ${k} to 0`,
      );
    }
  }
}

/**
 * The Faster R-CNN box head. State-dict keys are mmdetection's: `shared_fcs.0.weight`,
 * `fc_cls.weight`, `fc_reg.bias` (prefixed `roi_head.bbox_head.` in a detector).
 */
export class ConvFCBBoxHead extends Module {
  /** Object classes (background is `numClasses`). */
  readonly numClasses: number;
  /** Pooled channels. */
  readonly inChannels: number;
  /** `[h, w]` of the pooled features. */
  readonly roiFeatSize: [number, number];
  /** Width of the shared fcs. */
  readonly fcOutChannels: number;
  /** One box for all classes. */
  readonly regClassAgnostic: boolean;
  /** The shared fcs (child `shared_fcs`). */
  readonly sharedFcs: ModuleList<Linear>;
  /** `fc_cls`, or null without `with_cls`. */
  readonly fcCls: Linear | null;
  /** `fc_reg`, or null without `with_reg`. */
  readonly fcReg: Linear | null;
  /** The box coder. */
  readonly bboxCoder: DeltaXYWHBBoxCoder;
  /** `loss_cls`. */
  readonly lossCls: Loss;
  /** `loss_bbox`. */
  readonly lossBbox: Loss;

  /** Builds the layers and initialises them as mmdetection v2.25. */
  constructor(cfg: ConvFCBBoxHeadCfg) {
    super();
    refuseNonZero(cfg, [
      "num_shared_convs",
      "num_cls_convs",
      "num_cls_fcs",
      "num_reg_convs",
      "num_reg_fcs",
    ]);
    if (cfg.with_avg_pool || cfg.reg_decoded_bbox) {
      throw new RangeError(
        `Cannot build ${
          cfg.type ?? "ConvFCBBoxHead"
        }: with_avg_pool / reg_decoded_bbox are not supported: set them to false`,
      );
    }
    if (cfg.norm_cfg != null) {
      throw new RangeError(
        `Cannot build ${cfg.type ?? "ConvFCBBoxHead"}: norm_cfg is not supported: set it to null`,
      );
    }
    this.numClasses = cfg.num_classes ?? 80;
    this.inChannels = cfg.in_channels ?? 256;
    const rs = cfg.roi_feat_size ?? 7;
    this.roiFeatSize = typeof rs === "number" ? [rs, rs] : [rs[0], rs[1]];
    this.fcOutChannels = cfg.fc_out_channels ?? 1024;
    this.regClassAgnostic = cfg.reg_class_agnostic ?? false;
    const nShared = cfg.num_shared_fcs ?? 0;
    if (nShared < 1) {
      throw new RangeError(
        `Cannot build ${
          cfg.type ?? "ConvFCBBoxHead"
        }: num_shared_fcs ${nShared} is not supported: use at least 1 (Shared2FCBBoxHead: 2)`,
      );
    }
    this.sharedFcs = this.registerModule("shared_fcs", new ModuleList<Linear>());
    let last = this.inChannels * this.roiFeatSize[0] * this.roiFeatSize[1];
    for (let i = 0; i < nShared; i++) {
      this.sharedFcs.push(
        new Linear({ inFeatures: last, outFeatures: this.fcOutChannels, init: false }),
      );
      last = this.fcOutChannels;
    }
    this.fcCls = (cfg.with_cls ?? true)
      ? this.registerModule(
        "fc_cls",
        new Linear({ inFeatures: last, outFeatures: this.numClasses + 1, init: false }),
      )
      : null;
    const regOut = this.regClassAgnostic ? 4 : 4 * this.numClasses;
    this.fcReg = (cfg.with_reg ?? true)
      ? this.registerModule(
        "fc_reg",
        new Linear({ inFeatures: last, outFeatures: regOut, init: false }),
      )
      : null;
    this.bboxCoder = BBOX_CODERS.build(
      cfg.bbox_coder ?? {
        type: "DeltaXYWHBBoxCoder",
        clip_border: true,
        target_means: [0, 0, 0, 0],
        target_stds: [0.1, 0.1, 0.2, 0.2],
      },
    ) as DeltaXYWHBBoxCoder;
    this.lossCls = LOSSES.build(
      cfg.loss_cls ?? { type: "CrossEntropyLoss", use_sigmoid: false, loss_weight: 1.0 },
    ) as Loss;
    if ((this.lossCls as { useSigmoid?: boolean }).useSigmoid) {
      throw new RangeError(
        `Cannot build ${
          cfg.type ?? "ConvFCBBoxHead"
        }: loss_cls with use_sigmoid is not supported by the box head: use softmax CrossEntropyLoss`,
      );
    }
    this.lossBbox = LOSSES.build(
      cfg.loss_bbox ?? { type: "SmoothL1Loss", beta: 1.0, loss_weight: 1.0 },
    ) as Loss;
    this.initWeights();
  }

  /**
   * mmdetection v2.25: `fc_cls` Normal(std 0.01), `fc_reg` Normal(std 0.001), the shared fcs
   * Xavier (uniform); biases 0.
   */
  initWeights(): void {
    for (const fc of this.sharedFcs.items) xavierInit(fc, { distribution: "uniform" });
    if (this.fcCls) normalInit(this.fcCls, { std: 0.01 });
    if (this.fcReg) normalInit(this.fcReg, { std: 0.001 });
  }

  /** `[R, C, h, w]` pooled features → `[cls_score [R, C+1], bbox_pred [R, 4·C]]` (null when off). */
  forward(x: Tensor): [Tensor | null, Tensor | null] {
    let h = F.reshape(x, [x.shape[0], -1]);
    for (const fc of this.sharedFcs.items) h = F.relu(fc.forward(h));
    return [this.fcCls ? this.fcCls.forward(h) : null, this.fcReg ? this.fcReg.forward(h) : null];
  }

  /**
   * mmdetection v2.25 `BBoxHead.loss` on the padded GPU targets (padding rows have weight 0):
   * `loss_cls` averaged over `max(#(label_weights > 0), 1)`; `acc` (top-1, percent) over the
   * sampled RoIs; `loss_bbox` on each positive's class-specific deltas (picked by its label on
   * the GPU) summed over the number of sampled RoIs (`bbox_targets.size(0)`).
   */
  loss(
    clsScore: Tensor | null,
    bboxPred: Tensor | null,
    t: RoiTargetsGpu,
  ): Record<string, Tensor> {
    const losses: Record<string, Tensor> = {};
    // sampled rows: the batch index of the RoI is ≥ 0 (padding rows hold −1)
    const R = t.rois.shape[0];
    const sampled = F.greater(F.reshape(F.slice(t.rois, [0, 0], [R, 1]), [R]), F.full([], -0.5));
    const numSampled = F.sum(sampled);
    if (clsScore) {
      const avg = F.maximum(F.sum(F.greater(t.labelWeights, F.full([], 0))), F.full([], 1));
      losses.loss_cls = this.lossCls.forward(clsScore, t.labels, {
        weight: t.labelWeights,
        avgFactor: avg,
      });
      const hits = new Tensor(clsHits(clsScore.raw, t.labels.raw, t.labelWeights.raw));
      losses.acc = F.div(F.mulScalar(F.sum(hits), 100), F.maximum(numSampled, F.full([], 1)));
    }
    if (bboxPred) {
      let target = t.bboxTargets, weight = t.bboxWeights;
      if (!this.regClassAgnostic) {
        const e = expandRegTargets(
          t.labels.raw,
          t.bboxTargets.raw,
          t.bboxWeights.raw,
          this.numClasses,
        );
        target = new Tensor(e.targets);
        weight = new Tensor(e.weights);
      }
      losses.loss_bbox = this.lossBbox.forward(bboxPred, target, {
        weight,
        avgFactor: numSampled,
      });
    }
    return losses;
  }

  /**
   * mmdetection v2.25 `BBoxHead.get_bboxes` with `cfg=None` for one image on the CPU: softmax
   * scores `[n, C + 1]` and boxes `[n, 4·C]` (or `[n, 4]` class-agnostic) decoded from `rois`
   * `[n, 5]`, clipped to `imgShape` (`[h, w, …]`), not rescaled (what `aug_test_bboxes` merges).
   */
  decodeBboxes(
    rois: Float32Array,
    clsScore: Float32Array,
    bboxPred: Float32Array,
    imgShape: readonly number[] | null,
  ): { bboxes: Float32Array; scores: Float32Array } {
    const C = this.numClasses, n = rois.length / 5;
    const scores = new Float32Array(n * (C + 1));
    for (let i = 0; i < n; i++) {
      let m = -Infinity;
      for (let c = 0; c <= C; c++) m = Math.max(m, clsScore[i * (C + 1) + c]);
      let s = 0;
      for (let c = 0; c <= C; c++) {
        s += scores[i * (C + 1) + c] = Math.fround(Math.exp(clsScore[i * (C + 1) + c] - m));
      }
      for (let c = 0; c <= C; c++) scores[i * (C + 1) + c] /= s;
    }
    const boxes = new Float32Array(n * 4);
    for (let i = 0; i < n; i++) for (let c = 0; c < 4; c++) boxes[i * 4 + c] = rois[i * 5 + 1 + c];
    const bboxes = this.bboxCoder.decode(boxes, bboxPred, {
      maxShape: imgShape ? [imgShape[0], imgShape[1]] : null,
    });
    return { bboxes, scores };
  }

  /**
   * mmdetection v2.25 `multiclass_nms(score_thr, nms, max_per_img)` of `test_cfg.rcnn` on boxes
   * `[n, 4·C]` and scores `[n, C + 1]`.
   */
  nmsBboxes(bboxes: Float32Array, scores: Float32Array, cfg: RcnnTestCfg): RoiDetections {
    const nmsCfg = cfg.nms ?? {};
    if (nmsCfg.type != null && nmsCfg.type !== "nms") {
      throw new RangeError(
        `Cannot get RoI head boxes: test_cfg.rcnn.nms type "${nmsCfg.type}" is not supported: use "nms"`,
      );
    }
    const r = multiclassNms({ bboxes, scores }, {
      numClasses: this.numClasses,
      score_thr: cfg.score_thr ?? 0.05,
      nms: { type: "nms", iou_threshold: nmsCfg.iou_threshold ?? nmsCfg.iou_thr ?? 0.5 },
      max_num: cfg.max_per_img ?? 100,
    });
    return { bboxes: r.dets, labels: r.labels };
  }

  /**
   * mmdetection v2.25 `BBoxHead.get_bboxes` for one image on the CPU: softmax scores, boxes
   * decoded from `rois` `[n, 5]` clipped to `imgShape` (`[h, w, …]`), divided by `scaleFactor`
   * with `rescale`, then `multiclass_nms(score_thr, nms, max_per_img)`.
   */
  getBboxes(
    rois: Float32Array,
    clsScore: Float32Array,
    bboxPred: Float32Array,
    imgShape: readonly number[] | null,
    scaleFactor: number[] | number | undefined,
    rescale: boolean,
    cfg: RcnnTestCfg,
  ): RoiDetections {
    const { bboxes, scores } = this.decodeBboxes(rois, clsScore, bboxPred, imgShape);
    if (rescale && scaleFactor != null) {
      const sf = typeof scaleFactor === "number"
        ? [scaleFactor, scaleFactor, scaleFactor, scaleFactor]
        : scaleFactor.length === 2
        ? [scaleFactor[0], scaleFactor[1], scaleFactor[0], scaleFactor[1]]
        : scaleFactor;
      for (let i = 0; i < bboxes.length; i++) {
        bboxes[i] = Math.fround(bboxes[i] / Math.fround(sf[i % 4]));
      }
    }
    return this.nmsBboxes(bboxes, scores, cfg);
  }
}

/** `ConvFCBBoxHead` with `num_shared_fcs` 2 (mmdetection's default for Faster R-CNN). */
export class Shared2FCBBoxHead extends ConvFCBBoxHead {
  /** `ConvFCBBoxHead` with two shared fcs (`fc_out_channels` default 1024). */
  constructor(cfg: ConvFCBBoxHeadCfg) {
    super({
      ...cfg,
      num_shared_convs: 0,
      num_shared_fcs: 2,
      num_cls_convs: 0,
      num_cls_fcs: 0,
      num_reg_convs: 0,
      num_reg_fcs: 0,
    });
  }
}

HEADS.register("ConvFCBBoxHead", ConvFCBBoxHead);
HEADS.register("Shared2FCBBoxHead", Shared2FCBBoxHead);
