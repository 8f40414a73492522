/**
 * Greedy NMS and class-wise (batched) NMS on the CPU, with mmcv/torchvision semantics (spec
 * §2.10): boxes are visited by score descending, and a box is suppressed by a kept box when their
 * IoU is strictly greater than the threshold. IoU is float32 as PyTorch's CPU kernel computes it.
 * These are the reference and CPU fallback of the GPU bitmask NMS.
 *
 * The IoU threshold is compared in float64 as torchvision's C++ kernel does (mmcv's CPU kernel and
 * a WGSL kernel compare in float32; the two differ only when an IoU equals the float32 rounding of
 * a threshold that is not exactly representable).
 *
 * Ties: boxes with equal scores are visited in ascending index order (a stable sort), which is
 * what torchvision's CPU `nms` does; PyTorch's `sort` is not stable in general (mmcv's CUDA path
 * and the split path of `batched_nms`), so mmdetection is reproducible only up to tied scores.
 *
 * @module
 */
import { argsortDesc } from "../utils/misc.ts";

const f = Math.fround;

/** NMS settings, with mmcv's keys (`nms=dict(type='nms', iou_threshold=0.5)` in configs). */
export interface NmsCfg {
  /** Registry-style type name (`"nms"`); ignored. */
  type?: string;
  /** Suppress when IoU `>` this. */
  iou_threshold?: number;
  /** mmdetection ≤ 2.2's spelling of `iou_threshold`. */
  iou_thr?: number;
  /** Added to widths and heights: 0 (v2) or 1 (v1). Default 0. */
  offset?: number;
  /** Boxes with score `≤` this (as float32) are dropped first (only when `> 0`). */
  score_threshold?: number;
  /** Keep at most this many boxes (when `> 0`). */
  max_num?: number;
}

/** Kept detections: `dets` `[k, 5]` rows `[x1, y1, x2, y2, score]`, and their input indices. */
export interface NmsResult {
  /** `[k, 5]` rows `[x1, y1, x2, y2, score]`. */
  dets: Float32Array;
  /** `[k]` indices into the input boxes. */
  keep: Int32Array;
}

function iouThreshold(cfg: NmsCfg): number {
  const thr = cfg.iou_threshold ?? cfg.iou_thr;
  if (typeof thr !== "number" || !(thr >= 0)) {
    throw new RangeError(`Cannot run NMS: "iou_threshold" must be a number ≥ 0, got ${thr}`);
  }
  return thr;
}

function checkBoxesScores(boxes: Float32Array, scores: Float32Array): number {
  if (
    !(boxes instanceof Float32Array) || boxes.length % 4 !== 0 || !(scores instanceof Float32Array)
  ) {
    throw new TypeError(
      "Cannot run NMS: boxes must be a Float32Array [n, 4] and scores a Float32Array [n]",
    );
  }
  if (scores.length * 4 !== boxes.length) {
    throw new TypeError(
      `Cannot run NMS: ${boxes.length / 4} boxes do not match ${scores.length} scores`,
    );
  }
  return scores.length;
}

function gatherDets(boxes: Float32Array, scores: Float32Array, keep: Int32Array): Float32Array {
  const dets = new Float32Array(keep.length * 5);
  keep.forEach((i, r) => {
    dets.set(boxes.subarray(i * 4, i * 4 + 4), r * 5);
    dets[r * 5 + 4] = scores[i];
  });
  return dets;
}

/** Indices kept by greedy NMS over `boxes` `[n, 4]`, in visiting (score-descending) order. */
function nmsIndices(
  boxes: Float32Array,
  scores: Float32Array,
  thr: number,
  offset: number,
  candidates: Int32Array,
): Int32Array {
  const order = candidates.slice().sort((a, b) => scores[b] - scores[a] || a - b);
  const n = order.length;
  const area = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    const i = order[r] * 4;
    area[r] = f(f(boxes[i + 2] - boxes[i]) + offset) * f(f(boxes[i + 3] - boxes[i + 1]) + offset);
  }
  const suppressed = new Uint8Array(n);
  const keep: number[] = [];
  for (let r = 0; r < n; r++) {
    if (suppressed[r]) continue;
    keep.push(order[r]);
    const i = order[r] * 4;
    for (let s = r + 1; s < n; s++) {
      if (suppressed[s]) continue;
      const j = order[s] * 4;
      const w = Math.max(
        0,
        f(f(Math.min(boxes[i + 2], boxes[j + 2]) - Math.max(boxes[i], boxes[j])) + offset),
      );
      const h = Math.max(
        0,
        f(f(Math.min(boxes[i + 3], boxes[j + 3]) - Math.max(boxes[i + 1], boxes[j + 1])) + offset),
      );
      const inter = f(w * h);
      const iou = f(inter / f(f(area[r] + area[s]) - inter)); // 0/0 = NaN never suppresses
      if (iou > thr) suppressed[s] = 1;
    }
  }
  return Int32Array.from(keep);
}

/**
 * mmcv's `nms`: greedy non-maximum suppression.
 *
 * @param boxes `[n, 4]` xyxy.
 * @param scores `[n]`.
 * @returns kept detections sorted by score descending and their indices into the input.
 *
 * @example
 * ```ts
 * import { nms } from "./nms.ts";
 * const { keep } = nms(
 *   Float32Array.of(0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30),
 *   Float32Array.of(0.9, 0.8, 0.7),
 *   { iou_threshold: 0.5 },
 * );
 * // keep: [0, 2]
 * ```
 */
export function nms(boxes: Float32Array, scores: Float32Array, cfg: NmsCfg): NmsResult {
  const n = checkBoxesScores(boxes, scores);
  const thr = iouThreshold(cfg);
  const { offset = 0, score_threshold = 0, max_num = -1 } = cfg;
  let candidates = Int32Array.from({ length: n }, (_, i) => i);
  // PyTorch compares a float32 tensor with a Python float in float32
  const st = Math.fround(score_threshold);
  if (score_threshold > 0) candidates = candidates.filter((i) => scores[i] > st);
  let keep = nmsIndices(boxes, scores, thr, offset, candidates);
  if (max_num > 0) keep = keep.slice(0, max_num);
  return { dets: gatherDets(boxes, scores, keep), keep };
}

/** Settings of `batchedNms`: NMS settings plus mmcv's `class_agnostic` and `split_thr`. */
export interface BatchedNmsCfg extends NmsCfg {
  /** Ignore labels: one NMS over all boxes (default false). */
  class_agnostic?: boolean;
  /** From this many boxes on, run NMS per class instead of the offset trick (default 10000). */
  split_thr?: number;
}

/**
 * mmcv's `batched_nms`: NMS within each class. Boxes are shifted by `label·(max coordinate + 1)`
 * (float32, as mmcv) so that boxes of different classes never overlap; from `split_thr` boxes on,
 * NMS runs per class and the kept boxes are re-sorted by score. Like mmcv's and torchvision's, the
 * offset trick assumes coordinates ≥ 0 (true for clipped detections): a box with negative
 * coordinates can land on a box of the previous class and suppress it.
 *
 * @param data `boxes` `[n, 4]`, `scores` `[n]`, `labels` `[n]` (class index per box).
 * @returns `dets` with the original (un-shifted) boxes, sorted by score, and their indices.
 */
export function batchedNms(
  data: { boxes: Float32Array; scores: Float32Array; labels: Int32Array },
  cfg: BatchedNmsCfg,
): NmsResult {
  const { boxes, scores, labels } = data;
  const n = checkBoxesScores(boxes, scores);
  if (!(labels instanceof Int32Array) || labels.length !== n) {
    throw new TypeError(
      `Cannot run batched NMS: labels must be an Int32Array [${n}], got length ${labels?.length}`,
    );
  }
  const thr = iouThreshold(cfg);
  const { class_agnostic = false, split_thr = 10000, offset = 0, max_num = -1 } = cfg;
  if (n === 0) return { dets: new Float32Array(0), keep: new Int32Array(0) };
  let forNms = boxes;
  if (!class_agnostic) {
    let maxCoord = -Infinity;
    for (let i = 0; i < boxes.length; i++) maxCoord = Math.max(maxCoord, boxes[i]);
    const step = f(maxCoord + 1);
    forNms = new Float32Array(boxes.length);
    for (let i = 0; i < n; i++) {
      const off = f(labels[i] * step);
      for (let c = 0; c < 4; c++) forNms[i * 4 + c] = boxes[i * 4 + c] + off;
    }
  }
  let keep: Int32Array;
  if (n < split_thr) {
    const r = nms(forNms, scores, { ...cfg, iou_threshold: thr });
    keep = r.keep;
  } else {
    const kept: number[] = [];
    for (const label of [...new Set(labels)].sort((a, b) => a - b)) {
      const members = Int32Array.from({ length: n }, (_, i) => i).filter((i) =>
        labels[i] === label
      );
      kept.push(...nmsIndices(forNms, scores, thr, offset, members));
    }
    kept.sort((a, b) => a - b);
    const order = argsortDesc(kept.map((i) => scores[i]));
    keep = Int32Array.from(order, (r) => kept[r]);
    if (max_num > 0) keep = keep.slice(0, max_num);
  }
  return { dets: gatherDets(boxes, scores, keep), keep };
}
