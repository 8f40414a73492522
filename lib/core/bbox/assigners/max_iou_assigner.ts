/**
 * mmdetection's `MaxIoUAssigner` on the CPU (spec §2.5). IoUs are float32 as mmdetection's, ties
 * are exact float equality, and argmax ties resolve to the lowest index (PyTorch's `max(dim)`).
 * Thresholds are rounded to float32 before comparing, because PyTorch compares a float32 tensor
 * with a Python float in float32 (an IoU equal to `fround(0.7)` is `≥ 0.7` there).
 * The CPU version is the reference the GPU assigner is checked against, and the fallback.
 *
 * @module
 */
import { Tensor } from "../../../autograd/tensor.ts";
import { boxFlags, maxIoUAssignStage } from "../../../ops/target_stages.ts";
import { BBOX_ASSIGNERS } from "../../registry.ts";
import type { AssignInputGpu, AssignResultGpu, GpuAssigner, GtBatchGpu } from "../gpu_stages.ts";
import { bboxOverlaps } from "../iou.ts";
import type { AssignResult } from "./assign_result.ts";
import type { AssignInputs, BaseAssigner } from "./base_assigner.ts";

/** Config of `MaxIoUAssigner`, with mmdetection's keys and defaults. */
export interface MaxIoUAssignerCfg {
  /** Registry type name. */
  type?: string;
  /** Boxes whose best IoU is `≥ pos_iou_thr` are positive. */
  pos_iou_thr: number;
  /** Boxes whose best IoU is in `[0, thr)` (or `[lo, hi)` for a pair) are negative. */
  neg_iou_thr: number | [number, number];
  /** A gt's best boxes are matched to it (low-quality match) only if its best IoU is `≥` this; default 0. */
  min_pos_iou?: number;
  /** Low-quality match: all boxes tied at the gt's best IoU (true, default) or only the first. */
  gt_max_assign_all?: boolean;
  /** Boxes with IoF `> ignore_iof_thr` against an ignore box are ignored; `≤ 0` disables (default −1). */
  ignore_iof_thr?: number;
  /** IoF over the candidate box (true, default) or over the ignore box. */
  ignore_wrt_candidates?: boolean;
  /** Enable the low-quality matching step (default true). */
  match_low_quality?: boolean;
  /** Accepted for config compatibility and ignored: mmdetection's memory workaround. */
  gpu_assign_thr?: number;
  /** Accepted for config compatibility; only `BboxOverlaps2D` exists. */
  iou_calculator?: { type: string };
}

/**
 * Assigns each box to the gt it overlaps most (positive), to background (negative) or to
 * "ignore", then gives each gt its best boxes (low-quality matches). See `AssignResult` for the
 * encoding of `gtInds`.
 *
 * @example
 * ```ts
 * import { MaxIoUAssigner } from "./max_iou_assigner.ts";
 * const assigner = new MaxIoUAssigner({ pos_iou_thr: 0.5, neg_iou_thr: 0.5 });
 * const r = assigner.assign({
 *   bboxes: Float32Array.of(0, 0, 10, 10, 10, 10, 20, 20),
 *   gtBboxes: Float32Array.of(0, 0, 10, 9),
 * });
 * // r.gtInds: [1, 0]
 * ```
 */
export class MaxIoUAssigner implements BaseAssigner, GpuAssigner {
  /** `pos_iou_thr`. */
  readonly posIouThr: number;
  /** `neg_iou_thr`: a number or `[lo, hi]`. */
  readonly negIouThr: number | [number, number];
  /** `min_pos_iou`. */
  readonly minPosIou: number;
  /** `gt_max_assign_all`. */
  readonly gtMaxAssignAll: boolean;
  /** `ignore_iof_thr`. */
  readonly ignoreIofThr: number;
  /** `ignore_wrt_candidates`. */
  readonly ignoreWrtCandidates: boolean;
  /** `match_low_quality`. */
  readonly matchLowQuality: boolean;

  /** Builds the assigner from an mmdetection config. */
  constructor(cfg: MaxIoUAssignerCfg) {
    if (typeof cfg?.pos_iou_thr !== "number") {
      throw new TypeError(
        `Cannot build MaxIoUAssigner: "pos_iou_thr" must be a number, got ${cfg?.pos_iou_thr}`,
      );
    }
    const neg = cfg.neg_iou_thr;
    if (typeof neg !== "number" && !(Array.isArray(neg) && neg.length === 2)) {
      throw new TypeError(
        `Cannot build MaxIoUAssigner: "neg_iou_thr" must be a number or [lo, hi], got ${
          JSON.stringify(neg)
        }`,
      );
    }
    if (cfg.iou_calculator && cfg.iou_calculator.type !== "BboxOverlaps2D") {
      throw new RangeError(
        `Cannot build MaxIoUAssigner: iou_calculator "${cfg.iou_calculator.type}" is not supported; use "BboxOverlaps2D"`,
      );
    }
    this.posIouThr = cfg.pos_iou_thr;
    this.negIouThr = neg;
    this.minPosIou = cfg.min_pos_iou ?? 0;
    this.gtMaxAssignAll = cfg.gt_max_assign_all ?? true;
    this.ignoreIofThr = cfg.ignore_iof_thr ?? -1;
    this.ignoreWrtCandidates = cfg.ignore_wrt_candidates ?? true;
    this.matchLowQuality = cfg.match_low_quality ?? true;
  }

  /**
   * The GPU assignment of every image of a batch (`lib/ops/target_stages.ts`), equal to `assign`
   * per image: boxes with flag 0 are left out (`gt_inds` −1), flag 2 (ignore region, see
   * {@linkcode MaxIoUAssigner.candidateFlagsGpu}) boxes get IoU −1 with every gt. No readback.
   */
  assignGpu(input: AssignInputGpu): AssignResultGpu {
    const r = maxIoUAssignStage(
      input.boxes.raw,
      input.flags.raw,
      { data: input.gts.pack.raw, layout: input.gts.layout },
      {
        posIouThr: this.posIouThr,
        negIouThr: this.negIouThr,
        minPosIou: this.minPosIou,
        gtMaxAssignAll: this.gtMaxAssignAll,
        matchLowQuality: this.matchLowQuality,
      },
    );
    return { assign: new Tensor(r.assign), counts: new Tensor(r.counts) };
  }

  /**
   * Candidate flags of per-image boxes (proposals) `[N, B, 4]` with `valid` `[N, B]` (u32 or f32,
   * non-zero for real rows): 0 padding, 1 candidate, 2 inside an ignore box of `gts` by this
   * assigner's `ignore_iof_thr` / `ignore_wrt_candidates` (mmdetection's step 0).
   */
  candidateFlagsGpu(boxes: Tensor, valid: Tensor, gts: GtBatchGpu): Tensor {
    return new Tensor(
      boxFlags(boxes.raw, valid.raw, { data: gts.pack.raw, layout: gts.layout }, {
        ignoreIofThr: this.ignoreIofThr,
        ignoreWrtCandidates: this.ignoreWrtCandidates,
      }),
    );
  }

  /** Computes IoU(gt, boxes), masks ignore regions, and assigns (spec §2.5 steps 0–6). */
  assign({ bboxes, gtBboxes, gtBboxesIgnore = null, gtLabels = null }: AssignInputs): AssignResult {
    const n = bboxes.length / 4, k = gtBboxes.length / 4;
    if (gtLabels && gtLabels.length !== k) {
      throw new TypeError(`Cannot assign: ${gtLabels.length} gt labels do not match ${k} gt boxes`);
    }
    const overlaps = bboxOverlaps(gtBboxes, bboxes);
    // 0. Boxes inside an ignore region get their whole column set to −1.
    if (this.ignoreIofThr > 0 && gtBboxesIgnore && gtBboxesIgnore.length > 0 && n > 0) {
      const m = gtBboxesIgnore.length / 4;
      const iof = this.ignoreWrtCandidates
        ? bboxOverlaps(bboxes, gtBboxesIgnore, { mode: "iof" }) // [n, m]
        : bboxOverlaps(gtBboxesIgnore, bboxes, { mode: "iof" }); // [m, n]
      for (let j = 0; j < n; j++) {
        let best = -Infinity;
        for (let t = 0; t < m; t++) {
          best = Math.max(best, this.ignoreWrtCandidates ? iof[j * m + t] : iof[t * n + j]);
        }
        if (best > Math.fround(this.ignoreIofThr)) {
          for (let i = 0; i < k; i++) overlaps[i * n + j] = -1;
        }
      }
    }
    return this.assignWrtOverlaps(overlaps, [k, n], gtLabels);
  }

  /**
   * Assigns from an overlap matrix `overlaps` `[k, n]` (gts × boxes, row-major), steps 1–6 of
   * spec §2.5. Exposed so that overlaps computed elsewhere (e.g. on the GPU) can be assigned here.
   */
  assignWrtOverlaps(
    overlaps: Float32Array,
    [k, n]: [number, number],
    gtLabels: Int32Array | null = null,
  ): AssignResult {
    if (overlaps.length !== k * n) {
      throw new TypeError(
        `Cannot assign: overlaps length ${overlaps.length} does not match ${k} gts × ${n} boxes`,
      );
    }
    return assignCore(this, overlaps, k, n, gtLabels);
  }
}

/** Steps 1–6 of spec §2.5. */
function assignCore(
  cfg: MaxIoUAssigner,
  overlaps: Float32Array,
  k: number,
  n: number,
  gtLabels: Int32Array | null,
): AssignResult {
  const gtInds = new Int32Array(n).fill(-1);
  const maxOverlaps = new Float32Array(n);
  const labels = gtLabels ? new Int32Array(n).fill(-1) : null;
  // 1. Everything is ignored (−1) by default; without gts everything is negative.
  if (k === 0 || n === 0) {
    if (k === 0) gtInds.fill(0);
    return { numGts: k, gtInds, maxOverlaps, labels };
  }
  // 2. Per box: best IoU and its gt (first on ties); per gt: best IoU over boxes.
  const argmax = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    let best = overlaps[j], arg = 0;
    for (let i = 1; i < k; i++) {
      const v = overlaps[i * n + j];
      if (v > best) [best, arg] = [v, i];
    }
    maxOverlaps[j] = best;
    argmax[j] = arg;
  }
  const gtMax = new Float32Array(k), gtArgmax = new Int32Array(k);
  for (let i = 0; i < k; i++) {
    let best = overlaps[i * n], arg = 0;
    for (let j = 1; j < n; j++) {
      const v = overlaps[i * n + j];
      if (v > best) [best, arg] = [v, j];
    }
    gtMax[i] = best;
    gtArgmax[i] = arg;
  }
  // 3. Negatives: best IoU in [0, neg_iou_thr) or [lo, hi).
  const f = Math.fround;
  const [lo, hi] = typeof cfg.negIouThr === "number" ? [0, f(cfg.negIouThr)] : cfg.negIouThr.map(f);
  for (let j = 0; j < n; j++) if (maxOverlaps[j] >= lo && maxOverlaps[j] < hi) gtInds[j] = 0;
  // 4. Positives: best IoU ≥ pos_iou_thr.
  const pos = f(cfg.posIouThr), minPos = f(cfg.minPosIou);
  for (let j = 0; j < n; j++) if (maxOverlaps[j] >= pos) gtInds[j] = argmax[j] + 1;
  // 5. Low-quality matches, gt by gt in order: later gts overwrite earlier ones and step 4.
  if (cfg.matchLowQuality) {
    for (let i = 0; i < k; i++) {
      if (!(gtMax[i] >= minPos)) continue;
      if (cfg.gtMaxAssignAll) {
        for (let j = 0; j < n; j++) if (overlaps[i * n + j] === gtMax[i]) gtInds[j] = i + 1;
      } else {
        gtInds[gtArgmax[i]] = i + 1;
      }
    }
  }
  // 6. Labels of positives.
  if (labels && gtLabels) {
    for (let j = 0; j < n; j++) if (gtInds[j] > 0) labels[j] = gtLabels[gtInds[j] - 1];
  }
  return { numGts: k, gtInds, maxOverlaps, labels };
}

BBOX_ASSIGNERS.register("MaxIoUAssigner", MaxIoUAssigner);
