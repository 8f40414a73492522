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
  readonly numClasses: number;
  /** Per level `[N, A·C, H, W]` scores and `[N, A·4, H, W]` deltas. */
  forward(feats: Tensor[]): [Tensor[], Tensor[]];
  forwardTrain(
    x: Tensor[],
    imgMetas: ImgMeta[],
    gtBboxes: Float32Array[],
    gtLabels: Int32Array[] | null,
    gtBboxesIgnore?: (Float32Array | null)[] | null,
  ): LossDict;
  simpleTest(
    feats: Tensor[],
    imgMetas: ImgMeta[],
    opts: { rescale?: boolean },
  ): HeadDetections[] | Promise<HeadDetections[]>;
  augTest?(
    featsList: Tensor[][],
    imgMetasList: ImgMeta[][],
    opts: { rescale?: boolean },
  ): HeadDetections[] | Promise<HeadDetections[]>;
  initWeights?(): void;
}

/** A module with a tensor-list forward (backbone or neck). */
interface FeatureModule extends Module {
  forward(x: Tensor | Tensor[]): Tensor[];
  initWeights?(): void;
}

/** mmdetection's `SingleStageDetector` config. */
export interface SingleStageDetectorCfg {
  backbone: TypedCfg;
  neck?: TypedCfg | null;
  bbox_head: TypedCfg;
  train_cfg?: Record<string, unknown> | null;
  test_cfg?: Record<string, unknown> | null;
  /** Path of a backbone checkpoint that the caller loads (never fetched here). */
  pretrained?: string | null;
  init_cfg?: unknown;
  type?: string;
}

/**
 * Backbone + neck + dense head. Build it from a config with `buildDetector`.
 */
export class SingleStageDetector extends BaseDetector {
  readonly backbone: FeatureModule;
  readonly neck: FeatureModule | null;
  readonly bboxHead: DenseHead;
  readonly trainCfg: Record<string, unknown> | null;
  readonly testCfg: Record<string, unknown> | null;
  /**
   * The backbone checkpoint named by `pretrained` or `backbone.init_cfg` (`{type:
   * "Pretrained", checkpoint}`), for the caller to load with `loadStateDict({strict: false})`.
   */
  readonly pretrained: string | null;

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
