/**
 * mmdetection's `multiclass_nms` (v2.0–v2.17 test path, spec §2.10 (a)) on the CPU.
 *
 * @module
 */
import { batchedNms, type BatchedNmsCfg } from "./nms.ts";

/** Detections after class-wise NMS: `dets` `[k, 5]` rows `[x1, y1, x2, y2, score]`, `labels` `[k]`. */
export interface Detections {
  /** `[k, 5]` rows `[x1, y1, x2, y2, score]`. */
  dets: Float32Array;
  /** `[k]` class of each detection. */
  labels: Int32Array;
  /** Index into the flattened `(box, class)` pairs (`box·numClasses + class`) of each detection. */
  inds: Int32Array;
}

/**
 * Pairs every box with every foreground class, keeps pairs with score `> score_thr` (strict, in
 * float32 as PyTorch compares),
 * runs class-wise NMS and keeps the first `max_num` (all when `≤ 0`).
 *
 * @param data `bboxes` `[n, 4]` (shared by all classes) or `[n, 4·C]` (one box per class);
 *   `scores` `[n, C + 1]` with the background column last; optional `scoreFactors` `[n]`
 *   multiplied into the scores after thresholding.
 * @param cfg `numClasses` C, `score_thr`, `nms` (mmcv NMS settings) and `max_num`.
 *
 * @example
 * ```ts
 * import { multiclassNms } from "./bbox_nms.ts";
 * const r = multiclassNms(
 *   { bboxes: Float32Array.of(0, 0, 10, 10), scores: Float32Array.of(0.9, 0.02, 0) },
 *   { numClasses: 2, score_thr: 0.05, nms: { type: "nms", iou_threshold: 0.5 }, max_num: 100 },
 * );
 * // r.labels: [0]
 * ```
 */
export function multiclassNms(
  data: { bboxes: Float32Array; scores: Float32Array; scoreFactors?: Float32Array | null },
  cfg: { numClasses: number; score_thr: number; nms: BatchedNmsCfg; max_num?: number },
): Detections {
  const { bboxes, scores, scoreFactors = null } = data;
  const C = cfg.numClasses;
  const N = scores.length / (C + 1);
  if (!Number.isInteger(N)) {
    throw new TypeError(`Cannot run multiclass NMS: ${scores.length} scores are not [n, ${C} + 1]`);
  }
  const classSpecific = bboxes.length === N * 4 * C && C > 1;
  if (!classSpecific && bboxes.length !== N * 4) {
    throw new TypeError(
      `Cannot run multiclass NMS: bboxes length ${bboxes.length} is neither [${N}, 4] nor [${N}, 4·${C}]`,
    );
  }
  if (scoreFactors && scoreFactors.length !== N) {
    throw new TypeError(
      `Cannot run multiclass NMS: ${scoreFactors.length} score factors for ${N} boxes`,
    );
  }
  const thr = Math.fround(cfg.score_thr); // PyTorch compares float32 scores in float32
  const boxes: number[] = [], kept: number[] = [], labels: number[] = [], inds: number[] = [];
  for (let i = 0; i < N; i++) {
    for (let c = 0; c < C; c++) {
      const s = scores[i * (C + 1) + c];
      if (!(s > thr)) continue;
      const b = classSpecific ? (i * C + c) * 4 : i * 4;
      boxes.push(bboxes[b], bboxes[b + 1], bboxes[b + 2], bboxes[b + 3]);
      kept.push(scoreFactors ? Math.fround(s * scoreFactors[i]) : s);
      labels.push(c);
      inds.push(i * C + c);
    }
  }
  if (kept.length === 0) {
    return { dets: new Float32Array(0), labels: new Int32Array(0), inds: new Int32Array(0) };
  }
  const lab = Int32Array.from(labels);
  const { dets, keep } = batchedNms(
    { boxes: Float32Array.from(boxes), scores: Float32Array.from(kept), labels: lab },
    cfg.nms,
  );
  const maxNum = cfg.max_num ?? -1;
  const k = maxNum > 0 ? Math.min(maxNum, keep.length) : keep.length;
  return {
    dets: dets.slice(0, k * 5),
    labels: Int32Array.from(keep.subarray(0, k), (j) => lab[j]),
    inds: Int32Array.from(keep.subarray(0, k), (j) => inds[j]),
  };
}
