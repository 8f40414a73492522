/**
 * mmdetection v2.25's `TwoStageDetector` and `FasterRCNN`: backbone → neck → `rpn_head`
 * (losses and proposals, `train_cfg.rpn_proposal`) → `roi_head` (losses on sampled proposals).
 * `train_cfg.rpn` / `test_cfg.rpn` go to the RPN head, `train_cfg.rcnn` / `test_cfg.rcnn` to
 * the RoI head, as mmdetection's `TwoStageDetector.__init__`. The training step stays on the GPU
 * (proposals, sampling, RoI targets and pooling included): no readback.
 *
 * @module
 */
import { noGrad } from "../../autograd/tape.ts";
import { type Tensor, tidy } from "../../autograd/tensor.ts";
import { bbox2result } from "../../core/bbox/transforms.ts";
import type { TypedCfg } from "../../utils/registry.ts";
import type { ProposalsGpu, RPNHead, RpnTestCfg } from "../dense_heads/rpn_head.ts";
import "../dense_heads/rpn_head.ts";
import type { StandardRoIHead } from "../roi_heads/standard_roi_head.ts";
import "../roi_heads/standard_roi_head.ts";
import { BACKBONES, DETECTORS, HEADS, NECKS } from "../registry.ts";
import {
  BaseDetector,
  type BboxResult,
  type ImgMeta,
  type LossDict,
  type TestOptions,
  type TrainKwargs,
} from "./base.ts";
import type { FeatureModule } from "./single_stage.ts";

/** mmdetection's `TwoStageDetector` config. */
export interface TwoStageDetectorCfg {
  /** Registry name (`"FasterRCNN"`). */
  type?: string;
  /** Backbone config. */
  backbone: TypedCfg;
  /** Neck config, or null. */
  neck?: TypedCfg | null;
  /** `RPNHead` config (required: proposals come from it). */
  rpn_head?: TypedCfg | null;
  /** `StandardRoIHead` config. */
  roi_head?: TypedCfg | null;
  /** `{rpn, rpn_proposal, rcnn}`. */
  train_cfg?: {
    rpn?: Record<string, unknown>;
    rpn_proposal?: RpnTestCfg;
    rcnn?: Record<string, unknown>;
  } | null;
  /** `{rpn, rcnn}`. */
  test_cfg?: { rpn?: RpnTestCfg; rcnn?: Record<string, unknown> } | null;
  /** Path of a backbone checkpoint that the caller loads. */
  pretrained?: string | null;
  /** Accepted and ignored. */
  init_cfg?: unknown;
}

/** Backbone + neck + RPN head + RoI head. */
export class TwoStageDetector extends BaseDetector {
  /** The backbone (child `backbone`). */
  readonly backbone: FeatureModule;
  /** The neck (child `neck`), or null. */
  readonly neck: FeatureModule | null;
  /** The RPN head (child `rpn_head`). */
  readonly rpnHead: RPNHead;
  /** The RoI head (child `roi_head`). */
  readonly roiHead: StandardRoIHead;
  /** `train_cfg`, or null. */
  readonly trainCfg: TwoStageDetectorCfg["train_cfg"];
  /** `test_cfg`, or null. */
  readonly testCfg: TwoStageDetectorCfg["test_cfg"];
  /** The backbone checkpoint named by `pretrained` or `backbone.init_cfg`. */
  readonly pretrained: string | null;

  /** Builds every child from its config. */
  constructor(cfg: TwoStageDetectorCfg) {
    super();
    const name = new.target.name;
    if (!cfg.backbone || !cfg.rpn_head || !cfg.roi_head) {
      throw new TypeError(
        `Cannot build ${name}: the config needs "backbone", "rpn_head" and "roi_head" (proposals come from the RPN head; precomputed proposals are not supported)`,
      );
    }
    this.backbone = this.registerModule("backbone", BACKBONES.build(cfg.backbone) as FeatureModule);
    this.neck = cfg.neck
      ? this.registerModule("neck", NECKS.build(cfg.neck) as FeatureModule)
      : null;
    this.trainCfg = cfg.train_cfg ?? null;
    this.testCfg = cfg.test_cfg ?? null;
    this.rpnHead = this.registerModule(
      "rpn_head",
      HEADS.build({
        ...cfg.rpn_head,
        train_cfg: this.trainCfg?.rpn ?? null,
        test_cfg: this.testCfg?.rpn ?? null,
      }) as unknown as RPNHead,
    );
    this.roiHead = this.registerModule(
      "roi_head",
      HEADS.build({
        ...cfg.roi_head,
        train_cfg: this.trainCfg?.rcnn ?? null,
        test_cfg: this.testCfg?.rcnn ?? null,
      }) as unknown as StandardRoIHead,
    );
    const initCfg =
      (cfg.backbone as { init_cfg?: { type?: string; checkpoint?: string } }).init_cfg;
    this.pretrained = cfg.pretrained ??
      (initCfg?.type === "Pretrained" ? initCfg.checkpoint ?? null : null);
  }

  /** Whether an RPN head is configured (always, here). */
  get withRpn(): boolean {
    return true;
  }

  /** Re-runs every child's init. */
  initWeights(): void {
    this.backbone.initWeights?.();
    this.neck?.initWeights?.();
    this.rpnHead.initWeights();
    this.roiHead.initWeights();
  }

  /** Sets the samplers' step of both heads from the runner's iteration. */
  setTrainIter(iter: number): void {
    this.rpnHead.setTrainIter(iter);
    this.roiHead.setTrainIter(iter);
  }

  /** Backbone (+ neck) features. */
  extractFeat(img: Tensor): Tensor[] {
    const x = this.backbone.forward(img);
    return this.neck ? this.neck.forward(x) : x;
  }

  /**
   * `{loss_rpn_cls, loss_rpn_bbox, loss_cls, acc, loss_bbox}` of a batch (mmdetection's
   * `TwoStageDetector.forward_train`): proposals with `train_cfg.rpn_proposal` (else
   * `test_cfg.rpn`), all on the GPU.
   */
  forwardTrain(
    img: Tensor,
    imgMetas: ImgMeta[],
    gtBboxes: Float32Array[],
    gtLabels: Int32Array[],
    gtBboxesIgnore: (Float32Array | null)[] | null = null,
  ): LossDict {
    const N = img.shape[0];
    for (const [v, key] of [[gtBboxes, "gt_bboxes"], [gtLabels, "gt_labels"]] as const) {
      if (!Array.isArray(v) || v.length !== N) {
        throw new TypeError(
          `Cannot run forwardTrain: ${key} must be a list of ${N} arrays (one per image)`,
        );
      }
    }
    const proposalCfg = this.trainCfg?.rpn_proposal ?? this.testCfg?.rpn ?? null;
    if (!proposalCfg) {
      throw new TypeError(
        "Cannot run forwardTrain: neither train_cfg.rpn_proposal nor test_cfg.rpn is set",
      );
    }
    const x = this.extractFeat(img);
    const { losses: rpnLosses, proposals } = this.rpnHead.forwardTrainRpn(
      x,
      imgMetas,
      gtBboxes,
      gtBboxesIgnore,
      proposalCfg,
    );
    const roiLosses = this.roiHead.forwardTrain(
      x,
      imgMetas,
      proposals!,
      gtBboxes,
      gtLabels,
      gtBboxesIgnore,
    );
    return { ...rpnLosses, ...roiLosses };
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

  /**
   * Detections per image split by class (`bbox2result`): RPN proposals with `test_cfg.rpn`, then
   * the RoI head's `simple_test` (`test_cfg.rcnn`).
   */
  async simpleTest(
    img: Tensor,
    imgMetas: ImgMeta[],
    opts: TestOptions = {},
  ): Promise<BboxResult[]> {
    const { feats, proposals } = noGrad(() =>
      tidy(() => {
        const feats = this.extractFeat(img);
        const [cls, reg] = this.rpnHead.forward(feats);
        return {
          feats,
          proposals: this.rpnHead.getProposalsGpu(cls, reg, imgMetas, this.testCfg?.rpn ?? null),
        };
      })
    );
    try {
      const dets = await this.roiHead.simpleTest(feats, proposals, imgMetas, {
        rescale: opts.rescale ?? false,
      });
      const C = this.roiHead.bboxHead.numClasses;
      return dets.map((d) => bbox2result({ dets: d.bboxes, labels: d.labels }, C));
    } finally {
      for (const f of feats) f.dispose();
      for (const t of [proposals.proposals, proposals.valid, proposals.counts]) t.dispose();
    }
  }

  /**
   * mmdetection v2.25's `TwoStageDetector.aug_test` (one image per augmentation): features of
   * every augmentation, proposals merged over augmentations (`RPNHead.augTestRpn`, on the GPU),
   * then the RoI head's `aug_test` (boxes and scores averaged over augmentations, then
   * `multiclass_nms`). With `rescale` in original-image pixels, else in the first
   * augmentation's.
   */
  async augTest(
    imgs: Tensor[],
    imgMetas: ImgMeta[][],
    opts: TestOptions = {},
  ): Promise<BboxResult[]> {
    const featsList: Tensor[][] = [];
    let proposals: ProposalsGpu | null = null;
    try {
      for (const img of imgs) featsList.push(noGrad(() => tidy(() => this.extractFeat(img))));
      proposals = this.rpnHead.augTestRpn(featsList, imgMetas);
      const dets = await this.roiHead.augTest(featsList, proposals, imgMetas, {
        rescale: opts.rescale ?? false,
      });
      const C = this.roiHead.bboxHead.numClasses;
      return dets.map((d) => bbox2result({ dets: d.bboxes, labels: d.labels }, C));
    } finally {
      for (const fs of featsList) for (const f of fs) f.dispose();
      if (proposals) {
        for (const t of [proposals.proposals, proposals.valid, proposals.counts]) t.dispose();
      }
    }
  }
}

/** Faster R-CNN (Ren et al.): a `TwoStageDetector`; the difference lies in the config. */
export class FasterRCNN extends TwoStageDetector {
  /** Builds every child from `cfg` (see `TwoStageDetector`). */
  constructor(cfg: TwoStageDetectorCfg) {
    super(cfg);
  }
}

DETECTORS.register("TwoStageDetector", TwoStageDetector);
DETECTORS.register("FasterRCNN", FasterRCNN);
