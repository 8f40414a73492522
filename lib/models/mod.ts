/**
 * `lib/models`: the registries (`BACKBONES`, `NECKS`, `HEADS`, `DETECTORS`, `LOSSES`), the
 * builders, and every model component. Importing this module registers all of them (each file
 * ends with its registration line; a file not imported here is never registered).
 *
 * @example
 * ```ts ignore
 * import { buildDetector } from "./mod.ts";
 * import { model } from "../../configs/_base_/models/retinanet_r50_fpn.ts";
 * const detector = buildDetector(model);
 * ```
 *
 * @module
 */
export * from "./registry.ts";
export * from "./builder.ts";
export * from "./backbones/resnet.ts";
export * from "./necks/fpn.ts";
export * from "./detectors/base.ts";
export * from "./detectors/single_stage.ts";
export * from "./detectors/retinanet.ts";
export * from "./losses/mod.ts";
export * from "./dense_heads/anchor_head.ts";
export * from "./dense_heads/retina_head.ts";
export * from "./dense_heads/rpn_head.ts";
export * from "./detectors/rpn.ts";
export * from "./backbones/ssd_vgg.ts";
export * from "./necks/ssd_neck.ts";
export * from "./dense_heads/ssd_head.ts";
export * from "./roi_heads/roi_extractors/single_level_roi_extractor.ts";
export * from "./roi_heads/bbox_heads/convfc_bbox_head.ts";
export * from "./roi_heads/standard_roi_head.ts";
export * from "./detectors/two_stage.ts";
