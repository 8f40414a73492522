/**
 * The anchor and target half of `AnchorHead` (mmdetection's `get_anchors` / `get_targets`), on the
 * GPU for the whole batch: anchors uploaded once per feature-map size set and cached, valid flags
 * from each image's `pad_shape` by a kernel, ground truths uploaded in one step pack, then the
 * head's assigner, sampler and coder composed as GPU stages (`lib/core/bbox/gpu_stages.ts`) — or,
 * for `MaxIoUAssigner` + `PseudoSampler` + `DeltaXYWHBBoxCoder` when asked, the fused kernel —
 * with `num_total_pos` kept on the GPU. Nothing here reads back.
 *
 * @module
 */
import * as F from "../../autograd/functional.ts";
import { keep, Tensor } from "../../autograd/tensor.ts";
import type { AnchorGenerator, FeatmapSize } from "../../core/anchor/anchor_generator.ts";
import { filterDegenerateGts } from "../../core/bbox/transforms.ts";
import { getGpu } from "../../gpu/runtime.ts";
import type { RawTensor } from "../../gpu/raw_tensor.ts";
import { anchorFlags, levelTable } from "../../ops/bbox.ts";
import { splitRows } from "../../ops/copy.ts";
import {
  assignTargets,
  type AssignTargetsOptions,
  packTargetInputs,
  targetNormalisersInto,
} from "../../ops/targets.ts";
import { MaxIoUAssigner } from "../../core/bbox/assigners/max_iou_assigner.ts";
import {
  denseTargetsGpu,
  type GpuAssigner,
  type GpuCoder,
  type GpuSampler,
} from "../../core/bbox/gpu_stages.ts";
import { PseudoSampler } from "../../core/bbox/samplers/pseudo_sampler.ts";
import {
  DeltaXYWHBBoxCoder,
  LegacyDeltaXYWHBBoxCoder,
} from "../../core/bbox/coders/delta_xywh_bbox_coder.ts";
import type { TypedCfg } from "../../utils/registry.ts";
import type { ImgMeta } from "../detectors/base.ts";

/** The anchors of one feature-map size set, on the GPU (owned by the cache: do not dispose). */
export interface AnchorSet {
  /** `[A, 4]` f32 xyxy, levels concatenated, row `start_l + (y·W + x)·A_cell + a`. */
  anchors: Tensor;
  /** `[L, 4]` u32: start, H, W, anchors per cell, per level. */
  levels: Tensor;
  /** The `[H, W]` feature-map size of each level the set was built for. */
  featmapSizes: FeatmapSize[];
  /** Anchors per level (`H·W·A_cell`). */
  numLevelAnchors: number[];
  /** First anchor of each level. */
  levelStarts: number[];
  /** The CPU anchors per level (`[A_l, 4]`), as the generator made them. */
  hostAnchors: Float32Array[];
}

/** Keeps the GPU anchors of the last few feature-map size sets (multi-scale training has several). */
export class AnchorCache {
  #sets = new Map<string, AnchorSet>();
  readonly capacity: number;

  constructor(capacity = 16) {
    this.capacity = capacity;
  }

  /** The anchors for `featmapSizes`, uploaded on first use. */
  get(gen: AnchorGenerator, featmapSizes: FeatmapSize[]): AnchorSet {
    const key = featmapSizes.map(([h, w]) => `${h}x${w}`).join(",");
    let set = this.#sets.get(key);
    if (set) {
      this.#sets.delete(key); // re-insert: most recently used last
      this.#sets.set(key, set);
      return set;
    }
    const hostAnchors = gen.gridAnchors(featmapSizes);
    const numLevelAnchors = hostAnchors.map((a) => a.length / 4);
    const levelStarts = numLevelAnchors.map((_, i) =>
      numLevelAnchors.slice(0, i).reduce((s, n) => s + n, 0)
    );
    const total = numLevelAnchors.reduce((s, n) => s + n, 0);
    const flat = new Float32Array(total * 4);
    hostAnchors.forEach((a, i) => flat.set(a, levelStarts[i] * 4));
    const table = levelTable(
      featmapSizes.map(([h, w], i) => ({
        start: levelStarts[i],
        featH: h,
        featW: w,
        numBase: gen.numBaseAnchors[i],
      })),
    );
    set = {
      anchors: keep(Tensor.from(flat, [total, 4], { label: "anchors" })),
      levels: keep(
        Tensor.from(table, [featmapSizes.length, 4], { dtype: "u32", label: "anchor_levels" }),
      ),
      featmapSizes: featmapSizes.map(([h, w]) => [h, w] as FeatmapSize),
      numLevelAnchors,
      levelStarts,
      hostAnchors,
    };
    this.#sets.set(key, set);
    while (this.#sets.size > this.capacity) {
      const [oldKey, old] = this.#sets.entries().next().value!;
      this.#sets.delete(oldKey);
      old.anchors.dispose();
      old.levels.dispose();
    }
    return set;
  }

  /** Releases every cached set. */
  dispose(): void {
    for (const s of this.#sets.values()) {
      s.anchors.dispose();
      s.levels.dispose();
    }
    this.#sets.clear();
  }
}

/** Per level `[min(ceil(h / s_h), H_l), min(ceil(w / s_w), W_l)]` for `padShape = [h, w, …]` (spec §2.3). */
export function validSizes(
  gen: AnchorGenerator,
  featmapSizes: FeatmapSize[],
  padShape: readonly number[],
): [number, number][] {
  const [h, w] = padShape;
  return featmapSizes.map(([fh, fw], i) => {
    const [sw, sh] = gen.strides[i];
    return [Math.min(Math.ceil(h / sh), fh), Math.min(Math.ceil(w / sw), fw)];
  });
}

function imageName(meta: ImgMeta, i: number): string {
  const name = meta.ori_filename ?? meta.filename;
  return typeof name === "string" ? name : `#${i} of the batch`;
}

/** `train_cfg` of anchor heads (mmdetection keys). */
export interface AnchorHeadTrainCfg {
  /** Assigner config (any `BBOX_ASSIGNERS` entry with a GPU stage, e.g. `MaxIoUAssigner`). */
  assigner: TypedCfg;
  /**
   * Sampler config (`PseudoSampler`, `RandomSampler`); unused with focal-style losses, which
   * always use `PseudoSampler` (mmdetection's rule). Default `PseudoSampler`.
   */
  sampler?: TypedCfg;
  /** −1 (default): valid flags only. */
  allowed_border?: number;
  /** ≤ 0 (default −1): positives get label weight 1. */
  pos_weight?: number;
  /** Accepted and ignored (mmdetection's debug flag). */
  debug?: boolean;
}

/** Settings of {@linkcode getTargetsGpu}: the assigner and `train_cfg` keys, camelCased. */
export interface TargetSettings extends AssignTargetsOptions {
  /** `train_cfg.allowed_border` (−1: valid flags only). */
  allowedBorder: number;
  /** `MaxIoUAssigner.ignore_iof_thr` (≤ 0: ignore boxes unused). */
  ignoreIofThr: number;
  ignoreWrtCandidates: boolean;
}

/** The strategies `getTargetsGpu` composes. */
export interface TargetStrategies {
  assigner: GpuAssigner & { ignoreIofThr?: number; ignoreWrtCandidates?: boolean };
  sampler: GpuSampler;
  coder: GpuCoder;
  /** Use the fused MaxIoU + Pseudo + DeltaXYWH kernel (only valid for exactly those). */
  fused: boolean;
  /** u32 seed of this step's random sampling. */
  seed: number;
}

/**
 * Whether the fused kernel implements these strategies exactly: `MaxIoUAssigner`, `PseudoSampler`
 * and the (non-legacy) `DeltaXYWHBBoxCoder`.
 */
export function fusedTargetsApply(st: Omit<TargetStrategies, "fused" | "seed">): boolean {
  return st.assigner instanceof MaxIoUAssigner && st.sampler instanceof PseudoSampler &&
    st.coder instanceof DeltaXYWHBBoxCoder && !(st.coder instanceof LegacyDeltaXYWHBBoxCoder);
}

/** Targets of all anchors of all images (`[N, A]`, `[N, A, 4]`), as tensors without gradients. */
export interface BatchTargets {
  /** `[N, A]` i32: gt label of positives, `numClasses` otherwise. */
  labels: Tensor;
  /**
   * `[N, A]` f32: 1 (or `pos_weight`) for positives and negatives, 0 for ignored or outside
   * anchors.
   */
  labelWeights: Tensor;
  /**
   * `[N, A, 4]` f32: encoded deltas (decoded-box targets with `reg_decoded_bbox`) of positives, 0
   * otherwise.
   */
  bboxTargets: Tensor;
  /** `[N, A, 4]` f32: 1 for positives, 0 otherwise. */
  bboxWeights: Tensor;
  /** `[N, A, 2]` i32: `gt_inds` and the f32 bits of `max_overlaps`. */
  assign: Tensor;
  /** `[N, 2]` u32: sampled positives and negatives per image. */
  counts: Tensor;
  /** `[N, A]` u32: 0 unused, 1 sampled positive, 2 sampled negative (composed path; null when fused). */
  sampled: Tensor | null;
  /** `[N, A]` u32 anchor flags (0 outside, 1 inside, 2 ignore region). */
  flags: Tensor;
  /** `[]` f32 Σ max(#pos, 1) and Σ max(#neg, 1). */
  numTotalPos: Tensor;
  /** `[]` f32 Σ over images of max(#neg, 1). */
  numTotalNeg: Tensor;
}

/**
 * Builds the targets of a batch on the GPU. Degenerate gts (zero or negative width or height,
 * non-finite) are dropped on the CPU first with one warning per image naming it; labels are
 * checked to lie in `[0, numClasses)`.
 *
 * @param gtBboxes per image `[k, 4]` xyxy in the padded input's pixels.
 * @param gtLabels per image `[k]` (null: all 0, as an RPN).
 */
export function getTargetsGpu(
  set: AnchorSet,
  gen: AnchorGenerator,
  data: {
    gtBboxes: readonly Float32Array[];
    gtLabels: readonly Int32Array[] | null;
    imgMetas: readonly ImgMeta[];
    gtBboxesIgnore?: readonly (Float32Array | null)[] | null;
  },
  s: TargetSettings,
  warn: (message: string) => void = console.warn,
  st: TargetStrategies | null = null,
): BatchTargets {
  const N = data.imgMetas.length;
  if (data.gtBboxes.length !== N || (data.gtLabels && data.gtLabels.length !== N)) {
    throw new TypeError(
      `Cannot build targets: ${N} img_metas but ${data.gtBboxes.length} gt_bboxes and ${
        data.gtLabels?.length ?? "no"
      } gt_labels lists`,
    );
  }
  const boxes: Float32Array[] = [], labels: Int32Array[] = [];
  for (let i = 0; i < N; i++) {
    const b = data.gtBboxes[i];
    if (!(b instanceof Float32Array) || b.length % 4 !== 0) {
      throw new TypeError(
        `Cannot build targets of image "${
          imageName(data.imgMetas[i], i)
        }": gt_bboxes must be a Float32Array [k, 4]`,
      );
    }
    const l = data.gtLabels ? data.gtLabels[i] : new Int32Array(b.length / 4);
    const f = filterDegenerateGts(b, l, { imageName: imageName(data.imgMetas[i], i), warn });
    for (const v of f.labels) {
      if (!(v >= 0 && v < s.numClasses)) {
        throw new RangeError(
          `Cannot build targets of image "${
            imageName(data.imgMetas[i], i)
          }": gt label ${v} is outside [0, ${s.numClasses}): check num_classes and the dataset classes`,
        );
      }
    }
    boxes.push(f.bboxes);
    labels.push(f.labels);
  }
  const metaShape = (m: ImgMeta, key: "pad_shape" | "img_shape", i: number): number[] => {
    const v = m[key] ?? m.img_shape;
    if (!Array.isArray(v) || v.length < 2) {
      throw new TypeError(
        `Cannot build targets of image "${imageName(m, i)}": img_meta has no ${key}`,
      );
    }
    return v;
  };
  const useIgnore = s.ignoreIofThr > 0 && !!data.gtBboxesIgnore;
  const packed = packTargetInputs({
    gtBboxes: boxes,
    gtLabels: labels,
    gtBboxesIgnore: useIgnore ? data.gtBboxesIgnore : null,
    validSizes: data.imgMetas.map((m, i) =>
      validSizes(gen, set.featmapSizes, metaShape(m, "pad_shape", i))
    ),
    imgShapes: data.imgMetas.map((m, i) => metaShape(m, "img_shape", i)),
  });
  const gpu = getGpu();
  const pack = {
    data: gpu.upload(packed.data, [packed.data.length], "u32", "target_pack"),
    layout: packed.layout,
  };
  const flags = anchorFlags(set.anchors.raw, set.levels.raw, pack, {
    allowedBorder: s.allowedBorder,
    ignoreIofThr: useIgnore ? s.ignoreIofThr : -1,
    ignoreWrtCandidates: s.ignoreWrtCandidates,
  });
  const w = (r: RawTensor) => new Tensor(r);
  if (!st || st.fused) {
    if (st && !fusedTargetsApply(st)) {
      throw new RangeError(
        "Cannot build targets with the fused kernel: it implements MaxIoUAssigner + PseudoSampler + DeltaXYWHBBoxCoder only; set fused targets off",
      );
    }
    const t = assignTargets(set.anchors.raw, flags, pack, s);
    pack.data.release();
    return {
      labels: w(t.labels),
      labelWeights: w(t.labelWeights),
      bboxTargets: w(t.bboxTargets),
      bboxWeights: w(t.bboxWeights),
      assign: w(t.assign),
      counts: w(t.counts),
      sampled: null,
      flags: w(flags),
      numTotalPos: w(t.numTotalPos),
      numTotalNeg: w(t.numTotalNeg),
    };
  }
  const gts = {
    pack: w(pack.data),
    layout: pack.layout,
    gtCounts: boxes.map((b) => b.length / 4),
  };
  const input = { boxes: set.anchors, flags: w(flags), gts };
  const a = st.assigner.assignGpu(input);
  const smp = st.sampler.sampleGpu(a, { input, seed: st.seed });
  const t = denseTargetsGpu(smp, gts, st.coder, {
    numClasses: s.numClasses,
    posWeight: s.posWeight,
    regDecoded: s.regDecodedBbox,
  });
  const numTotalPos = gpu.empty([], "f32", "num_total_pos");
  const numTotalNeg = gpu.empty([], "f32", "num_total_neg");
  targetNormalisersInto(smp.counts.raw, numTotalPos, numTotalNeg);
  if (smp.counts !== a.counts) a.counts.dispose();
  gts.pack.dispose();
  return {
    ...t,
    assign: smp.assign,
    counts: smp.counts,
    sampled: smp.sampled,
    flags: input.flags,
    numTotalPos: w(numTotalPos),
    numTotalNeg: w(numTotalNeg),
  };
}

/** One level's targets, `[N, A_l]` / `[N, A_l, 4]` (mmdetection's `images_to_levels`). */
export interface LevelTargets {
  /** `[N, A_l]` i32: gt label of positives, `numClasses` otherwise. */
  labels: Tensor;
  /** `[N, A_l]` f32 classification weights. */
  labelWeights: Tensor;
  /** `[N, A_l, 4]` f32 regression targets. */
  bboxTargets: Tensor;
  /** `[N, A_l, 4]` f32 regression weights. */
  bboxWeights: Tensor;
}

/** Splits batch targets by level (one row-split dispatch per target tensor). */
export function targetsToLevels(t: BatchTargets, set: AnchorSet): LevelTargets[] {
  const starts = set.levelStarts.slice(0, set.numLevelAnchors.length);
  const split = (x: Tensor) => splitRows(x.raw, starts).map((r) => new Tensor(r));
  const labels = split(t.labels), labelWeights = split(t.labelWeights);
  const bboxTargets = split(t.bboxTargets), bboxWeights = split(t.bboxWeights);
  return set.numLevelAnchors.map((_, l) => ({
    labels: labels[l],
    labelWeights: labelWeights[l],
    bboxTargets: bboxTargets[l],
    bboxWeights: bboxWeights[l],
  }));
}

/**
 * `DeltaXYWHBBoxCoder.decode` of `deltas` `[M, 4]` on `anchors` `[M, 4]`, built from differentiable
 * primitives (gradient to the deltas), without clipping: the loss path of `reg_decoded_bbox: true`.
 */
export function decodeDeltasDifferentiable(
  anchors: Tensor,
  deltas: Tensor,
  coder: { means: ArrayLike<number>; stds: ArrayLike<number> },
  whRatioClip = 16 / 1000,
): Tensor {
  const M = deltas.shape[0];
  const col = (t: Tensor, k: number) => F.slice(t, [0, k], [M, k + 1]);
  const a = [0, 1, 2, 3].map((k) => col(anchors, k));
  const d = [0, 1, 2, 3].map((k) =>
    F.addScalar(F.mulScalar(col(deltas, k), coder.stds[k]), coder.means[k])
  );
  const maxRatio = Math.abs(Math.log(whRatioClip));
  const px = F.mulScalar(F.add(a[0], a[2]), 0.5), py = F.mulScalar(F.add(a[1], a[3]), 0.5);
  const pw = F.sub(a[2], a[0]), ph = F.sub(a[3], a[1]);
  const hw = F.mulScalar(F.mul(pw, F.exp(F.clamp(d[2], -maxRatio, maxRatio))), 0.5);
  const hh = F.mulScalar(F.mul(ph, F.exp(F.clamp(d[3], -maxRatio, maxRatio))), 0.5);
  const gx = F.add(px, F.mul(pw, d[0])), gy = F.add(py, F.mul(ph, d[1]));
  return F.concat([F.sub(gx, hw), F.sub(gy, hh), F.add(gx, hw), F.add(gy, hh)], 1);
}

/** The target settings of a head: its assigner's keys, `train_cfg` and coder. */
export function targetSettingsOf(
  head: {
    numClasses: number;
    regDecodedBbox: boolean;
    bboxCoder: { means: ArrayLike<number>; stds: ArrayLike<number> };
  },
  a: Partial<MaxIoUAssigner>,
  t: AnchorHeadTrainCfg,
): TargetSettings {
  return {
    posIouThr: a.posIouThr ?? 0,
    negIouThr: a.negIouThr ?? 0,
    minPosIou: a.minPosIou,
    gtMaxAssignAll: a.gtMaxAssignAll,
    matchLowQuality: a.matchLowQuality,
    ignoreIofThr: a.ignoreIofThr ?? -1,
    ignoreWrtCandidates: a.ignoreWrtCandidates ?? true,
    allowedBorder: t.allowed_border ?? -1,
    posWeight: t.pos_weight ?? -1,
    numClasses: head.numClasses,
    regDecodedBbox: head.regDecodedBbox,
    targetMeans: Array.from(head.bboxCoder.means),
    targetStds: Array.from(head.bboxCoder.stds),
  };
}
