/**
 * mmdetection's `SingleStageDetector`: backbone → (neck) → dense head, with the head owning
 * anchors, targets, losses and box decoding. Children are named `backbone`, `neck`, `bbox_head`,
 * so state-dict keys are mmdet's (`backbone.layer1.0.conv1.weight`, `bbox_head.retina_cls.bias`).
 *
 * @module
 */
import { noGrad } from "../../autograd/tape.ts";
import { type Tensor, tidy } from "../../autograd/tensor.ts";
import { bbox2result } from "../../core/bbox/transforms.ts";
import type { Module } from "../../nn/module.ts";
import type { TypedCfg } from "../../utils/registry.ts";
import { BACKBONES, HEADS, NECKS } from "../registry.ts";
import {
  BaseDetector,
  type BboxResult,
  type ImgMeta,
  type LossDict,
  type TestOptions,
  type TrainKwargs,
} from "./base.ts";

/** One image's detections as a dense head returns them. */
export interface HeadDetections {
  /** `[k, 5]` rows `[x1, y1, x2, y2, score]`. */
  bboxes: Float32Array;
  /** `[k]` class indices. */
  labels: Int32Array;
}

/** The API a dense head offers the detector (mmdet's `BaseDenseHead` + `BBoxTestMixin`). */
export interface DenseHead extends Module {
  /** Number of object classes, without background. */
  readonly numClasses: number;
  /** Per level `[N, A·C, H, W]` scores and `[N, A·4, H, W]` deltas. */
  forward(feats: Tensor[]): [Tensor[], Tensor[]];
  /**
   * Per-level losses of a batch from features `x` (per level `[N, C, H_l, W_l]`), one meta, `[k,
   * 4]` `xyxy` absolute-pixel gt box array and `[k]` label array per image.
   */
  forwardTrain(
    x: Tensor[],
    imgMetas: ImgMeta[],
    gtBboxes: Float32Array[],
    gtLabels: Int32Array[] | null,
    gtBboxesIgnore?: (Float32Array | null)[] | null,
  ): LossDict;
  /**
   * Detections per image from features `feats` (boxes `xyxy` in input pixels, or original-image
   * pixels with `rescale`).
   */
  simpleTest(
    feats: Tensor[],
    imgMetas: ImgMeta[],
    opts: { rescale?: boolean },
  ): HeadDetections[] | Promise<HeadDetections[]>;
  /** Test-time augmentation: features and metas per augmented copy, merged detections per image. */
  augTest?(
    featsList: Tensor[][],
    imgMetasList: ImgMeta[][],
    opts: { rescale?: boolean },
  ): HeadDetections[] | Promise<HeadDetections[]>;
  /** Re-initialises the head's weights. */
  initWeights?(): void;
}

/** A module with a tensor-list forward (backbone or neck). */
export interface FeatureModule extends Module {
  /** `[N, C, H, W]` (backbone) or per-level maps (neck) → per-level maps `[N, C_l, H_l, W_l]`. */
  forward(x: Tensor | Tensor[]): Tensor[];
  /** Re-initialises the module's weights. */
  initWeights?(): void;
}

/** mmdetection's `SingleStageDetector` config. */
export interface SingleStageDetectorCfg {
  /** Backbone config (e.g. `{ type: "ResNet", depth: 50, ... }`). */
  backbone: TypedCfg;
  /** Neck config, or null/absent for none. */
  neck?: TypedCfg | null;
  /** Dense head config; `train_cfg` and `test_cfg` are merged into it. */
  bbox_head: TypedCfg;
  /** Training config passed to the head. */
  train_cfg?: Record<string, unknown> | null;
  /** Test config passed to the head. */
  test_cfg?: Record<string, unknown> | null;
  /** Path of a backbone checkpoint that the caller loads (never fetched here). */
  pretrained?: string | null;
  /** Accepted and ignored (mmdetection's init config of the detector). */
  init_cfg?: unknown;
  /** Registry name (e.g. `"RetinaNet"`). */
  type?: string;
}

/**
 * Backbone + neck + dense head. Build it from a config with `buildDetector`.
 */
export class SingleStageDetector extends BaseDetector {
  /** The backbone (child `backbone`). */
  readonly backbone: FeatureModule;
  /** The neck (child `neck`), or null. */
  readonly neck: FeatureModule | null;
  /** The dense head (child `bbox_head`). */
  readonly bboxHead: DenseHead;
  /** The `train_cfg` given to the head, or null. */
  readonly trainCfg: Record<string, unknown> | null;
  /** The `test_cfg` given to the head, or null. */
  readonly testCfg: Record<string, unknown> | null;
  /**
   * The backbone checkpoint named by `pretrained` or `backbone.init_cfg` (`{type:
   * "Pretrained", checkpoint}`), for the caller to load with `loadStateDict({strict: false})`.
   */
  readonly pretrained: string | null;

  /**
   * Builds backbone, neck and head from their configs; throws `TypeError` without `backbone` or
   * `bbox_head`.
   */
  constructor(cfg: SingleStageDetectorCfg) {
    super();
    if (!cfg.backbone || !cfg.bbox_head) {
      throw new TypeError(
        `Cannot build ${new.target.name}: the config needs "backbone" and "bbox_head"`,
      );
    }
    this.backbone = this.registerModule("backbone", BACKBONES.build(cfg.backbone) as FeatureModule);
    this.neck = cfg.neck
      ? this.registerModule("neck", NECKS.build(cfg.neck) as FeatureModule)
      : null;
    this.trainCfg = cfg.train_cfg ?? null;
    this.testCfg = cfg.test_cfg ?? null;
    // mmdet: bbox_head.update(train_cfg=train_cfg); bbox_head.update(test_cfg=test_cfg)
    const headCfg = { ...cfg.bbox_head, train_cfg: this.trainCfg, test_cfg: this.testCfg };
    this.bboxHead = this.registerModule("bbox_head", HEADS.build(headCfg) as DenseHead);
    const initCfg =
      (cfg.backbone as { init_cfg?: { type?: string; checkpoint?: string } }).init_cfg;
    this.pretrained = cfg.pretrained ??
      (initCfg?.type === "Pretrained" ? initCfg.checkpoint ?? null : null);
  }

  /** Whether a neck is configured. */
  get withNeck(): boolean {
    return this.neck !== null;
  }

  /** Re-runs every child's init (e.g. after `setSeed`). */
  initWeights(): void {
    this.backbone.initWeights?.();
    this.neck?.initWeights?.();
    this.bboxHead.initWeights?.();
  }

  /** Backbone (+ neck) features of `img` `[N, 3, H, W]`: per level `[N, C, H_l, W_l]`. */
  extractFeat(img: Tensor): Tensor[] {
    const x = this.backbone.forward(img);
    return this.neck ? this.neck.forward(x) : x;
  }

  /** The head's raw outputs (mmdet's `forward_dummy`). */
  forwardDummy(img: Tensor): [Tensor[], Tensor[]] {
    return this.bboxHead.forward(this.extractFeat(img));
  }

  /**
   * Losses of a batch: `img` `[N, 3, H, W]`, one meta, box list and label list per image.
   * Entries are tensors or lists of per-level tensors (`{loss_cls: [...], loss_bbox: [...]}`).
   */
  forwardTrain(
    img: Tensor,
    imgMetas: ImgMeta[],
    gtBboxes: Float32Array[],
    gtLabels: Int32Array[],
    gtBboxesIgnore: (Float32Array | null)[] | null = null,
  ): LossDict {
    if (!Array.isArray(gtBboxes) || gtBboxes.length !== img.shape[0]) {
      throw new TypeError(
        `Cannot run forwardTrain: gt_bboxes must be a list of ${
          img.shape[0]
        } Float32Arrays (one per image), got ${
          Array.isArray(gtBboxes) ? gtBboxes.length : typeof gtBboxes
        }`,
      );
    }
    if (!Array.isArray(gtLabels) || gtLabels.length !== img.shape[0]) {
      throw new TypeError(
        `Cannot run forwardTrain: gt_labels must be a list of ${
          img.shape[0]
        } Int32Arrays (one per image), got ${
          Array.isArray(gtLabels) ? gtLabels.length : typeof gtLabels
        }`,
      );
    }
    const x = this.extractFeat(img);
    return this.bboxHead.forwardTrain(x, imgMetas, gtBboxes, gtLabels, gtBboxesIgnore);
  }

  /** Calls `forwardTrain` with the batch's `gt_bboxes`, `gt_labels` and `gt_bboxes_ignore`. */
  protected forwardTrainKwargs(img: Tensor, imgMetas: ImgMeta[], kw: TrainKwargs): LossDict {
    return this.forwardTrain(
      img,
      imgMetas,
      kw.gt_bboxes as Float32Array[],
      kw.gt_labels as Int32Array[],
      kw.gt_bboxes_ignore ?? null,
    );
  }

  #toResults(dets: HeadDetections[]): BboxResult[] {
    return dets.map((d) =>
      bbox2result({ dets: d.bboxes, labels: d.labels }, this.bboxHead.numClasses)
    );
  }

  /** Features computed without the tape; intermediates released, outputs owned by the caller. */
  #testFeats(img: Tensor): Tensor[] {
    return noGrad(() => tidy(() => this.extractFeat(img)));
  }

  /**
   * Detections per image, split by class (mmdet's `bbox2result` format): `[m_c, 5]` rows
   * `[x1, y1, x2, y2, score]` per class; with `rescale`, in original-image pixels.
   */
  async simpleTest(
    img: Tensor,
    imgMetas: ImgMeta[],
    opts: TestOptions = {},
  ): Promise<BboxResult[]> {
    const feats = this.#testFeats(img);
    try {
      const dets = await this.bboxHead.simpleTest(feats, imgMetas, {
        rescale: opts.rescale ?? false,
      });
      return this.#toResults(dets);
    } finally {
      for (const f of feats) f.dispose();
    }
  }

  /**
   * Test-time augmentation (e.g. horizontal flip): features of every augmentation go to the
   * head's `augTest`, which maps boxes back and merges them as mmdet's `aug_test_bboxes`.
   *
   * @throws {TypeError} When the head has no `augTest`.
   */
  async augTest(
    imgs: Tensor[],
    imgMetas: ImgMeta[][],
    opts: TestOptions = {},
  ): Promise<BboxResult[]> {
    const head = this.bboxHead;
    if (typeof head.augTest !== "function") {
      throw new TypeError(
        `Cannot run augTest: ${head.constructor.name} does not support test-time augmentation (it has no augTest method): test with one augmentation`,
      );
    }
    const featsList: Tensor[][] = [];
    try {
      for (const img of imgs) featsList.push(this.#testFeats(img));
      const dets = await head.augTest(featsList, imgMetas, { rescale: opts.rescale ?? false });
      return this.#toResults(dets);
    } finally {
      for (const fs of featsList) for (const f of fs) f.dispose();
    }
  }
}
