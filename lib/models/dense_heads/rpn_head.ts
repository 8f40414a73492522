/**
 * mmdetection v2.25's `RPNHead`: one 3×3 conv + ReLU (`rpn_conv`), a 1×1 objectness conv
 * (`rpn_cls`, one sigmoid channel per anchor: `num_classes` 1) and a 1×1 box conv (`rpn_reg`), on
 * every pyramid level; targets and losses are `AnchorHead`'s (with the `train_cfg` sampler, e.g.
 * `RandomSampler`, and the losses normalised by sampled positives + negatives); proposals
 * (`getProposalsGpu`) follow `RPNHead._get_bboxes_single` / `_bbox_post_process`: per level the
 * top `nms_pre` scores, decoding clipped to `img_shape`, boxes of width or height ≤
 * `min_bbox_size` dropped, `batched_nms` with the level as class, `max_per_img` kept.
 *
 * @module
 */
import { noGrad } from "../../autograd/tape.ts";
import { Tensor, tidy } from "../../autograd/tensor.ts";
import type { FeatmapSize } from "../../core/anchor/anchor_generator.ts";
import { getGpu } from "../../gpu/runtime.ts";
import { Conv2d } from "../../nn/conv.ts";
import { ConvModule } from "../../nn/conv_module.ts";
import { ModuleList } from "../../nn/module.ts";
import { normalInit } from "../../nn/init.ts";
import {
  type AugFrame,
  augFrameOf,
  mapProposalsBackInto,
  mapProposalsToRois,
} from "../../ops/aug_boxes.ts";
import { rpnProposals } from "../../ops/proposals.ts";
import type { TypedCfg } from "../../utils/registry.ts";
import type { ImgMeta } from "../detectors/base.ts";
import type { HeadDetections } from "../detectors/single_stage.ts";
import { HEADS } from "../registry.ts";
import { AnchorHead, type AnchorHeadCfg, type GetBboxesOptions } from "./anchor_head.ts";
import { selectCandidates } from "./anchor_head_inference.ts";

/** `test_cfg` of the RPN (and `train_cfg.rpn_proposal` of two-stage detectors), mmdetection keys. */
export interface RpnTestCfg {
  /** Candidates per level before NMS (default 1000; ≤ 0: all). */
  nms_pre?: number;
  /** Proposals kept per image after NMS (default 1000). */
  max_per_img?: number;
  /** mmdetection < 2.x name of `max_per_img` (refused: use `max_per_img`). */
  max_num?: number;
  /** `nms.iou_threshold` (default 0.7), `nms.type` "nms". */
  nms?: { type?: string; iou_threshold?: number; iou_thr?: number };
  /** Boxes need width and height `>` this; `< 0` keeps all (default 0). */
  min_bbox_size?: number;
  /** Deprecated in mmdetection 2.x (refused: use `nms`). */
  nms_thr?: number;
}

/** Config of `RPNHead`: `AnchorHead`'s keys (without `num_classes`, which is 1) plus `num_convs`. */
export interface RPNHeadCfg extends Omit<AnchorHeadCfg, "num_classes" | "test_cfg"> {
  /** Ignored if given: the RPN has one (objectness) class. */
  num_classes?: number;
  /** 3×3 convs before the outputs; only 1 (mmdetection's default) is supported. */
  num_convs?: number;
  /** Proposal settings used by `getBboxes`/`simpleTest` (see `RpnTestCfg`). */
  test_cfg?: RpnTestCfg | null;
}

/** Proposals of a batch on the GPU, padded to `max_per_img` rows (no readback made them). */
export interface ProposalsGpu {
  /** `[N, M, 5]` f32 rows `(x1, y1, x2, y2, score)` per image, score-descending; padding rows 0. */
  proposals: Tensor;
  /** `[N, M]` f32: 1 for real rows, 0 for padding (real rows come first). */
  valid: Tensor;
  /** `[N]` u32: real rows per image. */
  counts: Tensor;
  /** `M`, the capacity per image (`max_per_img`). */
  capacity: number;
}

/**
 * mmdetection v2.25's `merge_aug_proposals` on the GPU for one image: every augmentation's padded
 * proposals (`[1, M_a, 5]`, in its own frame) mapped back to the original image (flip undone,
 * divided by `scale_factor`), concatenated, and put through mmcv's `nms` (one class, no size
 * filter; padding rows are skipped), keeping the best `maxPerImg` by score. No readback.
 */
export function mergeAugProposalsGpu(
  parts: readonly ProposalsGpu[],
  frames: readonly AugFrame[],
  o: { iouThreshold: number; maxPerImg: number },
): ProposalsGpu {
  if (parts.length === 0 || parts.length !== frames.length) {
    throw new TypeError(
      `Cannot merge augmented proposals: ${parts.length} proposal sets and ${frames.length} img_metas`,
    );
  }
  const gpu = getGpu();
  const K = parts.reduce((a, p) => a + p.capacity, 0);
  const boxes = gpu.empty([1, K, 4], "f32", "aug_proposal_boxes");
  const scores = gpu.empty([1, K], "f32", "aug_proposal_scores");
  try {
    let offset = 0;
    for (const [i, p] of parts.entries()) {
      if (p.valid.shape[0] !== 1) {
        throw new TypeError(
          `Cannot merge augmented proposals: set ${i} holds ${
            p.valid.shape[0]
          } images: test-time augmentation takes one image per augmentation`,
        );
      }
      mapProposalsBackInto(p.proposals.raw, p.valid.raw, frames[i], { boxes, scores, offset });
      offset += p.capacity;
    }
    const r = rpnProposals(boxes, scores, {
      levelStarts: [0],
      iouThreshold: o.iouThreshold,
      minBboxSize: -1,
      maxPerImg: o.maxPerImg,
    });
    return {
      proposals: new Tensor(r.proposals),
      valid: new Tensor(r.valid),
      counts: new Tensor(r.counts),
      capacity: r.valid.shape[1],
    };
  } finally {
    boxes.release();
    scores.release();
  }
}

const RPN_ANCHORS: TypedCfg = {
  type: "AnchorGenerator",
  scales: [8],
  ratios: [0.5, 1.0, 2.0],
  strides: [4, 8, 16, 32, 64],
};

/**
 * The region proposal head. State-dict keys are mmdetection's: `rpn_conv.weight`,
 * `rpn_cls.weight`, `rpn_reg.bias` (prefixed `rpn_head.` in a detector).
 *
 * @example
 * ```ts ignore
 * const head = HEADS.build({ type: "RPNHead", in_channels: 256, feat_channels: 256, train_cfg, test_cfg });
 * const [cls, reg] = head.forward(feats); // per level [N, 3, H, W], [N, 12, H, W]
 * const { loss_rpn_cls, loss_rpn_bbox } = head.lossRpn(cls, reg, gtBboxes, imgMetas);
 * const p = head.getProposalsGpu(cls, reg, imgMetas, trainCfg.rpn_proposal); // no readback
 * ```
 */
export class RPNHead extends AnchorHead {
  /**
   * `rpn_conv`: 3×3, `in_channels` → `feat_channels`, followed by ReLU; with `num_convs > 1`
   * mmdetection's `nn.Sequential` of `num_convs` 3×3 `ConvModule`s (conv + ReLU, keys
   * `rpn_conv.0.conv.weight`, …).
   */
  declare rpnConv: Conv2d | ModuleList<ConvModule>;
  /** `rpn_cls`: 1×1 → `A · cls_out_channels`. */
  declare rpnCls: Conv2d;
  /** `rpn_reg`: 1×1 → `A · 4`. */
  declare rpnReg: Conv2d;
  /** The proposal settings (`test_cfg`). */
  readonly rpnTestCfg: RpnTestCfg | null;

  /** Builds the head (one class; anchors default to scales [8], ratios [0.5, 1, 2], strides 4..64). */
  constructor(cfg: RPNHeadCfg) {
    const numConvs = cfg.num_convs ?? 1;
    if (!Number.isInteger(numConvs) || numConvs < 1) {
      throw new RangeError(
        `Cannot build RPNHead: num_convs must be a positive integer, got ${
          JSON.stringify(cfg.num_convs)
        }`,
      );
    }
    const testCfg = cfg.test_cfg ?? null;
    super({
      ...cfg,
      num_classes: 1,
      anchor_generator: cfg.anchor_generator ?? RPN_ANCHORS,
      test_cfg: null,
    });
    this.rpnTestCfg = testCfg;
  }

  /** `rpn_conv`, `rpn_cls`, `rpn_reg`. */
  override initLayers(): void {
    const numConvs = (this.cfg as RPNHeadCfg).num_convs ?? 1;
    this.rpnConv = this.registerModule(
      "rpn_conv",
      numConvs === 1
        ? new Conv2d({
          inChannels: this.inChannels,
          outChannels: this.featChannels,
          kernelSize: 3,
          padding: 1,
        })
        : new ModuleList(
          Array.from({ length: numConvs }, (_, i) =>
            new ConvModule({
              inChannels: i === 0 ? this.inChannels : this.featChannels,
              outChannels: this.featChannels,
              kernelSize: 3,
              padding: 1,
              init: false,
            })),
        ),
    );
    this.rpnCls = this.registerModule(
      "rpn_cls",
      new Conv2d({
        inChannels: this.featChannels,
        outChannels: this.numAnchors * this.clsOutChannels,
        kernelSize: 1,
      }),
    );
    this.rpnReg = this.registerModule(
      "rpn_reg",
      new Conv2d({
        inChannels: this.featChannels,
        outChannels: this.numAnchors * 4,
        kernelSize: 1,
      }),
    );
  }

  /** mmdetection v2.25: `Normal(std=0.01)` on every `Conv2d`, bias 0. */
  override initWeights(): void {
    const convs = this.rpnConv instanceof ModuleList
      ? this.rpnConv.items.map((m) => m.conv)
      : [this.rpnConv];
    for (const m of [...convs, this.rpnCls, this.rpnReg]) normalInit(m, { std: 0.01 });
  }

  /** One level: `relu(rpn_conv(x))` → `[rpn_cls, rpn_reg]`. */
  override forwardSingle(x: Tensor): [Tensor, Tensor] {
    let h = x;
    if (this.rpnConv instanceof ModuleList) {
      // ConvModule (conv + ReLU) per layer; mmdetection's extra F.relu after them is the identity
      for (const m of this.rpnConv.items) h = m.forward(h);
    } else h = this.rpnConv.forward(x, "relu");
    return [this.rpnCls.forward(h), this.rpnReg.forward(h)];
  }

  /**
   * mmdetection's `RPNHead.loss`: `AnchorHead.loss` without gt labels (every positive is class
   * 0), renamed `loss_rpn_cls` / `loss_rpn_bbox` (per level).
   */
  lossRpn(
    clsScores: Tensor[],
    bboxPreds: Tensor[],
    gtBboxes: readonly Float32Array[],
    imgMetas: readonly ImgMeta[],
    gtBboxesIgnore: readonly (Float32Array | null)[] | null = null,
  ): { loss_rpn_cls: Tensor[]; loss_rpn_bbox: Tensor[] } {
    const l = this.loss(clsScores, bboxPreds, gtBboxes, null, imgMetas, gtBboxesIgnore);
    return { loss_rpn_cls: l.loss_cls, loss_rpn_bbox: l.loss_bbox };
  }

  /**
   * mmdetection's `RPNHead.forward_train` of a two-stage detector: losses, and with
   * `proposalCfg` (`train_cfg.rpn_proposal`) the proposals of the batch on the GPU (computed
   * from detached predictions; no readback).
   */
  forwardTrainRpn(
    x: Tensor[],
    imgMetas: ImgMeta[],
    gtBboxes: Float32Array[],
    gtBboxesIgnore: (Float32Array | null)[] | null = null,
    proposalCfg: RpnTestCfg | null = null,
  ): {
    losses: { loss_rpn_cls: Tensor[]; loss_rpn_bbox: Tensor[] };
    proposals: ProposalsGpu | null;
  } {
    const [cls, reg] = this.forward(x);
    const losses = this.lossRpn(cls, reg, gtBboxes, imgMetas, gtBboxesIgnore);
    const proposals = proposalCfg
      ? noGrad(() => this.getProposalsGpu(cls, reg, imgMetas, proposalCfg))
      : null;
    return { losses, proposals };
  }

  /** Proposal settings with mmdetection v2.25's defaults; refuses the deprecated keys. */
  static proposalSettings(c: RpnTestCfg | null | undefined):
    & Required<
      Pick<RpnTestCfg, "nms_pre" | "max_per_img" | "min_bbox_size">
    >
    & { iouThreshold: number } {
    const cfg = c ?? {};
    if (cfg.max_num != null || cfg.nms_thr != null) {
      throw new RangeError(
        `Cannot make proposals: test_cfg keys "max_num"/"nms_thr" are deprecated in mmdetection 2.x: use "max_per_img" and nms=dict(type="nms", iou_threshold=...)`,
      );
    }
    if (cfg.nms?.type != null && cfg.nms.type !== "nms") {
      throw new RangeError(
        `Cannot make proposals: nms type "${cfg.nms.type}" is not supported: use "nms"`,
      );
    }
    return {
      nms_pre: cfg.nms_pre ?? 1000,
      max_per_img: cfg.max_per_img ?? 1000,
      min_bbox_size: cfg.min_bbox_size ?? 0,
      iouThreshold: cfg.nms?.iou_threshold ?? cfg.nms?.iou_thr ?? 0.7,
    };
  }

  /**
   * Proposals of every image on the GPU (mmdetection v2.25 `RPNHead._get_bboxes_single` without
   * rescale), padded to `max_per_img` rows, no readback.
   *
   * @param cfg `test_cfg` (default: the head's) or `train_cfg.rpn_proposal`.
   */
  getProposalsGpu(
    clsScores: Tensor[],
    bboxPreds: Tensor[],
    imgMetas: readonly ImgMeta[],
    cfg: RpnTestCfg | null = null,
  ): ProposalsGpu {
    const s = RPNHead.proposalSettings(cfg ?? this.rpnTestCfg);
    const set = this.getAnchors(clsScores.map((c) => [c.shape[2], c.shape[3]] as FeatmapSize));
    const settings = {
      ...this.inferenceSettings({
        nms_pre: s.nms_pre,
        score_thr: -3.4028234663852886e38,
        max_per_img: s.max_per_img,
      }),
    };
    const levelK: number[] = [];
    const cand = selectCandidates(clsScores, bboxPreds, set, imgMetas, settings, {
      rescale: false,
      flipBack: false,
      levelK,
    });
    const starts = levelK.map((_, l) => levelK.slice(0, l).reduce((a, b) => a + b, 0));
    try {
      const r = rpnProposals(cand.boxes, cand.scores, {
        levelStarts: starts,
        iouThreshold: s.iouThreshold,
        minBboxSize: s.min_bbox_size,
        maxPerImg: s.max_per_img,
      });
      return {
        proposals: new Tensor(r.proposals),
        valid: new Tensor(r.valid),
        counts: new Tensor(r.counts),
        capacity: r.valid.shape[1],
      };
    } finally {
      cand.boxes.release();
      cand.scores.release();
      cand.labels?.release();
    }
  }

  /**
   * Proposals per image read back (`[k, 5]` rows, score-descending; labels all 0). With `rescale`
   * the boxes are divided by `scale_factor` after NMS, as mmdetection's `RPN.simple_test`.
   */
  override async getBboxes(
    clsScores: Tensor[],
    bboxPreds: Tensor[],
    imgMetas: readonly ImgMeta[],
    opts: GetBboxesOptions = {},
  ): Promise<HeadDetections[]> {
    const p = this.getProposalsGpu(clsScores, bboxPreds, imgMetas, opts.cfg as RpnTestCfg);
    try {
      const [rows, counts] = await getGpu().readMany([p.proposals.raw, p.counts.raw]) as [
        Float32Array,
        Uint32Array,
      ];
      const M = p.capacity;
      return imgMetas.map((m, n) => {
        const k = counts[n];
        const bboxes = rows.slice(n * M * 5, (n * M + k) * 5);
        if (opts.rescale) {
          const sf = m.scale_factor ?? 1;
          const s4 = typeof sf === "number"
            ? [sf, sf, sf, sf]
            : sf.length === 2
            ? [sf[0], sf[1], sf[0], sf[1]]
            : sf;
          for (let r = 0; r < k; r++) {
            for (let c = 0; c < 4; c++) {
              bboxes[r * 5 + c] = Math.fround(bboxes[r * 5 + c] / Math.fround(s4[c]));
            }
          }
        }
        return { bboxes, labels: new Int32Array(k) };
      });
    } finally {
      for (const t of [p.proposals, p.valid, p.counts]) t.dispose();
    }
  }

  /** `forward` without the tape, then `getBboxes` (mmdetection's `simple_test_rpn`). */
  override async simpleTest(
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
   * mmdetection v2.25's `aug_test_rpn` for a batch of one image per augmentation: each
   * augmentation's proposals (`test_cfg`, in its own frame) are mapped back to the original image
   * (flip undone, divided by `scale_factor`: `merge_aug_proposals`), concatenated and put through
   * NMS again (`test_cfg.nms.iou_threshold`, one class), keeping the best `max_per_img`. All on
   * the GPU; the result is `[1, max_per_img, 5]` padded rows in original-image pixels.
   */
  augTestRpn(featsList: readonly Tensor[][], imgMetas: readonly ImgMeta[][]): ProposalsGpu {
    if (featsList.length === 0 || featsList.length !== imgMetas.length) {
      throw new TypeError(
        `Cannot run aug_test_rpn: ${featsList.length} augmentations but ${imgMetas.length} img_metas lists`,
      );
    }
    featsList.forEach((feats, i) => {
      if (feats[0].shape[0] !== 1 || imgMetas[i].length !== 1) {
        throw new TypeError(
          `Cannot run aug_test_rpn: augmentation ${i} holds ${
            feats[0].shape[0]
          } images: test-time augmentation takes one image per augmentation`,
        );
      }
    });
    const s = RPNHead.proposalSettings(this.rpnTestCfg);
    const parts: ProposalsGpu[] = [];
    try {
      for (const [i, feats] of featsList.entries()) {
        parts.push(noGrad(() =>
          tidy(() => {
            const [cls, reg] = this.forward(feats);
            return this.getProposalsGpu(cls, reg, imgMetas[i], this.rpnTestCfg);
          })
        ));
      }
      return mergeAugProposalsGpu(
        parts,
        imgMetas.map((m, i) => augFrameOf(m[0], `img_metas[${i}][0]`)),
        { iouThreshold: s.iouThreshold, maxPerImg: s.max_per_img },
      );
    } finally {
      for (const p of parts) for (const t of [p.proposals, p.valid, p.counts]) t.dispose();
    }
  }

  /**
   * mmdetection v2.25's `RPN.aug_test`: the merged proposals of `augTestRpn` (one `[k, 5]` array
   * per image, labels all 0), in original-image pixels with `rescale`, else mapped into the first
   * augmentation's frame (`bbox_mapping`).
   */
  override async augTest(
    featsList: Tensor[][],
    imgMetas: ImgMeta[][],
    opts: { rescale?: boolean } = {},
  ): Promise<HeadDetections[]> {
    const p = this.augTestRpn(featsList, imgMetas);
    const mapped = opts.rescale
      ? null
      : mapProposalsToRois(p.proposals.raw, p.valid.raw, augFrameOf(imgMetas[0][0]));
    try {
      const [props, counts, rois] = await getGpu().readMany(
        [p.proposals.raw, p.counts.raw, ...(mapped ? [mapped] : [])],
      ) as [Float32Array, Uint32Array, Float32Array | undefined];
      const k = counts[0];
      const bboxes = props.slice(0, k * 5);
      if (rois) {
        // RoI rows hold (0, x1, y1, x2, y2): the boxes in the first augmentation's frame
        for (let r = 0; r < k; r++) bboxes.set(rois.subarray(r * 5 + 1, r * 5 + 5), r * 5);
      }
      return [{ bboxes, labels: new Int32Array(k) }];
    } finally {
      mapped?.release();
      for (const t of [p.proposals, p.valid, p.counts]) t.dispose();
    }
  }
}

HEADS.register("RPNHead", RPNHead);
