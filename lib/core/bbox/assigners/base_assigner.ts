/**
 * The assigner interface (mmdetection `BaseAssigner`).
 *
 * @module
 */
import type { AssignResult } from "./assign_result.ts";

/** Inputs of `BaseAssigner.assign`; boxes are xyxy, absolute pixels, row-major. */
export interface AssignInputs {
  /** `[n, 4]` candidate boxes (the inside anchors). */
  bboxes: Float32Array;
  /** `[k, 4]` ground-truth boxes. */
  gtBboxes: Float32Array;
  /** `[m, 4]` boxes to ignore (e.g. COCO crowd); used only when `ignore_iof_thr > 0`. */
  gtBboxesIgnore?: Float32Array | null;
  /** `[k]` ground-truth labels; when given, the result carries per-box labels. */
  gtLabels?: Int32Array | null;
}

/** Assigns each candidate box to a ground truth, to background, or to "ignore". */
export interface BaseAssigner {
  /** Assigns every box in `inputs.bboxes`; see `AssignResult`. */
  assign(inputs: AssignInputs): AssignResult;
}
