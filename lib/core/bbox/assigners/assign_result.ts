/**
 * The result of assigning ground-truth boxes to anchors (mmdetection `AssignResult`).
 *
 * @module
 */

/**
 * Which ground truth each box (anchor) was assigned to. Plain data.
 *
 * `gtInds` encodes, per box, one of three states — this is the one place the encoding is defined:
 * - `-1`: ignored (no classification and no regression loss),
 * - `0`: negative (background),
 * - `k + 1`: positive, matched to ground truth `k` (0-based).
 *
 * Worked example: 2 ground truths, 4 anchors with IoUs (rows = gts)
 * ```
 *        a0    a1    a2    a3
 * gt0  0.70  0.10  0.45  0.00
 * gt1  0.20  0.05  0.10  0.60
 * ```
 * with `pos_iou_thr` 0.5 and `neg_iou_thr` 0.4 gives `gtInds = [1, 0, -1, 2]`: a0 is positive for
 * gt0, a1 negative (best IoU 0.10 < 0.4), a2 ignored (0.45 lies in [0.4, 0.5)), a3 positive for
 * gt1; `maxOverlaps = [0.70, 0.10, 0.45, 0.60]` and, with gt labels `[3, 7]`,
 * `labels = [3, -1, -1, 7]`.
 */
export interface AssignResult {
  /** Number of ground-truth boxes the assignment was made against. */
  numGts: number;
  /** Per box: −1 ignore, 0 negative, k + 1 positive for gt k. */
  gtInds: Int32Array;
  /** Per box: the highest IoU over all gts (0 when there is no gt; −1 for ignore-region boxes). */
  maxOverlaps: Float32Array;
  /** Per box: label of the assigned gt for positives, −1 otherwise; null when no labels were given. */
  labels: Int32Array | null;
}
