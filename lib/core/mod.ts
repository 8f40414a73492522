/**
 * `lib/core`: anchors, IoU, assigners, samplers, box coders, NMS and `bbox2result` — the CPU
 * implementations (references for the GPU kernels and CPU fallbacks). Importing this module
 * registers every component in its registry.
 *
 * @example
 * ```ts
 * import { ANCHOR_GENERATORS } from "./mod.ts";
 * const gen = ANCHOR_GENERATORS.build({
 *   type: "AnchorGenerator", octave_base_scale: 4, scales_per_octave: 3,
 *   ratios: [0.5, 1.0, 2.0], strides: [8, 16, 32, 64, 128],
 * });
 * // gen.numBaseAnchors: [9, 9, 9, 9, 9]
 * ```
 *
 * @module
 */
export * from "./registry.ts";
export * from "./anchor/anchor_generator.ts";
export * from "./anchor/ssd_anchor_generator.ts";
export * from "./anchor/utils.ts";
export * from "./bbox/iou.ts";
export * from "./bbox/transforms.ts";
export * from "./bbox/coders/base_bbox_coder.ts";
export * from "./bbox/coders/delta_xywh_bbox_coder.ts";
export * from "./bbox/assigners/assign_result.ts";
export * from "./bbox/assigners/base_assigner.ts";
export * from "./bbox/assigners/max_iou_assigner.ts";
export * from "./bbox/samplers/base_sampler.ts";
export * from "./bbox/samplers/sampling_result.ts";
export * from "./bbox/samplers/pseudo_sampler.ts";
export * from "./bbox/samplers/random_sampler.ts";
export * from "./bbox/gpu_stages.ts";
export * from "./post_processing/nms.ts";
export * from "./post_processing/bbox_nms.ts";
export * from "./post_processing/merge_augs.ts";
export * from "./utils/misc.ts";
export type { Ctor, Registry, TypedCfg } from "../utils/registry.ts";
