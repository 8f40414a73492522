/**
 * COCO-style (pycocotools `COCOeval` semantics) and VOC-style (mmdet `eval_map`) box evaluation.
 *
 * @module
 */
export {
  type BboxResult,
  COCO_IOU_THRS,
  COCO_REC_THRS,
  type CocoAnnotation,
  type CocoCategory,
  type CocoEvalOptions,
  type CocoEvalResult,
  type CocoImage,
  type CocoJson,
  type CocoResult,
  evaluateCoco,
  formatFixed,
  mmdetCocoMetrics,
  resultsToCocoJson,
  summarizeCoco,
} from "./coco_eval.ts";
export {
  averagePrecision,
  bboxOverlaps,
  type ClassMapResult,
  evalMap,
  type EvalMapOptions,
  type EvalMapResult,
  formatMapSummary,
  type MapAnnotation,
} from "./voc_eval.ts";
export {
  evalRecalls,
  type EvalRecallsOptions,
  type EvalRecallsResult,
  formatRecallSummary,
  RECALL_IOU_THRS,
} from "./recall.ts";
