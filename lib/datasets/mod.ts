/**
 * Datasets (COCO, VOC/XML, middle format), pipelines, the batching loader with Web Worker
 * prefetch, and the synthetic shapes dataset.
 *
 * @module
 */
export { COCO_CLASSES, CocoDataset, loadCocoJson, parseCocoJson } from "./coco.ts";
export {
  CustomDataset,
  type DatasetCfg,
  type EvaluateOptions,
  listFromFile,
  readTextFile,
  sampleRng,
  toAnnInfo,
} from "./custom.ts";
export { buildDataset, ConcatDataset, type DetDataset, RepeatDataset } from "./dataset_wrappers.ts";
export {
  type ColorType,
  decodeImage,
  encodePng,
  type HwcImage,
  readImage,
  readImageSize,
  sniffImageFormat,
  writePng,
} from "./image_io.ts";
export {
  bboxFlip,
  Collect,
  Compose,
  DEFAULT_META_KEYS,
  DefaultFormatBundle,
  type Fuser,
  hwcToChw,
  ImageToTensor,
  imflip,
  impad,
  imrescale,
  imresize,
  joinPrefix,
  LoadAnnotations,
  LoadImageFromFile,
  MultiScaleFlipAug,
  Normalize,
  NormalizePadFormat,
  Pad,
  RandomFlip,
  registerFuser,
  rescaleSize,
  Resize,
  type ResizeCfg,
  rngOf,
  type Scale,
  type Transform,
} from "./pipelines/mod.ts";
export { DATASETS, PIPELINES } from "./registry.ts";
export type {
  AnnInfo,
  Batch,
  DataInfo,
  HostTensor,
  ImgMeta,
  ImgNormCfg,
  Results,
} from "./types.ts";
export { VOC_CLASSES, VOCDataset } from "./voc.ts";
export {
  parseVocXml,
  type VocObject,
  type VocRecord,
  XMLDataset,
  type XmlDatasetCfg,
} from "./xml_style.ts";
export { parseXml, XmlElement } from "./xml.ts";
export { vocToCoco, type VocToCocoOptions } from "./voc2coco.ts";
export { batchTransferables, collate, stackPadded } from "./collate.ts";
export { buildDataloader, DataLoader, type DataloaderOptions } from "./loader.ts";
export { groupSamplerIndices, groupSamplerLength } from "./samplers.ts";
export {
  ensureShapesDataset,
  generateShapesDataset,
  SHAPE_KINDS,
  shapesDatasetConfig,
  type ShapesDatasetInfo,
  shapesHash,
  type ShapesOptions,
} from "./synthetic.ts";
export type { Ctor, Registry, TypedCfg } from "../utils/registry.ts";
export type { Rng } from "../utils/rng.ts";
export type {
  BboxResult,
  CocoAnnotation,
  CocoCategory,
  CocoImage,
  CocoJson,
} from "../evaluation/coco_eval.ts";
