/**
 * Pipeline transforms, each registered in `PIPELINES`.
 *
 * @module
 */
export { Compose, type Fuser, registerFuser, rngOf, type Transform } from "./compose.ts";
export { NormalizePadFormat } from "./fused.ts";
export {
  Collect,
  DEFAULT_META_KEYS,
  DefaultFormatBundle,
  hwcToChw,
  ImageToTensor,
} from "./formatting.ts";
export { imflip, impad, imrescale, imresize, rescaleSize } from "./geometric.ts";
export { joinPrefix, LoadAnnotations, LoadImageFromFile } from "./loading.ts";
export { MultiScaleFlipAug } from "./test_time_aug.ts";
export {
  bboxFlip,
  Normalize,
  Pad,
  RandomFlip,
  Resize,
  type ResizeCfg,
  type Scale,
} from "./transforms.ts";
export {
  bgrToHsv,
  Expand,
  type ExpandCfg,
  hsvToBgr,
  MinIoURandomCrop,
  type MinIoURandomCropCfg,
  PhotoMetricDistortion,
  type PhotoMetricDistortionCfg,
} from "./ssd_transforms.ts";
