// RPN R-50-FPN, 1x schedule on COCO: mmdetection v2.25's configs/rpn/rpn_r50_fpn_1x_coco.py.

export const _base_ = [
  "../_base_/models/rpn_r50_fpn.ts",
  "../_base_/datasets/coco_detection.ts",
  "../_base_/schedules/schedule_1x.ts",
  "../_base_/default_runtime.ts",
];

const img_norm_cfg = {
  mean: [123.675, 116.28, 103.53],
  std: [58.395, 57.12, 57.375],
  to_rgb: true,
};
const train_pipeline = [
  { type: "LoadImageFromFile" },
  { type: "LoadAnnotations", with_bbox: true, with_label: false },
  { type: "Resize", img_scale: [1333, 800], keep_ratio: true },
  { type: "RandomFlip", flip_ratio: 0.5 },
  { type: "Normalize", ...img_norm_cfg },
  { type: "Pad", size_divisor: 32 },
  { type: "DefaultFormatBundle" },
  { type: "Collect", keys: ["img", "gt_bboxes"] },
];
export const data = { train: { pipeline: train_pipeline } };
export const evaluation = { interval: 1, metric: "proposal_fast" };
