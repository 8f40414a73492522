/**
 * mmdetection v2.25's `StandardRoIHead` (box branch): `train_cfg.rcnn`'s assigner and sampler on
 * the RPN proposals (all on the GPU: `MaxIoUAssigner.assignGpu`, `RandomSampler.sampleGpu` with
 * `add_gt_as_proposals`, `roiTargetsGpu`), RoI features from `bbox_roi_extractor`, and the
 * `bbox_head` loss; `simpleTest` pools the test proposals, reads the head's outputs back once and
 * runs `get_bboxes` / `multiclass_nms` per image on the CPU.
 *
 * @module
 */
import * as F from "../../autograd/functional.ts";
import { noGrad } from "../../autograd/tape.ts";
import { Tensor, tidy } from "../../autograd/tensor.ts";
import {
  type GtBatchGpu,
  releaseGts,
  roiTargetsGpu,
  uploadGts,
} from "../../core/bbox/gpu_stages.ts";
import type { MaxIoUAssigner } from "../../core/bbox/assigners/max_iou_assigner.ts";
import "../../core/bbox/assigners/max_iou_assigner.ts";
import { type RandomSampler, stepSeed } from "../../core/bbox/samplers/random_sampler.ts";
import "../../core/bbox/samplers/pseudo_sampler.ts";
import { augFrameOf, mergeAugBboxes } from "../../core/post_processing/merge_augs.ts";
import { BBOX_ASSIGNERS, BBOX_SAMPLERS } from "../../core/registry.ts";
import { getGpu } from "../../gpu/runtime.ts";
import { Module } from "../../nn/module.ts";
import { mapProposalsToRois } from "../../ops/aug_boxes.ts";
import type { TypedCfg } from "../../utils/registry.ts";
import type { ProposalsGpu } from "../dense_heads/rpn_head.ts";
import type { ImgMeta, LossDict } from "../detectors/base.ts";
import type { HeadDetections } from "../detectors/single_stage.ts";
import { HEADS } from "../registry.ts";
import type { ConvFCBBoxHead, RcnnTestCfg } from "./bbox_heads/convfc_bbox_head.ts";
import "./bbox_heads/convfc_bbox_head.ts";
import type { SingleRoIExtractor } from "./roi_extractors/single_level_roi_extractor.ts";
import "./roi_extractors/single_level_roi_extractor.ts";

/** `train_cfg.rcnn` (mmdetection keys). */
export interface RcnnTrainCfg {
  /** e.g. MaxIoUAssigner 0.5 / 0.5 / 0.5, `match_low_quality` false. */
  assigner: TypedCfg;
  /** e.g. RandomSampler 512 / 0.25 with `add_gt_as_proposals`. */
  sampler: TypedCfg;
  /** Label weight of positives (≤ 0: 1). */
  pos_weight?: number;
  /** Accepted (no debug output). */
  debug?: boolean;
}

/** Config of `StandardRoIHead` (box branch only). */
export interface StandardRoIHeadCfg {
  /** Registry name. */
  type?: string;
  /** `SingleRoIExtractor` config. */
  bbox_roi_extractor: TypedCfg;
  /** `Shared2FCBBoxHead` config. */
  bbox_head: TypedCfg;
  /** Masks are not supported (refused unless null). */
  mask_roi_extractor?: unknown;
  /** Masks are not supported (refused unless null). */
  mask_head?: unknown;
  /** Not supported (refused unless null). */
  shared_head?: unknown;
  /** `train_cfg.rcnn`. */
  train_cfg?: RcnnTrainCfg | null;
  /** `test_cfg.rcnn`. */
  test_cfg?: RcnnTestCfg | null;
  /** Accepted and ignored. */
  pretrained?: unknown;
  /** Accepted and ignored. */
  init_cfg?: unknown;
}

/** `bbox2roi` of padded per-image proposals: `[N·M, 5]` (image or −1 for padding, box). */
export function proposalRois(p: ProposalsGpu): Tensor {
  const [N, M] = p.valid.shape;
  const img = new Float32Array(N * M);
  for (let n = 0; n < N; n++) img.fill(n + 1, n * M, (n + 1) * M);
  // valid · (n + 1) − 1: the image index on real rows, −1 on padding rows
  const idx = F.addScalar(F.mul(p.valid, Tensor.from(img, [N, M])), -1);
  const boxes = F.slice(p.proposals, [0, 0, 0], [N, M, 4]);
  return F.reshape(F.concat([F.reshape(idx, [N, M, 1]), boxes], 2), [N * M, 5]);
}

/**
 * The RoI head of Faster R-CNN. Children `bbox_roi_extractor` and `bbox_head`, so keys are
 * mmdetection's (`roi_head.bbox_head.shared_fcs.0.weight`).
 */
export class StandardRoIHead extends Module {
  /** The RoI feature extractor. */
  readonly bboxRoiExtractor: SingleRoIExtractor;
  /** The box head. */
  readonly bboxHead: ConvFCBBoxHead;
  /** `train_cfg.rcnn`, or null (test only). */
  readonly trainCfg: RcnnTrainCfg | null;
  /** `test_cfg.rcnn`, or null. */
  readonly testCfg: RcnnTestCfg | null;
  /** Built from `train_cfg.rcnn.assigner`. */
  readonly assigner: MaxIoUAssigner | null;
  /** Built from `train_cfg.rcnn.sampler`. */
  readonly sampler: RandomSampler | null;
  /** Step of the sampler's seed (`stepSeed(samplerSeed, samplingStep)`); see `setTrainIter`. */
  samplingStep = 0;
  /** Base of the sampler's seed (1: draws independent of the RPN's, whose base is 0). */
  samplerSeed = 1;

  /** Builds the extractor, the head, the assigner and the sampler. */
  constructor(cfg: StandardRoIHeadCfg) {
    super();
    for (const k of ["mask_roi_extractor", "mask_head", "shared_head"] as const) {
      if (cfg[k] != null) {
        throw new RangeError(
          `Cannot build StandardRoIHead: ${k} is not supported (box branch only): remove it`,
        );
      }
    }
    if (!cfg.bbox_roi_extractor || !cfg.bbox_head) {
      throw new TypeError(
        `Cannot build StandardRoIHead: the config needs "bbox_roi_extractor" and "bbox_head"`,
      );
    }
    this.bboxRoiExtractor = this.registerModule(
      "bbox_roi_extractor",
      HEADS.build(cfg.bbox_roi_extractor) as unknown as SingleRoIExtractor,
    );
    this.bboxHead = this.registerModule(
      "bbox_head",
      HEADS.build(cfg.bbox_head) as unknown as ConvFCBBoxHead,
    );
    this.trainCfg = cfg.train_cfg ?? null;
    this.testCfg = cfg.test_cfg ?? null;
    if (this.trainCfg) {
      if (!this.trainCfg.assigner || !this.trainCfg.sampler) {
        throw new TypeError(
          `Cannot build StandardRoIHead: train_cfg.rcnn needs "assigner" and "sampler"`,
        );
      }
      this.assigner = BBOX_ASSIGNERS.build(this.trainCfg.assigner) as unknown as MaxIoUAssigner;
      this.sampler = BBOX_SAMPLERS.build(this.trainCfg.sampler) as unknown as RandomSampler;
      if (typeof (this.sampler as { sampleGpu?: unknown }).sampleGpu !== "function") {
        throw new RangeError(
          `Cannot build StandardRoIHead: sampler "${this.trainCfg.sampler.type}" has no GPU implementation: use RandomSampler`,
        );
      }
    } else {
      this.assigner = null;
      this.sampler = null;
    }
  }

  /** Re-initialises the box head. */
  initWeights(): void {
    this.bboxHead.initWeights();
  }

  /** Sets the sampling step from the runner's iteration (a resumed run draws as the original). */
  setTrainIter(iter: number): void {
    this.samplingStep = iter;
  }

  /**
   * mmdetection's `StandardRoIHead.forward_train` (boxes): assign and sample the proposals of
   * every image, pool the sampled RoIs and return `{loss_cls, acc, loss_bbox}`. No readback.
   */
  forwardTrain(
    x: Tensor[],
    _imgMetas: ImgMeta[],
    proposals: ProposalsGpu,
    gtBboxes: Float32Array[],
    gtLabels: Int32Array[],
    gtBboxesIgnore: (Float32Array | null)[] | null = null,
  ): LossDict {
    if (!this.assigner || !this.sampler || !this.trainCfg) {
      throw new TypeError(
        "Cannot run StandardRoIHead.forwardTrain: the head was built without train_cfg.rcnn",
      );
    }
    const [N, M] = proposals.valid.shape;
    const gts: GtBatchGpu = uploadGts({ gtBboxes, gtLabels, gtBboxesIgnore });
    try {
      const boxes = F.slice(proposals.proposals, [0, 0, 0], [N, M, 4]);
      const flags = this.assigner.candidateFlagsGpu(boxes, proposals.valid, gts);
      const input = { boxes, flags, gts };
      const a = this.assigner.assignGpu(input);
      const s = this.sampler.sampleGpu(a, {
        input,
        seed: stepSeed(this.samplerSeed, this.samplingStep++),
      });
      const t = roiTargetsGpu(s, gts, this.bboxHead.bboxCoder, {
        numClasses: this.bboxHead.numClasses,
        posWeight: this.trainCfg.pos_weight ?? -1,
      });
      const feats = this.bboxRoiExtractor.forward(x, t.rois);
      const [cls, reg] = this.bboxHead.forward(feats);
      return this.bboxHead.loss(cls, reg, t);
    } finally {
      releaseGts(gts);
    }
  }

  /**
   * mmdetection's `simple_test_bboxes`: per image `[k, 5]` detections and labels after
   * `multiclass_nms` (`test_cfg.rcnn`), in original-image pixels with `rescale`.
   */
  async simpleTest(
    x: Tensor[],
    proposals: ProposalsGpu,
    imgMetas: ImgMeta[],
    opts: { rescale?: boolean } = {},
  ): Promise<HeadDetections[]> {
    const [N, M] = proposals.valid.shape;
    const out = noGrad(() =>
      tidy(() => {
        const rois = proposalRois(proposals);
        const [cls, reg] = this.bboxHead.forward(this.bboxRoiExtractor.forward(x, rois));
        if (!cls || !reg) {
          throw new TypeError(
            "Cannot run StandardRoIHead.simpleTest: the box head needs with_cls and with_reg",
          );
        }
        return { rois, cls, reg };
      })
    );
    try {
      const [rois, cls, reg, counts] = await getGpu().readMany([
        out.rois.raw,
        out.cls.raw,
        out.reg.raw,
        proposals.counts.raw,
      ]) as [Float32Array, Float32Array, Float32Array, Uint32Array];
      const C1 = cls.length / (N * M), R4 = reg.length / (N * M);
      return imgMetas.map((m, n) => {
        const k = counts[n], r0 = n * M;
        const d = this.bboxHead.getBboxes(
          rois.slice(r0 * 5, (r0 + k) * 5),
          cls.slice(r0 * C1, (r0 + k) * C1),
          reg.slice(r0 * R4, (r0 + k) * R4),
          m.img_shape ?? null,
          m.scale_factor,
          opts.rescale ?? false,
          this.testCfg ?? {},
        );
        return { bboxes: d.bboxes, labels: d.labels };
      });
    } finally {
      for (const t of [out.rois, out.cls, out.reg]) t.dispose();
    }
  }

  /**
   * mmdetection v2.25's `StandardRoIHead.aug_test` (`aug_test_bboxes`) for one image: the merged
   * proposals (original-image pixels, from `RPNHead.augTestRpn`) mapped into every augmentation's
   * frame (`bbox_mapping`, on the GPU), pooled from that augmentation's features and scored by
   * the box head; one readback; then on the CPU each augmentation's softmax scores and decoded
   * boxes (clipped to its `img_shape`) are mapped back and averaged (`merge_aug_bboxes`) and go
   * through `multiclass_nms` (`test_cfg.rcnn`). Without `rescale` the detections are scaled to
   * the first augmentation's image.
   */
  async augTest(
    featsList: readonly Tensor[][],
    proposals: ProposalsGpu,
    imgMetas: readonly ImgMeta[][],
    opts: { rescale?: boolean } = {},
  ): Promise<HeadDetections[]> {
    if (featsList.length === 0 || featsList.length !== imgMetas.length) {
      throw new TypeError(
        `Cannot run StandardRoIHead.augTest: ${featsList.length} augmentations but ${imgMetas.length} img_metas lists`,
      );
    }
    if (proposals.valid.shape[0] !== 1) {
      throw new TypeError(
        `Cannot run StandardRoIHead.augTest: proposals of ${
          proposals.valid.shape[0]
        } images: test-time augmentation takes one image`,
      );
    }
    const frames = imgMetas.map((m, i) => augFrameOf(m[0] ?? {}, `img_metas[${i}][0]`));
    const outs = featsList.map((x, i) =>
      noGrad(() =>
        tidy(() => {
          const rois = new Tensor(
            mapProposalsToRois(proposals.proposals.raw, proposals.valid.raw, frames[i]),
          );
          const [cls, reg] = this.bboxHead.forward(this.bboxRoiExtractor.forward(x, rois));
          if (!cls || !reg) {
            throw new TypeError(
              "Cannot run StandardRoIHead.augTest: the box head needs with_cls and with_reg",
            );
          }
          return { rois, cls, reg };
        })
      )
    );
    try {
      const host = await getGpu().readMany([
        proposals.counts.raw,
        ...outs.flatMap((o) => [o.rois.raw, o.cls.raw, o.reg.raw]),
      ]) as Float32Array[];
      const k = (host[0] as unknown as Uint32Array)[0];
      const M = proposals.capacity;
      const per = outs.map((_, i) => {
        const [rois, cls, reg] = host.slice(1 + 3 * i, 4 + 3 * i);
        return {
          rois: rois.slice(0, k * 5),
          cls: cls.slice(0, k * (cls.length / M)),
          reg: reg.slice(0, k * (reg.length / M)),
        };
      });
      return [this.mergeAugDetections(per, imgMetas.map((m) => m[0]), opts.rescale ?? false)];
    } finally {
      for (const o of outs) for (const t of [o.rois, o.cls, o.reg]) t.dispose();
    }
  }

  /**
   * The CPU half of `aug_test_bboxes` for one image: per augmentation the box head's outputs on
   * the same `k` RoIs (in that augmentation's frame) → `get_bboxes(cfg=None)` →
   * `merge_aug_bboxes` → `multiclass_nms`; scaled by the first augmentation's `scale_factor`
   * unless `rescale`.
   */
  mergeAugDetections(
    outs: readonly { rois: Float32Array; cls: Float32Array; reg: Float32Array }[],
    imgMetas: readonly ImgMeta[],
    rescale: boolean,
  ): HeadDetections {
    const frames = imgMetas.map((m, i) => augFrameOf(m ?? {}, `img_metas[${i}][0]`));
    const dec = outs.map((o, i) =>
      this.bboxHead.decodeBboxes(o.rois, o.cls, o.reg, frames[i].imgShape)
    );
    const merged = mergeAugBboxes(dec.map((d) => d.bboxes), dec.map((d) => d.scores), frames);
    const d = merged.scores.length === 0
      ? { bboxes: new Float32Array(0), labels: new Int32Array(0) }
      : this.bboxHead.nmsBboxes(merged.bboxes, merged.scores, this.testCfg ?? {});
    if (!rescale) {
      const sf = frames[0].scaleFactor.map((v) => Math.fround(v));
      for (let r = 0; r < d.labels.length; r++) {
        for (let c = 0; c < 4; c++) d.bboxes[r * 5 + c] = Math.fround(d.bboxes[r * 5 + c] * sf[c]);
      }
    }
    return { bboxes: d.bboxes, labels: d.labels };
  }
}

HEADS.register("StandardRoIHead", StandardRoIHead);
