/**
 * mmdetection's `SSDHead` (v2.25): per level one 3×3 conv to `A_l·(C+1)` softmax class scores and
 * one 3×3 conv to `A_l·4` deltas (`cls_convs.l.0`, `reg_convs.l.0`), with a different anchor count
 * per level (`SSDAnchorGenerator`: `[4, 6, 6, 6, 4, 4]` for SSD300). Targets are `AnchorHead`'s
 * composed GPU stages (the config's assigner and sampler, `PseudoSampler` by default). The loss is
 * softmax cross-entropy with online hard negative mining — per image all positives and the
 * `min(neg_pos_ratio · #pos, #neg)` negatives with the largest loss — plus smooth L1 with
 * `train_cfg.smoothl1_beta`, both divided by `num_total_pos`; the mining runs on the GPU
 * (`lib/ops/hard_negative.ts`) without readback.
 *
 * @module
 */
import { l1Loss, softmaxCrossEntropy } from "../../autograd/losses.ts";
import { Tensor } from "../../autograd/tensor.ts";
import type { FeatmapSize } from "../../core/anchor/anchor_generator.ts";
import { getGpu } from "../../gpu/runtime.ts";
import type { RawTensor } from "../../gpu/raw_tensor.ts";
import { Conv2d } from "../../nn/conv.ts";
import { xavierInit } from "../../nn/init.ts";
import { Sequential } from "../../nn/layers.ts";
import { ModuleList } from "../../nn/module.ts";
import { concat, slice } from "../../ops/copy.ts";
import { hardNegativeWeights } from "../../ops/hard_negative.ts";
import { softmaxCrossEntropy as ceRaw } from "../../ops/losses.ts";
import type { TypedCfg } from "../../utils/registry.ts";
import type { ImgMeta } from "../detectors/base.ts";
import { HEADS } from "../registry.ts";
import { AnchorHead, type AnchorHeadTestCfg, type HeadLosses } from "./anchor_head.ts";
import type { InferenceSettings } from "./anchor_head_inference.ts";
import { type AnchorHeadTrainCfg, targetsToLevels } from "./anchor_head_targets.ts";

/** `train_cfg` of `SSDHead` (mmdetection keys). */
export interface SSDHeadTrainCfg extends AnchorHeadTrainCfg {
  /** Negatives kept per positive by hard negative mining (an integer, SSD: 3). */
  neg_pos_ratio: number;
  /** Beta of the smooth L1 box loss (SSD: 1.0). */
  smoothl1_beta: number;
}

/** Config of `SSDHead`, with mmdetection v2.25's keys and defaults. */
export interface SSDHeadCfg {
  /** Registry name (`"SSDHead"`). */
  type?: string;
  /** Object classes, without background (default 80). */
  num_classes?: number;
  /** Channels of each input level (default `[512, 1024, 512, 256, 256, 256]`). */
  in_channels?: number[];
  /** Conv towers before the output convs: only 0 (SSD) is supported. */
  stacked_convs?: number;
  /** Tower channels (unused with `stacked_convs: 0`). */
  feat_channels?: number;
  /** SSD-Lite depthwise convs: not supported. */
  use_depthwise?: boolean;
  /** Tower conv config (unused with `stacked_convs: 0`). */
  conv_cfg?: unknown;
  /** Tower norm config (unused with `stacked_convs: 0`). */
  norm_cfg?: unknown;
  /** Tower activation config (unused with `stacked_convs: 0`). */
  act_cfg?: unknown;
  /** Default: SSD300's `SSDAnchorGenerator` with `basesize_ratio_range` `[0.1, 0.9]`. */
  anchor_generator?: TypedCfg;
  /** Default `DeltaXYWHBBoxCoder`, means 0, stds 1, `clip_border: true`. */
  bbox_coder?: TypedCfg;
  /** Regression on decoded boxes: not supported (SSD: false). */
  reg_decoded_bbox?: boolean;
  /** `assigner`, `sampler` (default `PseudoSampler`), `neg_pos_ratio`, `smoothl1_beta`, …. */
  train_cfg?: SSDHeadTrainCfg | null;
  /** `nms_pre`, `score_thr`, `nms`, `max_per_img`, `min_bbox_size` (unused), `topk_rule`. */
  test_cfg?: AnchorHeadTestCfg | null;
  /** Accepted and ignored: convs are xavier-uniform initialised, bias 0. */
  init_cfg?: unknown;
}

const SSD300_ANCHORS = {
  type: "SSDAnchorGenerator",
  scale_major: false,
  input_size: 300,
  strides: [8, 16, 32, 64, 100, 300],
  ratios: [[2], [2, 3], [2, 3], [2, 3], [2], [2]],
  basesize_ratio_range: [0.1, 0.9],
};

/**
 * The SSD head. `forward(feats)` → per level `[N, A_l·(C+1), H, W]` logits and `[N, A_l·4, H, W]`
 * deltas; `loss` as mmdetection's `SSDHead.loss`; `getBboxes` softmax scores (background column
 * dropped), top `nms_pre` per level, multi-class NMS (mmdet v2.25's rule, `topk_rule: "v2.18"`,
 * unless `test_cfg.topk_rule` says otherwise).
 */
export class SSDHead extends AnchorHead {
  /** Channels of each input level. */
  declare readonly levelInChannels: number[];
  /** Anchors per cell of each level. */
  declare readonly levelNumAnchors: number[];
  /** Per level `Sequential([Conv2d 3×3 → A_l·(C+1)])` (`cls_convs.l.0`). */
  declare clsConvs: ModuleList<Sequential>;
  /** Per level `Sequential([Conv2d 3×3 → A_l·4])` (`reg_convs.l.0`). */
  declare regConvs: ModuleList<Sequential>;

  /** Builds the head; throws `RangeError` for unsupported options. */
  constructor(cfg: SSDHeadCfg) {
    const refuse = (key: string, value: unknown, fix: string) => {
      throw new RangeError(`Cannot build SSDHead: ${key} ${JSON.stringify(value)}: ${fix}`);
    };
    const c = cfg as SSDHeadCfg & { loss_cls?: unknown; loss_bbox?: unknown };
    if (c.loss_cls !== undefined || c.loss_bbox !== undefined) {
      refuse(
        "loss_cls/loss_bbox",
        c.loss_cls ?? c.loss_bbox,
        "SSDHead has fixed losses (softmax CE with hard negative mining, smooth L1 with train_cfg.smoothl1_beta): remove the keys",
      );
    }
    if ((cfg.stacked_convs ?? 0) !== 0) {
      refuse("stacked_convs", cfg.stacked_convs, "only 0 (SSD) is supported");
    }
    if (cfg.use_depthwise) refuse("use_depthwise", true, "SSD-Lite is not supported: use false");
    if (cfg.reg_decoded_bbox) {
      refuse("reg_decoded_bbox", true, "regression on decoded boxes is not supported: use false");
    }
    const t = cfg.train_cfg ?? null;
    if (t) {
      for (const k of ["neg_pos_ratio", "smoothl1_beta"] as const) {
        if (typeof t[k] !== "number" || !(t[k] >= 0)) {
          refuse(`train_cfg.${k}`, t[k], "SSD needs a non-negative number (SSD300: 3 and 1.0)");
        }
      }
      if (!Number.isInteger(t.neg_pos_ratio)) {
        refuse("train_cfg.neg_pos_ratio", t.neg_pos_ratio, "must be an integer (top-k count)");
      }
    }
    const inChannels = cfg.in_channels ?? [512, 1024, 512, 256, 256, 256];
    super({
      num_classes: cfg.num_classes ?? 80,
      in_channels: inChannels as unknown as number,
      feat_channels: cfg.feat_channels ?? 256,
      anchor_generator: cfg.anchor_generator ?? SSD300_ANCHORS,
      bbox_coder: cfg.bbox_coder ?? {
        type: "DeltaXYWHBBoxCoder",
        clip_border: true,
        target_means: [0, 0, 0, 0],
        target_stds: [1, 1, 1, 1],
      },
      reg_decoded_bbox: false,
      loss_cls: { type: "CrossEntropyLoss", use_sigmoid: false, loss_weight: 1.0 },
      loss_bbox: { type: "SmoothL1Loss", beta: t?.smoothl1_beta ?? 1.0, loss_weight: 1.0 },
      train_cfg: t,
      test_cfg: cfg.test_cfg ?? null,
    });
  }

  /** One `cls_convs.l.0` and `reg_convs.l.0` per level. */
  override initLayers(): void {
    const inC = this.inChannels as unknown as number[];
    const nA = this.anchorGenerator.numBaseAnchors;
    if (!Array.isArray(inC) || inC.length !== nA.length) {
      throw new RangeError(
        `Cannot build SSDHead: in_channels ${
          JSON.stringify(inC)
        } needs one entry per anchor level (${nA.length})`,
      );
    }
    Object.assign(this, { levelInChannels: [...inC], levelNumAnchors: [...nA] });
    Object.assign(this, { inChannels: inC[0] });
    this.clsConvs = this.registerModule("cls_convs", new ModuleList<Sequential>());
    this.regConvs = this.registerModule("reg_convs", new ModuleList<Sequential>());
    inC.forEach((ch, l) => {
      const conv = (out: number) =>
        new Conv2d({ inChannels: ch, outChannels: out, kernelSize: 3, padding: 1, init: false });
      this.clsConvs.push(new Sequential([conv(nA[l] * this.clsOutChannels)]));
      this.regConvs.push(new Sequential([conv(nA[l] * 4)]));
    });
  }

  /** mmdet's `init_cfg`: xavier-uniform convs, bias 0. */
  override initWeights(): void {
    for (const s of [...this.clsConvs.items, ...this.regConvs.items]) {
      for (const m of s.items) xavierInit(m as Conv2d, { distribution: "uniform", bias: 0 });
    }
  }

  /** Per level its own convs: `[cls [N, A_l·(C+1), H, W]], [reg [N, A_l·4, H, W]]`. */
  override forward(feats: Tensor[]): [Tensor[], Tensor[]] {
    if (feats.length !== this.clsConvs.length) {
      throw new TypeError(
        `Cannot apply SSDHead: ${feats.length} feature levels for ${this.clsConvs.length} levels of convs`,
      );
    }
    return [
      feats.map((x, l) => this.clsConvs.items[l].forward(x)),
      feats.map((x, l) => this.regConvs.items[l].forward(x)),
    ];
  }

  /** Not used: `forward` applies each level's own convs. */
  override forwardSingle(_x: Tensor): [Tensor, Tensor] {
    throw new TypeError("SSDHead has per-level convs: call forward(feats) with every level");
  }

  /**
   * mmdetection's `SSDHead.loss`: `{loss_cls, loss_bbox}`, one `[]` tensor per level (their sums
   * are mmdet's per-image sums), normalised by `num_total_pos`. No readback.
   */
  override loss(
    clsScores: Tensor[],
    bboxPreds: Tensor[],
    gtBboxes: readonly Float32Array[],
    gtLabels: readonly Int32Array[] | null,
    imgMetas: readonly ImgMeta[],
    gtBboxesIgnore: readonly (Float32Array | null)[] | null = null,
  ): HeadLosses {
    const t = this.trainCfg as SSDHeadTrainCfg | null;
    if (!t) {
      throw new ReferenceError("Cannot compute losses: SSDHead was built without train_cfg");
    }
    const featmapSizes = clsScores.map((s) => [s.shape[2], s.shape[3]] as FeatmapSize);
    if (featmapSizes.length !== this.anchorGenerator.numLevels) {
      throw new TypeError(
        `Cannot compute losses: ${featmapSizes.length} feature levels, but the anchor generator has ${this.anchorGenerator.numLevels}`,
      );
    }
    const set = this.getAnchors(featmapSizes);
    const tg = this.getTargets(set, gtBboxes, imgMetas, gtBboxesIgnore, gtLabels);
    const levels = targetsToLevels(tg, set);
    const mined = this.hardNegativeWeights(clsScores, tg.labels, tg.labelWeights, levels);
    const gpu = getGpu();
    const N = tg.labels.shape[0];
    const loss_cls: Tensor[] = [], loss_bbox: Tensor[] = [];
    levels.forEach((lt, l) => {
      const s = set.levelStarts[l], n = set.numLevelAnchors[l], M = N * n;
      const w = slice(mined, [0, s], [N, s + n]);
      loss_cls.push(
        softmaxCrossEntropy(clsScores[l], new Tensor(gpu.view(lt.labels.raw, [M])), {
          weight: new Tensor(gpu.view(w, [M])),
          avgFactor: tg.numTotalPos,
        }),
      );
      w.release();
      loss_bbox.push(
        l1Loss(
          bboxPreds[l],
          new Tensor(gpu.view(lt.bboxTargets.raw, [M, 4])),
          {
            weight: new Tensor(gpu.view(lt.bboxWeights.raw, [M, 4])),
            beta: t.smoothl1_beta,
            avgFactor: tg.numTotalPos,
            avgEps: true,
          },
        ),
      );
    });
    mined.release();
    return { loss_cls, loss_bbox };
  }

  /**
   * The hard-negative-mining weights `[N, A]` (label weight for positives and the kept negatives,
   * 0 elsewhere) of a batch, from the predictions without gradients.
   */
  hardNegativeWeights(
    clsScores: Tensor[],
    labels: Tensor,
    labelWeights: Tensor,
    levels: { labels: Tensor }[],
  ): RawTensor {
    const gpu = getGpu();
    const N = labels.shape[0];
    const parts = clsScores.map((c, l) => {
      const lab = levels[l].labels;
      const r = ceRaw(c.raw, gpu.view(lab.raw, [lab.size]), {
        reduction: "none",
        wantGrad: false,
      });
      const v = gpu.view(r.loss, [N, lab.size / N]);
      r.loss.release();
      return v;
    });
    const ce = parts.length === 1 ? parts[0] : concat(parts, 1);
    if (parts.length > 1) { for (const p of parts) p.release(); }
    const r = hardNegativeWeights(ce, labels.raw, labelWeights.raw, {
      numClasses: this.numClasses,
      negPosRatio: (this.trainCfg as SSDHeadTrainCfg).neg_pos_ratio,
    });
    ce.release();
    r.stats.release();
    return r.weights;
  }

  /** `AnchorHead`'s test settings with per-level anchor counts; default top-k rule `"v2.18"`. */
  override inferenceSettings(cfg?: AnchorHeadTestCfg | null): InferenceSettings {
    const c = cfg ?? this.testCfg ?? {};
    const s = super.inferenceSettings({ ...c, topk_rule: c.topk_rule ?? "v2.18" });
    return { ...s, levelNumAnchors: [...this.levelNumAnchors] };
  }
}

HEADS.register("SSDHead", SSDHead);
