/**
 * Reference `MaxIoUAssigner`, written directly from spec §2.5, step by step, with plain arrays.
 * Independent of `lib/core`: the CPU assigner and the GPU assigner are both checked against it.
 * Thresholds are compared as float32 (`t32`), as PyTorch compares float32 IoUs with Python floats.
 *
 * @module
 */
import { iouRef } from "./iou_ref.ts";

/** Assigner settings (mmdetection keys). */
export interface AssignRefCfg {
  pos_iou_thr: number;
  neg_iou_thr: number | [number, number];
  min_pos_iou?: number;
  gt_max_assign_all?: boolean;
  ignore_iof_thr?: number;
  ignore_wrt_candidates?: boolean;
  match_low_quality?: boolean;
}

/** Reference result: −1 ignore, 0 negative, i + 1 positive for gt i. */
export interface AssignRefResult {
  gtInds: number[];
  maxOverlaps: number[];
  labels: number[] | null;
}

/**
 * Steps 1–6 of spec §2.5 on an overlap matrix given as rows (one row of n IoUs per gt).
 * `numBoxes` is needed when there are no gts.
 */
export function assignWrtOverlapsRef(
  overlaps: number[][],
  numBoxes: number,
  gtLabels: number[] | null,
  cfg: AssignRefCfg,
): AssignRefResult {
  const k = overlaps.length, n = numBoxes;
  const t32 = Math.fround;
  const minPosIou = t32(cfg.min_pos_iou ?? 0);
  const gtMaxAssignAll = cfg.gt_max_assign_all ?? true;
  const matchLowQuality = cfg.match_low_quality ?? true;
  // 1. everything ignored; no gts: everything negative, labels −1, max overlaps 0
  const assigned: number[] = new Array(n).fill(-1);
  if (k === 0 || n === 0) {
    return {
      gtInds: assigned.map(() => (k === 0 ? 0 : -1)),
      maxOverlaps: new Array(n).fill(0),
      labels: gtLabels ? new Array(n).fill(-1) : null,
    };
  }
  // 2. per anchor: max and argmax over gts (first index wins ties); per gt: max over anchors
  const maxOverlaps: number[] = [], argmax: number[] = [];
  for (let j = 0; j < n; j++) {
    let best = 0;
    for (let i = 1; i < k; i++) if (overlaps[i][j] > overlaps[best][j]) best = i;
    argmax.push(best);
    maxOverlaps.push(overlaps[best][j]);
  }
  const gtMax: number[] = [], gtArgmax: number[] = [];
  for (let i = 0; i < k; i++) {
    let best = 0;
    for (let j = 1; j < n; j++) if (overlaps[i][j] > overlaps[i][best]) best = j;
    gtArgmax.push(best);
    gtMax.push(overlaps[i][best]);
  }
  // 3. negatives: lo ≤ max < hi, with lo = 0 for a single threshold
  const [lo, hi] = (Array.isArray(cfg.neg_iou_thr) ? cfg.neg_iou_thr : [0, cfg.neg_iou_thr]).map(
    t32,
  );
  for (let j = 0; j < n; j++) if (maxOverlaps[j] >= lo && maxOverlaps[j] < hi) assigned[j] = 0;
  // 4. positives: max ≥ pos_iou_thr
  for (let j = 0; j < n; j++) {
    if (maxOverlaps[j] >= t32(cfg.pos_iou_thr)) assigned[j] = argmax[j] + 1;
  }
  // 5. low-quality matches, gts in order, later ones overwrite
  if (matchLowQuality) {
    for (let i = 0; i < k; i++) {
      if (!(gtMax[i] >= minPosIou)) continue;
      if (gtMaxAssignAll) {
        for (let j = 0; j < n; j++) if (overlaps[i][j] === gtMax[i]) assigned[j] = i + 1;
      } else {
        assigned[gtArgmax[i]] = i + 1;
      }
    }
  }
  // 6. labels
  const labels = gtLabels ? assigned.map((g) => (g > 0 ? gtLabels[g - 1] : -1)) : null;
  return { gtInds: assigned, maxOverlaps, labels };
}

/**
 * The whole assigner: IoU(gt, boxes) in float32 (mmdetection's tensors are float32, and exact
 * ties depend on it), step 0 (ignore regions), then `assignWrtOverlapsRef`.
 */
export function maxIoUAssignRef(
  inputs: {
    bboxes: ArrayLike<number>;
    gtBboxes: ArrayLike<number>;
    gtBboxesIgnore?: ArrayLike<number> | null;
    gtLabels?: ArrayLike<number> | null;
  },
  cfg: AssignRefCfg,
): AssignRefResult {
  const n = inputs.bboxes.length / 4, k = inputs.gtBboxes.length / 4;
  const flat = iouRef(inputs.gtBboxes, inputs.bboxes, { f32: true });
  const overlaps = Array.from(
    { length: k },
    (_, i) => Array.from(flat.subarray(i * n, (i + 1) * n)),
  );
  const ign = inputs.gtBboxesIgnore;
  // 0. anchors whose IoF with some ignore box exceeds ignore_iof_thr: whole column −1
  if ((cfg.ignore_iof_thr ?? -1) > 0 && ign && ign.length > 0 && n > 0) {
    const m = ign.length / 4;
    const wrtCandidates = cfg.ignore_wrt_candidates ?? true;
    const iof = wrtCandidates
      ? iouRef(inputs.bboxes, ign, { mode: "iof", f32: true }) // [n, m]
      : iouRef(ign, inputs.bboxes, { mode: "iof", f32: true }); // [m, n]
    for (let j = 0; j < n; j++) {
      let best = -Infinity;
      for (let t = 0; t < m; t++) {
        best = Math.max(best, wrtCandidates ? iof[j * m + t] : iof[t * n + j]);
      }
      if (best > Math.fround(cfg.ignore_iof_thr!)) {
        for (let i = 0; i < k; i++) overlaps[i][j] = -1;
      }
    }
  }
  const labels = inputs.gtLabels ? Array.from(inputs.gtLabels) : null;
  return assignWrtOverlapsRef(overlaps, n, labels, cfg);
}
