// SSD300 on COCO: mmdetection v2.25's configs/ssd/ssd300_coco.py.

export const _base_ = [
  "../_base_/models/ssd300.ts",
  "../_base_/datasets/coco_detection.ts",
  "../_base_/schedules/schedule_2x.ts",
  "../_base_/default_runtime.ts",
];
// dataset settings
const dataset_type = "CocoDataset";
const data_root = "data/coco/";
const img_norm_cfg = { mean: [123.675, 116.28, 103.53], std: [1, 1, 1], to_rgb: true };
const train_pipeline = [
  { type: "LoadImageFromFile", to_float32: true },
  { type: "LoadAnnotations", with_bbox: true },
  {
    type: "PhotoMetricDistortion",
    brightness_delta: 32,
    contrast_range: [0.5, 1.5],
    saturation_range: [0.5, 1.5],
    hue_delta: 18,
  },
  { type: "Expand", mean: img_norm_cfg.mean, to_rgb: img_norm_cfg.to_rgb, ratio_range: [1, 4] },
  { type: "MinIoURandomCrop", min_ious: [0.1, 0.3, 0.5, 0.7, 0.9], min_crop_size: 0.3 },
  { type: "Resize", img_scale: [300, 300], keep_ratio: false },
  { type: "Normalize", ...img_norm_cfg },
  { type: "RandomFlip", flip_ratio: 0.5 },
  { type: "DefaultFormatBundle" },
  { type: "Collect", keys: ["img", "gt_bboxes", "gt_labels"] },
];
const test_pipeline = [
  { type: "LoadImageFromFile" },
  {
    type: "MultiScaleFlipAug",
    img_scale: [300, 300],
    flip: false,
    transforms: [
      { type: "Resize", keep_ratio: false },
      { type: "Normalize", ...img_norm_cfg },
      { type: "ImageToTensor", keys: ["img"] },
      { type: "Collect", keys: ["img"] },
    ],
  },
];
export const data = {
  samples_per_gpu: 8,
  workers_per_gpu: 3,
  train: {
    _delete_: true,
    type: "RepeatDataset",
    times: 5,
    dataset: {
      type: dataset_type,
      ann_file: data_root + "annotations/instances_train2017.json",
      img_prefix: data_root + "train2017/",
      pipeline: train_pipeline,
    },
  },
  val: { pipeline: test_pipeline },
  test: { pipeline: test_pipeline },
};
// optimizer
export const optimizer = { type: "SGD", lr: 2e-3, momentum: 0.9, weight_decay: 5e-4 };
export const optimizer_config = { _delete_: true };
export const custom_hooks = [
  { type: "NumClassCheckHook" },
  { type: "CheckInvalidLossHook", interval: 50, priority: "VERY_LOW" },
];
