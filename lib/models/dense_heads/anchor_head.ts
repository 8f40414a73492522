/**
 * mmdetection v2's `AnchorHead`: the template of anchor-based dense heads. It owns the anchors,
 * the targets (`anchor_head_targets.ts`, on the GPU for the whole batch), the losses and the
 * test-time decoding + NMS (`anchor_head_inference.ts`). Subclasses such as `RetinaHead` override
 * only `initLayers`, `initWeights` and `forwardSingle`.
 *
 * @module
 */
import * as F from "../../autograd/functional.ts";
import { noGrad } from "../../autograd/tape.ts";
import { type Tensor, tidy } from "../../autograd/tensor.ts";
import { ANCHOR_GENERATORS, BBOX_ASSIGNERS, BBOX_CODERS, BBOX_SAMPLERS } from "../../core/mod.ts";
import type { AnchorGenerator, FeatmapSize } from "../../core/anchor/anchor_generator.ts";
import {
  DeltaXYWHBBoxCoder,
  LegacyDeltaXYWHBBoxCoder,
} from "../../core/bbox/coders/delta_xywh_bbox_coder.ts";
import type { GpuAssigner, GpuSampler } from "../../core/bbox/gpu_stages.ts";
import { stepSeed } from "../../core/bbox/samplers/random_sampler.ts";
import { multiApply } from "../../core/utils/misc.ts";
import { Conv2d } from "../../nn/conv.ts";
import { normalInit } from "../../nn/init.ts";
import { Module } from "../../nn/module.ts";
import type { TypedCfg } from "../../utils/registry.ts";
import type { ImgMeta } from "../detectors/base.ts";
import type { HeadDetections } from "../detectors/single_stage.ts";
import "../losses/mod.ts";
import type { Loss } from "../losses/utils.ts";
import { HEADS, LOSSES } from "../registry.ts";
import {
  AnchorCache,
  type AnchorHeadTrainCfg,
  type AnchorSet,
  type BatchTargets,
  decodeDeltasDifferentiable,
  fusedTargetsApply,
  getTargetsGpu,
  type LevelTargets,
  targetSettingsOf,
  targetsToLevels,
} from "./anchor_head_targets.ts";
import {
  type AnchorHeadTestCfg,
  augTestGpu,
  getBboxesGpu,
  type InferenceSettings,
  inferenceSettingsOf,
} from "./anchor_head_inference.ts";

export type { AnchorHeadTestCfg } from "./anchor_head_inference.ts";
export type { AnchorHeadTrainCfg } from "./anchor_head_targets.ts";

/** Config of `AnchorHead`, with mmdetection's keys and defaults. */
export interface AnchorHeadCfg {
  /** Registry name (e.g. `"AnchorHead"`, `"RetinaHead"`). */
  type?: string;
  /** Number of object classes, without background. */
  num_classes: number;
  /** Channels of every input feature level. */
  in_channels: number;
  /** Channels of hidden convs in subclasses (default 256). */
  feat_channels?: number;
  /**
   * Anchor generator config (default `AnchorGenerator`, scales `[8, 16, 32]`, ratios `[0.5, 1, 2]`,
   * strides `[4, 8, 16, 32, 64]`).
   */
  anchor_generator?: TypedCfg;
  /**
   * Box coder config: `DeltaXYWHBBoxCoder` (default, `clip_border: true`; `add_ctr_clamp` and
   * `ctr_clamp` honoured) or `LegacyDeltaXYWHBBoxCoder`, for training targets and for test-time
   * decoding on the GPU.
   */
  bbox_coder?: TypedCfg;
  /**
   * Apply the regression loss to decoded `xyxy` boxes instead of deltas (IoU-style losses; default
   * false).
   */
  reg_decoded_bbox?: boolean;
  /**
   * Classification loss config (default sigmoid `CrossEntropyLoss`); a focal loss disables
   * sampling.
   */
  loss_cls?: TypedCfg;
  /** Regression loss config (default `SmoothL1Loss`, beta 1/9). */
  loss_bbox?: TypedCfg;
  /**
   * Training config (`assigner`, `sampler`, `allowed_border`, `pos_weight`); required for `loss`.
   */
  train_cfg?: AnchorHeadTrainCfg | null;
  /** Test config (`nms_pre`, `score_thr`, `nms`, `max_per_img`); required for `getBboxes`. */
  test_cfg?: AnchorHeadTestCfg | null;
  /** Accepted and ignored: weights are initialised by `initWeights`. */
  init_cfg?: unknown;
}

/** The loss dict of a dense head: one scalar per level. */
export interface HeadLosses {
  /** Classification loss of each level, scalar tensors. */
  loss_cls: Tensor[];
  /** Regression loss of each level, scalar tensors. */
  loss_bbox: Tensor[];
  /** Further per-level losses of subclasses. */
  [key: string]: Tensor[];
}

/** Options of `getBboxes` / `simpleTest` / `augTest`. */
export interface GetBboxesOptions {
  /** Boxes in original-image pixels (divided by `scale_factor`). Default false. */
  rescale?: boolean;
  /** Overrides `test_cfg`. */
  cfg?: AnchorHeadTestCfg | null;
}

/**
 * mmdetection's `AnchorHead` (1×1 `conv_cls` / `conv_reg` on every level; subclasses replace
 * them). Per level the head outputs `cls_score` `[N, A·C, H, W]` and `bbox_pred` `[N, A·4, H, W]`
 * (NCHW f32; channel `a·C + c` and `a·4 + k`).
 *
 * @example
 * ```ts ignore
 * const head = HEADS.build({ type: "RetinaHead", num_classes: 80, in_channels: 256, ...cfg });
 * const [clsScores, bboxPreds] = head.forward(feats);
 * const { loss_cls, loss_bbox } = head.loss(clsScores, bboxPreds, gtBboxes, gtLabels, imgMetas);
 * const dets = await head.getBboxes(clsScores, bboxPreds, imgMetas, { rescale: true });
 * ```
 */
export class AnchorHead extends Module {
  /** Number of object classes, without background. */
  readonly numClasses: number;
  /** Channels of every input feature level. */
  readonly inChannels: number;
  /** Channels of hidden convs in subclasses. */
  readonly featChannels: number;
  /**
   * Whether classification uses per-class sigmoids (`loss_cls.use_sigmoid`) rather than softmax.
   */
  readonly useSigmoidCls: boolean;
  /**
   * Whether a sampler is used: false for focal-style losses (`FocalLoss`, `GHMC`,
   * `QualityFocalLoss`).
   */
  readonly sampling: boolean;
  /**
   * Classification channels per anchor: `numClasses` with sigmoid, `numClasses + 1` with softmax.
   */
  readonly clsOutChannels: number;
  /** Whether the regression loss takes decoded `xyxy` boxes instead of deltas. */
  readonly regDecodedBbox: boolean;
  /** Generates the per-level anchors. */
  readonly anchorGenerator: AnchorGenerator;
  /** Encodes gt boxes to deltas and decodes predictions (`xyxy`, absolute pixels). */
  readonly bboxCoder: DeltaXYWHBBoxCoder;
  /** Anchors per location (A), taken from the first level. */
  readonly numAnchors: number;
  /** Classification loss module. */
  readonly lossCls: Loss;
  /** Regression loss module. */
  readonly lossBbox: Loss;
  /** Training config, or null (test-only head). */
  readonly trainCfg: AnchorHeadTrainCfg | null;
  /** Test config, or null. */
  readonly testCfg: AnchorHeadTestCfg | null;
  /** The assigner built from `train_cfg.assigner`, or null without a train config. */
  readonly assigner:
    | (GpuAssigner & { ignoreIofThr?: number; ignoreWrtCandidates?: boolean })
    | null = null;
  /**
   * The sampler: `train_cfg.sampler` when sampling, else (focal-style losses, or no sampler key)
   * `PseudoSampler`, as mmdetection; null without a train config.
   */
  readonly sampler: GpuSampler | null = null;
  /**
   * Use the fused MaxIoU + Pseudo + DeltaXYWH target kernel when the strategies are exactly those
   * (identical targets; see `deno task bench targets`). Default false: the composed stages.
   */
  fusedTargets = false;
  /**
   * The sampling step: the random samplers' seed of a step is `stepSeed(samplerSeed, step)`.
   * `setTrainIter` sets it from the runner's iteration (so a resumed run draws as the original);
   * otherwise it counts `getTargets` calls.
   */
  samplingStep = 0;
  /** Base seed of the random samplers (default 0). */
  samplerSeed = 0;
  /** The config the head was built from (subclasses read their own keys in `initLayers`). */
  protected readonly cfg: AnchorHeadCfg;
  /** Called with the one-per-image warning about dropped degenerate gts (default `console.warn`). */
  warn: (message: string) => void = (m) => console.warn(m);
  #anchors = new AnchorCache();

  /**
   * Builds the head from `cfg`, then calls `initLayers` and `initWeights`; throws `RangeError` for
   * unsupported coders, assigners or samplers.
   */
  constructor(cfg: AnchorHeadCfg) {
    super();
    if (!Number.isInteger(cfg?.num_classes) || cfg.num_classes <= 0) {
      throw new RangeError(
        `Cannot build ${new.target.name}: num_classes must be a positive integer, got ${
          JSON.stringify(cfg?.num_classes)
        }`,
      );
    }
    this.cfg = cfg;
    this.numClasses = cfg.num_classes;
    this.inChannels = cfg.in_channels;
    this.featChannels = cfg.feat_channels ?? 256;
    const lossCls = cfg.loss_cls ??
      { type: "CrossEntropyLoss", use_sigmoid: true, loss_weight: 1.0 };
    this.useSigmoidCls = (lossCls.use_sigmoid as boolean | undefined) ?? false;
    this.sampling = !["FocalLoss", "GHMC", "QualityFocalLoss"].includes(lossCls.type);
    this.clsOutChannels = this.useSigmoidCls ? this.numClasses : this.numClasses + 1;
    this.regDecodedBbox = cfg.reg_decoded_bbox ?? false;
    this.anchorGenerator = ANCHOR_GENERATORS.build(
      cfg.anchor_generator ??
        {
          type: "AnchorGenerator",
          scales: [8, 16, 32],
          ratios: [0.5, 1.0, 2.0],
          strides: [4, 8, 16, 32, 64],
        },
    );
    const coder = BBOX_CODERS.build(
      cfg.bbox_coder ?? { type: "DeltaXYWHBBoxCoder", clip_border: true },
    );
    if (!(coder instanceof DeltaXYWHBBoxCoder)) {
      throw new RangeError(
        `Cannot build ${new.target.name}: bbox_coder must be "DeltaXYWHBBoxCoder" or "LegacyDeltaXYWHBBoxCoder", got ${
          JSON.stringify(cfg.bbox_coder)
        }`,
      );
    }
    if (
      (cfg.reg_decoded_bbox ?? false) &&
      (coder instanceof LegacyDeltaXYWHBBoxCoder || coder.addCtrClamp)
    ) {
      throw new RangeError(
        `Cannot build ${new.target.name}: reg_decoded_bbox decodes with DeltaXYWHBBoxCoder without add_ctr_clamp, got ${
          JSON.stringify(cfg.bbox_coder)
        }`,
      );
    }
    this.bboxCoder = coder;
    this.numAnchors = this.anchorGenerator.numBaseAnchors[0];
    this.lossCls = LOSSES.build(lossCls) as Loss;
    this.lossBbox = LOSSES.build(
      cfg.loss_bbox ?? { type: "SmoothL1Loss", beta: 1.0 / 9.0, loss_weight: 1.0 },
    ) as Loss;
    this.trainCfg = cfg.train_cfg ?? null;
    this.testCfg = cfg.test_cfg ?? null;
    if (this.trainCfg) {
      const a = this.trainCfg.assigner;
      const assigner = BBOX_ASSIGNERS.build(a) as unknown as GpuAssigner;
      if (typeof assigner.assignGpu !== "function") {
        throw new RangeError(
          `Cannot build ${new.target.name}: train_cfg.assigner "${a?.type}" has no GPU stage: use "MaxIoUAssigner"`,
        );
      }
      this.assigner = assigner;
      const sc = this.sampling && this.trainCfg.sampler
        ? this.trainCfg.sampler
        : { type: "PseudoSampler" };
      const sampler = BBOX_SAMPLERS.build(sc) as unknown as GpuSampler;
      if (typeof sampler.sampleGpu !== "function") {
        throw new RangeError(
          `Cannot build ${new.target.name}: train_cfg.sampler "${sc.type}" has no GPU stage: use "PseudoSampler" or "RandomSampler"`,
        );
      }
      this.sampler = sampler;
    }
    this.initLayers();
    this.initWeights();
  }

  /** `conv_cls` and `conv_reg` (1×1). */
  initLayers(): void {
    this.registerModule(
      "conv_cls",
      new Conv2d({
        inChannels: this.inChannels,
        outChannels: this.numAnchors * this.clsOutChannels,
        kernelSize: 1,
      }),
    );
    this.registerModule(
      "conv_reg",
      new Conv2d({ inChannels: this.inChannels, outChannels: this.numAnchors * 4, kernelSize: 1 }),
    );
  }

  /** mmdetection v2.11: `normal_init(std=0.01)` on both convs. */
  initWeights(): void {
    for (const [name, m] of this.children()) {
      if (name === "conv_cls" || name === "conv_reg") normalInit(m as Conv2d, { std: 0.01 });
    }
  }

  /** The child module registered as `name`. */
  protected child<M extends Module>(name: string): M {
    const m = this.children().find(([n]) => n === name);
    if (!m) throw new ReferenceError(`Cannot find module "${name}" on ${this.constructor.name}`);
    return m[1] as M;
  }

  /** One level: `x` `[N, in_channels, H, W]` → `[cls_score [N, A·C, H, W], bbox_pred [N, A·4, H, W]]`. */
  forwardSingle(x: Tensor): [Tensor, Tensor] {
    return [this.child<Conv2d>("conv_cls").forward(x), this.child<Conv2d>("conv_reg").forward(x)];
  }

  /** All levels (weights shared): `[clsScores, bboxPreds]`, one tensor per level. */
  forward(feats: Tensor[]): [Tensor[], Tensor[]] {
    return multiApply((x: Tensor) => this.forwardSingle(x), feats) as [Tensor[], Tensor[]];
  }

  /**
   * The anchors of `featmapSizes` (cached on the GPU) — mmdetection's `get_anchors`, with every
   * image sharing one anchor tensor; per-image valid flags are computed in `getTargets`.
   */
  getAnchors(featmapSizes: FeatmapSize[]): AnchorSet {
    return this.#anchors.get(this.anchorGenerator, featmapSizes);
  }

  /** Targets of every anchor of every image (spec §2.5–§2.6), on the GPU. */
  getTargets(
    set: AnchorSet,
    gtBboxes: readonly Float32Array[],
    imgMetas: readonly ImgMeta[],
    gtBboxesIgnore: readonly (Float32Array | null)[] | null = null,
    gtLabels: readonly Int32Array[] | null = null,
  ): BatchTargets {
    const a = this.assigner, t = this.trainCfg, sampler = this.sampler;
    if (!a || !t || !sampler) {
      throw new ReferenceError(
        `Cannot compute targets: ${this.constructor.name} was built without train_cfg`,
      );
    }
    const strategies = { assigner: a, sampler, coder: this.bboxCoder };
    const st = {
      ...strategies,
      fused: this.fusedTargets && fusedTargetsApply(strategies),
      seed: stepSeed(this.samplerSeed, this.samplingStep++),
    };
    return getTargetsGpu(
      set,
      this.anchorGenerator,
      { gtBboxes, gtLabels, imgMetas, gtBboxesIgnore },
      targetSettingsOf(this, a, t),
      this.warn,
      st,
    );
  }

  /**
   * Sets the sampling step from the runner's iteration (`iter`, completed iterations), so that the
   * random draws of a step depend only on the seed and the iteration (identical on resume).
   */
  setTrainIter(iter: number): void {
    this.samplingStep = iter;
  }

  /**
   * Losses of one level. Predictions stay in their conv layout: the fused loss kernels read rows in
   * mmdetection's `permute(0, 2, 3, 1).reshape(-1, C)` order (spec §2.8), which lines up with the
   * targets' `(y·W + x)·A + a` order.
   *
   * @param anchors `[A_l, 4]` level anchors (used with `reg_decoded_bbox`).
   * @param numTotalSamples `[]` f32 GPU scalar (`num_total_pos`, or + `num_total_neg` when sampling).
   */
  lossSingle(
    clsScore: Tensor,
    bboxPred: Tensor,
    anchors: Tensor,
    t: LevelTargets,
    numTotalSamples: Tensor,
  ): [Tensor, Tensor] {
    const M = t.labels.size;
    const lossCls = this.lossCls.forward(clsScore, F.reshape(t.labels, [M]), {
      weight: F.reshape(t.labelWeights, [M]),
      avgFactor: numTotalSamples,
    });
    const bboxTargets = F.reshape(t.bboxTargets, [M, 4]),
      bboxWeights = F.reshape(t.bboxWeights, [M, 4]);
    let pred = bboxPred;
    if (this.regDecodedBbox) {
      const N = bboxPred.shape[0];
      const deltas = F.reshape(F.permute(bboxPred, [0, 2, 3, 1]), [M, 4]);
      const rep = F.reshape(
        F.broadcastTo(F.reshape(anchors, [1, anchors.shape[0], 4]), [N, anchors.shape[0], 4]),
        [M, 4],
      );
      pred = decodeDeltasDifferentiable(rep, deltas, this.bboxCoder);
    }
    const lossBbox = this.lossBbox.forward(pred, bboxTargets, {
      weight: bboxWeights,
      avgFactor: numTotalSamples,
    });
    return [lossCls, lossBbox];
  }

  /**
   * Losses of a batch: `{loss_cls, loss_bbox}`, each one `[]` tensor per level, normalised by the
   * batch's `num_total_pos` (a GPU scalar). No readback happens here.
   *
   * @param gtBboxes per image `[k, 4]` xyxy (padded-input pixels); degenerate boxes are dropped
   *   with a warning naming the image.
   * @param gtLabels per image `[k]` in `[0, num_classes)`.
   */
  loss(
    clsScores: Tensor[],
    bboxPreds: Tensor[],
    gtBboxes: readonly Float32Array[],
    gtLabels: readonly Int32Array[] | null,
    imgMetas: readonly ImgMeta[],
    gtBboxesIgnore: readonly (Float32Array | null)[] | null = null,
  ): HeadLosses {
    const featmapSizes = clsScores.map((s) => [s.shape[2], s.shape[3]] as FeatmapSize);
    if (featmapSizes.length !== this.anchorGenerator.numLevels) {
      throw new TypeError(
        `Cannot compute losses: ${featmapSizes.length} feature levels, but the anchor generator has ${this.anchorGenerator.numLevels}`,
      );
    }
    const set = this.getAnchors(featmapSizes);
    const t = this.getTargets(set, gtBboxes, imgMetas, gtBboxesIgnore, gtLabels);
    const numTotalSamples = this.sampling ? F.add(t.numTotalPos, t.numTotalNeg) : t.numTotalPos;
    const levels = targetsToLevels(t, set);
    const loss_cls: Tensor[] = [], loss_bbox: Tensor[] = [];
    levels.forEach((lt, l) => {
      const anchors = this.regDecodedBbox
        ? F.slice(set.anchors, [set.levelStarts[l], 0], [
          set.levelStarts[l] + set.numLevelAnchors[l],
          4,
        ])
        : set.anchors;
      const [c, b] = this.lossSingle(clsScores[l], bboxPreds[l], anchors, lt, numTotalSamples);
      loss_cls.push(c);
      loss_bbox.push(b);
    });
    return { loss_cls, loss_bbox };
  }

  /** `forward` then `loss` (mmdetection's `forward_train` of dense heads). */
  forwardTrain(
    x: Tensor[],
    imgMetas: ImgMeta[],
    gtBboxes: Float32Array[],
    gtLabels: Int32Array[] | null,
    gtBboxesIgnore: (Float32Array | null)[] | null = null,
  ): HeadLosses {
    const [clsScores, bboxPreds] = this.forward(x);
    return this.loss(clsScores, bboxPreds, gtBboxes, gtLabels, imgMetas, gtBboxesIgnore);
  }

  /** Test settings from `cfg` or `test_cfg`. */
  inferenceSettings(cfg?: AnchorHeadTestCfg | null): InferenceSettings {
    return inferenceSettingsOf(this, cfg ?? this.testCfg ?? {});
  }

  /**
   * Detections per image (spec §2.10) — decoding, top-k and class-wise bitmask NMS on the GPU, one
   * readback of candidate counts and one of the results.
   *
   * @returns per image `bboxes` `[k, 5]` rows `[x1, y1, x2, y2, score]` (score-descending) and `labels` `[k]`.
   */
  getBboxes(
    clsScores: Tensor[],
    bboxPreds: Tensor[],
    imgMetas: readonly ImgMeta[],
    opts: GetBboxesOptions = {},
  ): Promise<HeadDetections[]> {
    const set = this.getAnchors(clsScores.map((s) => [s.shape[2], s.shape[3]] as FeatmapSize));
    return getBboxesGpu(clsScores, bboxPreds, set, imgMetas, this.inferenceSettings(opts.cfg), {
      rescale: opts.rescale ?? false,
    });
  }

  /** `forward` (without the tape) then `getBboxes`. */
  async simpleTest(
    feats: Tensor[],
    imgMetas: ImgMeta[],
    opts: GetBboxesOptions = {},
  ): Promise<HeadDetections[]> {
    const [cls, reg] = noGrad(() => tidy(() => this.forward(feats)));
    try {
      return await this.getBboxes(cls, reg, imgMetas, opts);
    } finally {
      for (const t of [...cls, ...reg]) t.dispose();
    }
  }

  /**
   * Test-time augmentation (mmdetection's `aug_test_bboxes`): the candidates of every
   * augmentation are mapped back to the original image (un-flipped, divided by `scale_factor`),
   * concatenated and put through one multi-class NMS. One image per augmentation batch.
   *
   * @param featsList per augmentation the features of one image.
   * @param imgMetasList per augmentation `[meta]`.
   */
  async augTest(
    featsList: Tensor[][],
    imgMetasList: ImgMeta[][],
    opts: GetBboxesOptions = {},
  ): Promise<HeadDetections[]> {
    const outs = featsList.map((feats) => noGrad(() => tidy(() => this.forward(feats))));
    try {
      const sets = outs.map(([cls]) =>
        this.getAnchors(cls.map((s) => [s.shape[2], s.shape[3]] as FeatmapSize))
      );
      return await augTestGpu(outs, sets, imgMetasList, this.inferenceSettings(opts.cfg), {
        rescale: opts.rescale ?? false,
      });
    } finally {
      for (const [cls, reg] of outs) for (const t of [...cls, ...reg]) t.dispose();
    }
  }

  /** Releases the parameters and the cached anchors. */
  override dispose(): void {
    this.#anchors.dispose();
    super.dispose();
  }
}

HEADS.register("AnchorHead", AnchorHead);
