/**
 * Box helpers of mmdetection's `bbox/transforms.py`: `bbox2result`, and `filterDegenerateGts`
 * which keeps degenerate ground truths away from the assigner.
 *
 * @module
 */

/**
 * mmdetection's `bbox2result`: splits detections by class.
 *
 * @param data `dets` `[k, 5]` rows `[x1, y1, x2, y2, score]` and `labels` `[k]`.
 * @returns one `[m_c, 5]` Float32Array per class (empty when the class has no detection).
 *
 * @example
 * ```ts
 * import { bbox2result } from "./transforms.ts";
 * const perClass = bbox2result({ dets: Float32Array.of(0, 0, 1, 1, 0.9), labels: Int32Array.of(1) }, 2);
 * // perClass[0].length === 0, perClass[1]: [0, 0, 1, 1, 0.9]
 * ```
 */
export function bbox2result(
  data: { dets: Float32Array; labels: Int32Array },
  numClasses: number,
): Float32Array[] {
  const { dets, labels } = data;
  if (dets.length !== labels.length * 5) {
    throw new TypeError(
      `Cannot split detections by class: ${dets.length / 5} rows but ${labels.length} labels`,
    );
  }
  const counts = new Int32Array(numClasses);
  for (const l of labels) {
    if (l < 0 || l >= numClasses) {
      throw new RangeError(
        `Cannot split detections by class: label ${l} is outside [0, ${numClasses})`,
      );
    }
    counts[l]++;
  }
  const out = Array.from(counts, (c) => new Float32Array(c * 5));
  const fill = new Int32Array(numClasses);
  labels.forEach((l, r) => out[l].set(dets.subarray(r * 5, r * 5 + 5), fill[l]++ * 5));
  return out;
}

/** Result of `filterDegenerateGts`. */
export interface FilteredGts {
  /** `[k', 4]` the kept boxes. */
  bboxes: Float32Array;
  /** `[k']` their labels. */
  labels: Int32Array;
  /** `[k']` indices of the kept boxes in the input. */
  keep: Int32Array;
  /** Number of dropped boxes. */
  numDropped: number;
}

/**
 * Drops ground truths with zero or negative width or height (or non-finite coordinates), which
 * would otherwise be matched to every anchor with IoU 0 (spec §2.5 hazard) and yield log(0)
 * regression targets. Warns once per call, naming the image.
 *
 * @param bboxes `[k, 4]` xyxy.
 * @param labels `[k]`.
 */
export function filterDegenerateGts(
  bboxes: Float32Array,
  labels: Int32Array,
  opts: { imageName?: string; warn?: (message: string) => void } = {},
): FilteredGts {
  const k = bboxes.length / 4;
  if (!Number.isInteger(k) || labels.length !== k) {
    throw new TypeError(
      `Cannot filter gt boxes: ${bboxes.length / 4} boxes do not match ${labels.length} labels`,
    );
  }
  const keep: number[] = [];
  for (let i = 0; i < k; i++) {
    const [x1, y1, x2, y2] = bboxes.subarray(i * 4, i * 4 + 4);
    if (x2 > x1 && y2 > y1 && Number.isFinite(x1 + y1 + x2 + y2)) keep.push(i);
  }
  const numDropped = k - keep.length;
  if (numDropped > 0) {
    const first = [...Array(k).keys()].find((i) => !keep.includes(i))!;
    const box = Array.from(bboxes.subarray(first * 4, first * 4 + 4));
    (opts.warn ?? console.warn)(
      `Dropped ${numDropped} degenerate gt box(es) of image "${opts.imageName ?? "<unnamed>"}" ` +
        `(zero or negative width/height, e.g. [${
          box.join(", ")
        }]); fix the annotations to keep them`,
    );
  }
  const kept = Int32Array.from(keep);
  const outBoxes = new Float32Array(kept.length * 4);
  kept.forEach((i, r) => outBoxes.set(bboxes.subarray(i * 4, i * 4 + 4), r * 4));
  return {
    bboxes: outBoxes,
    labels: Int32Array.from(kept, (i) => labels[i]),
    keep: kept,
    numDropped,
  };
}
