/**
 * mmdetection's `PseudoSampler`: no sampling — every positive and every negative is used.
 *
 * @module
 */
import { Tensor } from "../../../autograd/tensor.ts";
import { pseudoSampleStage } from "../../../ops/target_stages.ts";
import { BBOX_SAMPLERS } from "../../registry.ts";
import type {
  AssignResultGpu,
  GpuSampler,
  SampleContextGpu,
  SamplingResultGpu,
} from "../gpu_stages.ts";
import type { AssignResult } from "../assigners/assign_result.ts";
import type { BaseSampler } from "./base_sampler.ts";
import { makeSamplingResult, type SamplingResult } from "./sampling_result.ts";

/**
 * Takes all boxes with `gtInds > 0` as positives and all with `gtInds == 0` as negatives, both in
 * ascending index order.
 *
 * @example
 * ```ts
 * import { PseudoSampler } from "./pseudo_sampler.ts";
 * const r = new PseudoSampler().sample(
 *   { numGts: 1, gtInds: Int32Array.of(0, 1, -1), maxOverlaps: new Float32Array(3), labels: null },
 *   { bboxes: new Float32Array(12), gtBboxes: Float32Array.of(0, 0, 1, 1) },
 * );
 * // r.posInds: [1], r.negInds: [0]
 * ```
 */
export class PseudoSampler implements BaseSampler, GpuSampler {
  /** Config accepted for registry builds; no keys are used. */
  constructor(_cfg: { type?: string } = {}) {}

  /** The GPU sampling of a batch: every positive and every negative (no readback). */
  sampleGpu(a: AssignResultGpu, ctx: SampleContextGpu): SamplingResultGpu {
    const r = pseudoSampleStage(a.assign.raw, a.counts.raw);
    return {
      boxes: ctx.input.boxes,
      assign: a.assign,
      sampled: new Tensor(r.sampled),
      counts: new Tensor(r.counts),
      numGtRows: 0,
      capacity: a.assign.shape[1],
    };
  }

  /** Positives: `gtInds > 0`; negatives: `gtInds == 0`. */
  sample(
    assignResult: AssignResult,
    { bboxes, gtBboxes }: { bboxes: Float32Array; gtBboxes: Float32Array },
  ): SamplingResult {
    const pos: number[] = [], neg: number[] = [];
    assignResult.gtInds.forEach((g, j) => {
      if (g > 0) pos.push(j);
      else if (g === 0) neg.push(j);
    });
    return makeSamplingResult(
      { posInds: Int32Array.from(pos), negInds: Int32Array.from(neg) },
      { bboxes, gtBboxes, assignResult, gtFlags: new Uint8Array(assignResult.gtInds.length) },
    );
  }
}

BBOX_SAMPLERS.register("PseudoSampler", PseudoSampler);
