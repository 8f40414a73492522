/**
 * The result of sampling assigned boxes (mmdetection `SamplingResult`).
 *
 * @module
 */
import type { AssignResult } from "../assigners/assign_result.ts";

/** Positive and negative boxes chosen for the loss, with their targets. Plain data. */
export interface SamplingResult {
  /** Indices of the positive boxes, ascending. */
  posInds: Int32Array;
  /** Indices of the negative boxes, ascending. */
  negInds: Int32Array;
  /** `[p, 4]` positive boxes. */
  posBboxes: Float32Array;
  /** `[q, 4]` negative boxes. */
  negBboxes: Float32Array;
  /** Per positive: 1 when the box is a gt added as a proposal (never for anchors). */
  posIsGt: Uint8Array;
  /** Number of ground-truth boxes. */
  numGts: number;
  /** Per positive: the 0-based index of its gt. */
  posAssignedGtInds: Int32Array;
  /** `[p, 4]` the gt box of each positive. */
  posGtBboxes: Float32Array;
  /** Per positive: its gt label, or null when the assignment carried no labels. */
  posGtLabels: Int32Array | null;
}

function gatherRows(src: Float32Array, inds: ArrayLike<number>): Float32Array {
  const out = new Float32Array(inds.length * 4);
  for (let r = 0; r < inds.length; r++) out.set(src.subarray(inds[r] * 4, inds[r] * 4 + 4), r * 4);
  return out;
}

/**
 * Builds a `SamplingResult` from chosen indices, as mmdetection's `SamplingResult.__init__`.
 *
 * @param bboxes `[n, 4]` the boxes that were assigned.
 * @param gtBboxes `[k, 4]` ground truths.
 * @param gtFlags `[n]` 1 for boxes that are gts added as proposals.
 */
export function makeSamplingResult(
  inds: { posInds: Int32Array; negInds: Int32Array },
  data: {
    bboxes: Float32Array;
    gtBboxes: Float32Array;
    assignResult: AssignResult;
    gtFlags: Uint8Array;
  },
): SamplingResult {
  const { posInds, negInds } = inds;
  const { bboxes, gtBboxes, assignResult, gtFlags } = data;
  const posAssignedGtInds = Int32Array.from(posInds, (j) => assignResult.gtInds[j] - 1);
  if (gtBboxes.length === 0 && posAssignedGtInds.length > 0) {
    throw new RangeError(
      `Cannot build a sampling result: ${posInds.length} positives but no gt boxes`,
    );
  }
  const labels = assignResult.labels;
  return {
    posInds,
    negInds,
    posBboxes: gatherRows(bboxes, posInds),
    negBboxes: gatherRows(bboxes, negInds),
    posIsGt: Uint8Array.from(posInds, (j) => gtFlags[j]),
    numGts: gtBboxes.length / 4,
    posAssignedGtInds,
    posGtBboxes: gatherRows(gtBboxes, posAssignedGtInds),
    posGtLabels: labels ? Int32Array.from(posInds, (j) => labels[j]) : null,
  };
}
