/**
 * The test-time half of `AnchorHead` (spec §2.10) on the GPU: per level scores and top-`nms_pre`,
 * box decoding (clipped to `img_shape`, optionally flipped back and divided by `scale_factor`),
 * then class-wise bitmask NMS and `max_per_img` (`lib/ops/nms.ts`). The two top-k rules:
 * - `"v2.11"` (mmdetection ≤ 2.17, default): per level the `nms_pre` anchors with the highest
 *   max-over-classes score (all anchors, in order, when a level has no more than `nms_pre`),
 *   then every (anchor, class) pair with score `> score_thr` goes to `multiclass_nms`;
 * - `"v2.18"`: per level the `nms_pre` best (anchor, class) pairs with score `> score_thr`, sorted,
 *   then `batched_nms`.
 *
 * @module
 */
import type { Tensor } from "../../autograd/tensor.ts";
import { getGpu } from "../../gpu/runtime.ts";
import type { RawTensor } from "../../gpu/raw_tensor.ts";
import { decodeSelectedInto, levelScoresInto } from "../../ops/bbox.ts";
import { concat } from "../../ops/copy.ts";
import { batchedNmsGpu } from "../../ops/nms.ts";
import { topkSegments } from "../../ops/topk.ts";
import type { ImgMeta } from "../detectors/base.ts";
import type { HeadDetections } from "../detectors/single_stage.ts";
import type { AnchorSet } from "./anchor_head_targets.ts";

/** `test_cfg` of anchor heads (mmdetection keys, plus wgdet's `topk_rule`). */
export interface AnchorHeadTestCfg {
  /** Candidates per level before NMS (≤ 0: all). Default −1. */
  nms_pre?: number;
  /** Unused by anchor heads (as in mmdetection). */
  min_bbox_size?: number;
  /** Scores must be `>` this (strict). Default 0. */
  score_thr?: number;
  /**
   * NMS settings: `iou_threshold` (or `iou_thr`, default 0.5), `split_thr` (default 10000),
   * `class_agnostic` (default false).
   */
  nms?: {
    type?: string;
    iou_threshold?: number;
    iou_thr?: number;
    split_thr?: number;
    class_agnostic?: boolean;
  };
  /** Detections kept per image. Default 100. */
  max_per_img?: number;
  /**
   * wgdet: the pre-NMS top-k rule. `"v2.11"` (default; mmdetection ≤ 2.17, the version of the
   * published RetinaNet numbers): top `nms_pre` anchors by max-over-classes score. `"v2.18"`:
   * top `nms_pre` (anchor, class) pairs above `score_thr`.
   */
  topk_rule?: "v2.11" | "v2.18";
}

/** Everything test time needs from the head and its `test_cfg`. */
export interface InferenceSettings {
  /** Number of object classes, without background. */
  numClasses: number;
  /** Whether scores are per-class sigmoids (else softmax with a background column). */
  useSigmoid: boolean;
  /** Anchors per feature-map cell. */
  numAnchors: number;
  /** Anchors per cell of each level when they differ (SSD); absent: `numAnchors` everywhere. */
  levelNumAnchors?: number[];
  /** ≤ 0: no top-k. */
  nmsPre: number;
  /** Scores must be `>` this (strict). */
  scoreThr: number;
  /** NMS IoU threshold. */
  iouThreshold: number;
  /**
   * Above this many candidates per image NMS runs per (image, class) instead of the offset trick.
   */
  splitThr: number;
  /** Whether NMS ignores class labels. */
  classAgnostic: boolean;
  /** ≤ 0: keep all. */
  maxPerImg: number;
  /** The pre-NMS top-k rule (see `AnchorHeadTestCfg.topk_rule`). */
  topkRule: "v2.11" | "v2.18";
  /** Box coder target means (4 values). */
  means: number[];
  /** Box coder target stds (4 values). */
  stds: number[];
  /** Whether decoded boxes are clipped to `img_shape`. */
  clipBorder: boolean;
  /** The coder's decoding: plain DeltaXYWH, with `add_ctr_clamp`, or the legacy (+1) one. */
  coder: "delta" | "ctr_clamp" | "legacy";
  /** `ctr_clamp` in pixels (used with `coder: "ctr_clamp"`). */
  ctrClamp: number;
}

/** Decoded candidate rows of a batch: boxes `[N, K, 4]`, scores `[N, K, S]`, labels `[N, K]` (v2.18). */
export interface Candidates {
  boxes: RawTensor;
  scores: RawTensor;
  labels: RawTensor | null;
}

const FLIP: Record<string, number> = { horizontal: 1, vertical: 2, diagonal: 3 };

/** Per image 8 f32: img_h, img_w, scale factors (4), flip code, 0. */
function metaTable(metas: readonly ImgMeta[], flipBack: boolean): Float32Array {
  const out = new Float32Array(metas.length * 8);
  metas.forEach((m, i) => {
    const shape = m.img_shape;
    if (!Array.isArray(shape) || shape.length < 2) {
      throw new TypeError(`Cannot decode boxes of image ${i}: img_meta has no img_shape`);
    }
    const sf = m.scale_factor ?? 1;
    const s4 = typeof sf === "number"
      ? [sf, sf, sf, sf]
      : sf.length === 2
      ? [sf[0], sf[1], sf[0], sf[1]]
      : sf;
    const flip = flipBack && m.flip ? FLIP[m.flip_direction ?? "horizontal"] ?? 1 : 0;
    out.set([shape[0], shape[1], s4[0], s4[1], s4[2], s4[3], flip, 0], i * 8);
  });
  return out;
}

/**
 * Stage 1: per level scores, top-k and decoding, all images at once, no readback. `levelK` gets
 * the candidates each level contributes per image (in order).
 */
export function selectCandidates(
  cls: readonly Tensor[],
  reg: readonly Tensor[],
  set: AnchorSet,
  metas: readonly ImgMeta[],
  s: InferenceSettings,
  opts: { rescale: boolean; flipBack: boolean; levelK?: number[] },
): Candidates {
  const gpu = getGpu();
  const N = cls[0].shape[0], C = s.numClasses, A = s.numAnchors, L = cls.length;
  const Atot = set.numLevelAnchors.reduce((a, b) => a + b, 0);
  const pairs = s.topkRule === "v2.18";
  const S = pairs ? 1 : C;
  const vals = gpu.empty([N, pairs ? Atot * C : Atot], "f32", "test_scores");
  cls.forEach((c, l) => {
    levelScoresInto(c.raw, vals, {
      numAnchors: s.levelNumAnchors?.[l] ?? A,
      numClasses: C,
      rows: Atot,
      start: set.levelStarts[l],
      scoreThr: s.scoreThr,
      pairs,
      sigmoid: s.useSigmoid,
    });
  });
  const segs = [];
  for (let l = 0; l < L; l++) {
    for (let n = 0; n < N; n++) {
      const w = pairs ? C : 1;
      segs.push({
        start: (n * Atot + set.levelStarts[l]) * w,
        len: set.numLevelAnchors[l] * w,
        k: s.nmsPre,
      });
    }
  }
  const top = topkSegments(vals, segs, { keepOrder: !pairs });
  vals.release();
  const ks = Array.from({ length: L }, (_, l) => top.counts[l * N]);
  const K = ks.reduce((a, b) => a + b, 0);
  opts.levelK?.push(...ks);
  const out: Candidates = {
    boxes: gpu.empty([N, K, 4], "f32", "cand_boxes"),
    scores: gpu.empty([N, K, S], "f32", "cand_scores"),
    labels: pairs ? gpu.empty([N, K], "i32", "cand_labels") : null,
  };
  const labelSink = out.labels ?? gpu.empty([4], "i32", "cand_labels_sink");
  const meta = gpu.upload(metaTable(metas, opts.flipBack), [N, 8], "f32", "img_metas");
  let kOff = 0;
  for (let l = 0; l < L; l++) {
    decodeSelectedInto(
      {
        anchors: set.anchors.raw,
        cls: cls[l].raw,
        reg: reg[l].raw,
        sel: top.sel,
        perm: top.perm,
        meta,
      },
      { boxes: out.boxes, scores: out.scores, labels: labelSink },
      {
        numAnchors: s.levelNumAnchors?.[l] ?? A,
        numClasses: C,
        k: ks[l],
        kOff,
        selOff: top.offsets[l * N],
        start: set.levelStarts[l],
        rescale: opts.rescale,
        clip: s.clipBorder,
        coder: s.coder,
        ctrClamp: s.ctrClamp,
        pairs,
        sigmoid: s.useSigmoid,
        means: s.means,
        stds: s.stds,
      },
    );
    kOff += ks[l];
  }
  if (!out.labels) labelSink.release();
  for (const t of [meta, top.sel, top.perm]) t.release();
  return out;
}

/** Stage 2: class-wise NMS and `max_per_img`, one readback of counts and one of results. */
async function nmsStage(c: Candidates, s: InferenceSettings): Promise<HeadDetections[]> {
  try {
    const r = await batchedNmsGpu({
      boxes: c.boxes,
      scores: c.scores,
      labels: c.labels,
      numClasses: s.numClasses,
    }, {
      scoreThr: s.scoreThr,
      iouThreshold: s.iouThreshold,
      splitThr: s.splitThr,
      classAgnostic: s.classAgnostic,
      maxNum: s.maxPerImg,
    });
    return r.map((d) => ({ bboxes: d.dets, labels: d.labels }));
  } finally {
    c.boxes.release();
    c.scores.release();
    c.labels?.release();
  }
}

/**
 * Detections of every image of a batch (mmdetection's `get_bboxes` with NMS).
 *
 * @param cls per level `[N, A·C, H, W]` logits; `reg` per level `[N, A·4, H, W]` deltas.
 */
export function getBboxesGpu(
  cls: readonly Tensor[],
  reg: readonly Tensor[],
  set: AnchorSet,
  metas: readonly ImgMeta[],
  s: InferenceSettings,
  opts: { rescale: boolean },
): Promise<HeadDetections[]> {
  if (cls.length !== reg.length || cls.length !== set.numLevelAnchors.length) {
    throw new TypeError(
      `Cannot decode boxes: ${cls.length} score levels, ${reg.length} box levels and ${set.numLevelAnchors.length} anchor levels`,
    );
  }
  if (metas.length !== cls[0].shape[0]) {
    throw new TypeError(
      `Cannot decode boxes: ${metas.length} img_metas for a batch of ${cls[0].shape[0]}`,
    );
  }
  return nmsStage(
    selectCandidates(cls, reg, set, metas, s, { rescale: opts.rescale, flipBack: false }),
    s,
  );
}

/**
 * mmdetection's `aug_test_bboxes`: each augmentation's candidates (one image each) are mapped back
 * to the original image, concatenated, and put through one multi-class NMS; without `rescale`
 * the detections are scaled to the first augmentation's resized image.
 */
export async function augTestGpu(
  outs: readonly [Tensor[], Tensor[]][],
  sets: readonly AnchorSet[],
  metasList: readonly ImgMeta[][],
  s: InferenceSettings,
  opts: { rescale: boolean },
): Promise<HeadDetections[]> {
  if (outs.length === 0 || outs.length !== metasList.length) {
    throw new TypeError(
      `Cannot run augTest: ${outs.length} augmentations but ${metasList.length} img_metas lists`,
    );
  }
  for (const [cls] of outs) {
    if (cls[0].shape[0] !== 1) {
      throw new TypeError(
        `Cannot run augTest: each augmentation must hold one image, got ${cls[0].shape[0]}`,
      );
    }
  }
  const parts = outs.map(([cls, reg], i) =>
    selectCandidates(cls, reg, sets[i], metasList[i], s, { rescale: true, flipBack: true })
  );
  const cat = (
    xs: RawTensor[],
  ) => (xs.length === 1 ? getGpu().view(xs[0], xs[0].shape) : concat(xs, 1));
  const merged: Candidates = {
    boxes: cat(parts.map((p) => p.boxes)),
    scores: cat(parts.map((p) => p.scores)),
    labels: parts[0].labels ? cat(parts.map((p) => p.labels!)) : null,
  };
  for (const p of parts) for (const t of [p.boxes, p.scores, p.labels]) t?.release();
  const dets = await nmsStage(merged, s);
  if (opts.rescale) return dets;
  const sf = metasList[0][0].scale_factor ?? 1;
  const s4 = typeof sf === "number"
    ? [sf, sf, sf, sf]
    : sf.length === 2
    ? [sf[0], sf[1], sf[0], sf[1]]
    : sf;
  for (const d of dets) {
    for (let r = 0; r < d.labels.length; r++) {
      for (let c = 0; c < 4; c++) d.bboxes[r * 5 + c] = Math.fround(d.bboxes[r * 5 + c] * s4[c]);
    }
  }
  return dets;
}

/** The inference settings of a head for `cfg` (its `test_cfg` or an override). */
export function inferenceSettingsOf(
  head: {
    numClasses: number;
    useSigmoidCls: boolean;
    numAnchors: number;
    bboxCoder: {
      means: ArrayLike<number>;
      stds: ArrayLike<number>;
      clipBorder: boolean;
      addCtrClamp?: boolean;
      ctrClamp?: number;
      gpuEncoding?(): { kind: "delta" | "legacy" };
    };
  },
  c: AnchorHeadTestCfg,
): InferenceSettings {
  const rule = c.topk_rule ?? "v2.11";
  // the legacy coder clips to [0, w - 1] x [0, h - 1] whenever max_shape is given (always at test)
  const legacy = head.bboxCoder.gpuEncoding?.().kind === "legacy";
  if (rule !== "v2.11" && rule !== "v2.18") {
    throw new RangeError(
      `Cannot decode boxes: test_cfg.topk_rule "${rule}" is not one of "v2.11", "v2.18"`,
    );
  }
  return {
    numClasses: head.numClasses,
    useSigmoid: head.useSigmoidCls,
    numAnchors: head.numAnchors,
    nmsPre: c.nms_pre ?? -1,
    scoreThr: c.score_thr ?? 0,
    iouThreshold: c.nms?.iou_threshold ?? c.nms?.iou_thr ?? 0.5,
    splitThr: c.nms?.split_thr ?? 10000,
    classAgnostic: c.nms?.class_agnostic ?? false,
    maxPerImg: c.max_per_img ?? 100,
    topkRule: rule,
    means: Array.from(head.bboxCoder.means),
    stds: Array.from(head.bboxCoder.stds),
    clipBorder: legacy || head.bboxCoder.clipBorder,
    coder: legacy ? "legacy" : head.bboxCoder.addCtrClamp ? "ctr_clamp" : "delta",
    ctrClamp: head.bboxCoder.ctrClamp ?? 32,
  };
}
