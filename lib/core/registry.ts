/**
 * The registries of `lib/core`, named as mmdetection's (`ANCHOR_GENERATORS`, `BBOX_ASSIGNERS`,
 * `BBOX_SAMPLERS`, `BBOX_CODERS`, `IOU_CALCULATORS`). Each component file ends with its
 * registration line, and `lib/core/mod.ts` imports every file so that all are registered.
 * `ANCHOR_GENERATORS` and `IOU_CALCULATORS` are declared next to the classes whose files register
 * into them (`anchor/anchor_generator.ts`, `bbox/iou.ts`) and re-exported here, so that this file
 * and those do not import each other.
 *
 * @module
 */
import { Registry } from "../utils/registry.ts";
import type { BaseAssigner } from "./bbox/assigners/base_assigner.ts";
import type { BaseBBoxCoder } from "./bbox/coders/base_bbox_coder.ts";
import type { BaseSampler } from "./bbox/samplers/base_sampler.ts";

export { ANCHOR_GENERATORS } from "./anchor/anchor_generator.ts";
export { IOU_CALCULATORS } from "./bbox/iou.ts";
/** Box assigners (`MaxIoUAssigner`). */
export const BBOX_ASSIGNERS: Registry<BaseAssigner> = new Registry("BBOX_ASSIGNERS");
/** Box samplers (`PseudoSampler`). */
export const BBOX_SAMPLERS: Registry<BaseSampler> = new Registry("BBOX_SAMPLERS");
/** Box coders (`DeltaXYWHBBoxCoder`, `LegacyDeltaXYWHBBoxCoder`). */
export const BBOX_CODERS: Registry<BaseBBoxCoder> = new Registry("BBOX_CODERS");
