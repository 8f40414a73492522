/**
 * mmdetection's `RPN` detector: backbone → neck → `rpn_head`, trained on objectness and box
 * regression, tested by returning the proposals of each image. Children are named `backbone`,
 * `neck`, `rpn_head`, so state-dict keys are mmdetection's (`rpn_head.rpn_conv.weight`).
 * `train_cfg.rpn` and `test_cfg.rpn` go to the head, as mmdetection's `RPN.__init__`.
 *
 * @module
 */
import { noGrad } from "../../autograd/tape.ts";
import { type Tensor, tidy } from "../../autograd/tensor.ts";
import type { TypedCfg } from "../../utils/registry.ts";
import type { RPNHead } from "../dense_heads/rpn_head.ts";
import "../dense_heads/rpn_head.ts";
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

/** mmdetection's `RPN` config. */
export interface RPNCfg {
  /** Registry name (`"RPN"`). */
  type?: string;
  /** Backbone config. */
  backbone: TypedCfg;
  /** Neck config (e.g. FPN), or null. */
  neck?: TypedCfg | null;
  /** `RPNHead` config. */
  rpn_head: TypedCfg;
  /** `{ rpn: {...} }` (assigner, sampler, ...) — `rpn` goes to the head. */
  train_cfg?: { rpn?: Record<string, unknown> } | null;
  /** `{ rpn: {...} }` (nms_pre, max_per_img, nms, min_bbox_size) — `rpn` goes to the head. */
  test_cfg?: { rpn?: Record<string, unknown> } | null;
  /** Path of a backbone checkpoint that the caller loads. */
  pretrained?: string | null;
  /** Accepted and ignored. */
  init_cfg?: unknown;
}

/**
 * Region proposal network. `simpleTest` returns, per image, one array: the `[k, 5]` proposals
 * `(x1, y1, x2, y2, score)` (mmdetection returns the bare array; here it is the single "class" of
 * a `BboxResult`).
 */
export class RPN extends BaseDetector {
  /** The backbone (child `backbone`). */
  readonly backbone: FeatureModule;
  /** The neck (child `neck`), or null. */
  readonly neck: FeatureModule | null;
  /** The head (child `rpn_head`). */
  readonly rpnHead: RPNHead;
  /** The backbone checkpoint named by `pretrained` or `backbone.init_cfg`. */
  readonly pretrained: string | null;

  /** Builds backbone, neck and head. */
  constructor(cfg: RPNCfg) {
    super();
    if (!cfg.backbone || !cfg.rpn_head) {
      throw new TypeError(`Cannot build RPN: the config needs "backbone" and "rpn_head"`);
    }
    this.backbone = this.registerModule("backbone", BACKBONES.build(cfg.backbone) as FeatureModule);
    this.neck = cfg.neck
      ? this.registerModule("neck", NECKS.build(cfg.neck) as FeatureModule)
      : null;
    const headCfg = {
      ...cfg.rpn_head,
      train_cfg: cfg.train_cfg?.rpn ?? null,
      test_cfg: cfg.test_cfg?.rpn ?? null,
    };
    this.rpnHead = this.registerModule("rpn_head", HEADS.build(headCfg) as unknown as RPNHead);
    const initCfg =
      (cfg.backbone as { init_cfg?: { type?: string; checkpoint?: string } }).init_cfg;
    this.pretrained = cfg.pretrained ??
      (initCfg?.type === "Pretrained" ? initCfg.checkpoint ?? null : null);
  }

  /** Re-runs every child's init. */
  initWeights(): void {
    this.backbone.initWeights?.();
    this.neck?.initWeights?.();
    this.rpnHead.initWeights();
  }

  /** Sets the sampling step of the head from the runner's iteration (see `AnchorHead`). */
  setTrainIter(iter: number): void {
    this.rpnHead.setTrainIter(iter);
  }

  /** Backbone (+ neck) features. */
  extractFeat(img: Tensor): Tensor[] {
    const x = this.backbone.forward(img);
    return this.neck ? this.neck.forward(x) : x;
  }

  /** The head's raw outputs. */
  forwardDummy(img: Tensor): [Tensor[], Tensor[]] {
    return this.rpnHead.forward(this.extractFeat(img));
  }

  /** `{loss_rpn_cls, loss_rpn_bbox}` (per level) of a batch; gt labels are not used. */
  forwardTrain(
    img: Tensor,
    imgMetas: ImgMeta[],
    gtBboxes: Float32Array[],
    gtBboxesIgnore: (Float32Array | null)[] | null = null,
  ): LossDict {
    if (!Array.isArray(gtBboxes) || gtBboxes.length !== img.shape[0]) {
      throw new TypeError(
        `Cannot run forwardTrain: gt_bboxes must be a list of ${
          img.shape[0]
        } Float32Arrays (one per image)`,
      );
    }
    const x = this.extractFeat(img);
    const [cls, reg] = this.rpnHead.forward(x);
    return this.rpnHead.lossRpn(cls, reg, gtBboxes, imgMetas, gtBboxesIgnore);
  }

  /** Calls `forwardTrain` with the batch's `gt_bboxes` and `gt_bboxes_ignore`. */
  protected forwardTrainKwargs(img: Tensor, imgMetas: ImgMeta[], kw: TrainKwargs): LossDict {
    return this.forwardTrain(
      img,
      imgMetas,
      kw.gt_bboxes as Float32Array[],
      kw.gt_bboxes_ignore ?? null,
    );
  }

  /** Proposals per image (`[[k, 5]]`), in original-image pixels with `rescale`. */
  async simpleTest(
    img: Tensor,
    imgMetas: ImgMeta[],
    opts: TestOptions = {},
  ): Promise<BboxResult[]> {
    const feats = noGrad(() => tidy(() => this.extractFeat(img)));
    try {
      const dets = await this.rpnHead.simpleTest(feats, imgMetas, {
        rescale: opts.rescale ?? false,
      });
      return dets.map((d) => [d.bboxes]);
    } finally {
      for (const f of feats) f.dispose();
    }
  }

  /**
   * mmdetection v2.25's `RPN.aug_test` (one image per augmentation): proposals merged over
   * augmentations (`RPNHead.augTestRpn`), `[[k, 5]]` per image, in original-image pixels with
   * `rescale`, else in the first augmentation's frame.
   */
  async augTest(
    imgs: Tensor[],
    imgMetas: ImgMeta[][],
    opts: TestOptions = {},
  ): Promise<BboxResult[]> {
    const featsList: Tensor[][] = [];
    try {
      for (const img of imgs) featsList.push(noGrad(() => tidy(() => this.extractFeat(img))));
      const dets = await this.rpnHead.augTest(featsList, imgMetas, {
        rescale: opts.rescale ?? false,
      });
      return dets.map((d) => [d.bboxes]);
    } finally {
      for (const fs of featsList) for (const f of fs) f.dispose();
    }
  }
}

DETECTORS.register("RPN", RPN);
