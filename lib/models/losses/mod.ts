/**
 * The losses of `LOSSES`: `FocalLoss`, `L1Loss`, `SmoothL1Loss`, `CrossEntropyLoss`, `GIoULoss`.
 * Importing this module registers all of them.
 *
 * @module
 */
export * from "./utils.ts";
export * from "./focal_loss.ts";
export * from "./smooth_l1_loss.ts";
export * from "./cross_entropy_loss.ts";
export * from "./iou_loss.ts";
