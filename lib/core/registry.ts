/**
 * The registries of `lib/core`, named as mmdetection's (`ANCHOR_GENERATORS`, `BBOX_ASSIGNERS`,
 * `BBOX_SAMPLERS`, `BBOX_CODERS`, `IOU_CALCULATORS`). Each component file ends with its
 * registration line, and `lib/core/mod.ts` imports every file so that all are registered.
 *
 * @module
 */
import { Registry } from "../utils/registry.ts";

/** Anchor generators (`AnchorGenerator`, `LegacyAnchorGenerator`, `SSDAnchorGenerator`). */
export const ANCHOR_GENERATORS: Registry<unknown> = new Registry("ANCHOR_GENERATORS");
/** Box assigners (`MaxIoUAssigner`). */
export const BBOX_ASSIGNERS: Registry<unknown> = new Registry("BBOX_ASSIGNERS");
/** Box samplers (`PseudoSampler`). */
export const BBOX_SAMPLERS: Registry<unknown> = new Registry("BBOX_SAMPLERS");
/** Box coders (`DeltaXYWHBBoxCoder`, `LegacyDeltaXYWHBBoxCoder`). */
export const BBOX_CODERS: Registry<unknown> = new Registry("BBOX_CODERS");
/** IoU calculators (`BboxOverlaps2D`). */
export const IOU_CALCULATORS: Registry<unknown> = new Registry("IOU_CALCULATORS");
