/**
 * Dense heads of `HEADS`: `AnchorHead` and `RetinaHead`, with their GPU targets and inference.
 * Importing this module registers both (and the losses they build from `LOSSES`).
 *
 * @module
 */
export * from "./anchor_head.ts";
export * from "./anchor_head_targets.ts";
export * from "./anchor_head_inference.ts";
export * from "./retina_head.ts";
export * from "./rpn_head.ts";
export * from "./ssd_head.ts";
