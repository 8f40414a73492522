/**
 * The sampler interface (mmdetection `BaseSampler`).
 *
 * @module
 */
import type { AssignResult } from "../assigners/assign_result.ts";
import type { SamplingResult } from "./sampling_result.ts";

/** Chooses which assigned boxes enter the loss. */
export interface BaseSampler {
  /**
   * @param bboxes `[n, 4]` the assigned boxes.
   * @param gtBboxes `[k, 4]` ground truths.
   */
  /** Splits assigned boxes into positives and negatives. */
  sample(
    assignResult: AssignResult,
    data: { bboxes: Float32Array; gtBboxes: Float32Array },
  ): SamplingResult;
}
