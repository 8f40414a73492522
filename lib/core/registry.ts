/**
 * The registries of `lib/core`, named as mmdetection's (`ANCHOR_GENERATORS`, `BBOX_ASSIGNERS`,
 * `BBOX_SAMPLERS`, `BBOX_CODERS`, `IOU_CALCULATORS`). Each component file ends with its
 * registration line, and `lib/core/mod.ts` imports every file so that all are registered.
 *
 * @module
 */
import { Registry } from "../utils/registry.ts";
import type { AnchorGenerator } from "./anchor/anchor_generator.ts";
import type { BaseAssigner } from "./bbox/assigners/base_assigner.ts";
import type { BaseBBoxCoder } from "./bbox/coders/base_bbox_coder.ts";
import type { BaseSampler } from "./bbox/samplers/base_sampler.ts";
import type { BboxOverlaps2D } from "./bbox/iou.ts";

/** Anchor generators (`AnchorGenerator`, `LegacyAnchorGenerator`, `SSDAnchorGenerator`). */
export const ANCHOR_GENERATORS: Registry<AnchorGenerator> = new Registry("ANCHOR_GENERATORS");
/** Box assigners (`MaxIoUAssigner`). */
export const BBOX_ASSIGNERS: Registry<BaseAssigner> = new Registry("BBOX_ASSIGNERS");
/** Box samplers (`PseudoSampler`). */
export const BBOX_SAMPLERS: Registry<BaseSampler> = new Registry("BBOX_SAMPLERS");
/** Box coders (`DeltaXYWHBBoxCoder`, `LegacyDeltaXYWHBBoxCoder`). */
export const BBOX_CODERS: Registry<BaseBBoxCoder> = new Registry("BBOX_CODERS");
/** IoU calculators (`BboxOverlaps2D`). */
export const IOU_CALCULATORS: Registry<BboxOverlaps2D> = new Registry("IOU_CALCULATORS");
