// COCO 2017 detection data, as mmdetection v2's configs/_base_/datasets/coco_detection.py.

const dataset_type = "CocoDataset";
const data_root = "data/coco/";
const img_norm_cfg = {
  mean: [123.675, 116.28, 103.53],
  std: [58.395, 57.12, 57.375],
  to_rgb: true,
};
const train_pipeline = [
  { type: "LoadImageFromFile" },
  { type: "LoadAnnotations", with_bbox: true },
  { type: "Resize", img_scale: [1333, 800], keep_ratio: true },
  { type: "RandomFlip", flip_ratio: 0.5 },
  { type: "Normalize", ...img_norm_cfg },
  { type: "Pad", size_divisor: 32 },
  { type: "DefaultFormatBundle" },
  { type: "Collect", keys: ["img", "gt_bboxes", "gt_labels"] },
];
const test_pipeline = [
  { type: "LoadImageFromFile" },
  {
    type: "MultiScaleFlipAug",
    img_scale: [1333, 800],
    flip: false,
    transforms: [
      { type: "Resize", keep_ratio: true },
      { type: "RandomFlip" },
      { type: "Normalize", ...img_norm_cfg },
      { type: "Pad", size_divisor: 32 },
      { type: "ImageToTensor", keys: ["img"] },
      { type: "Collect", keys: ["img"] },
    ],
  },
];

export const data = {
  samples_per_gpu: 2,
  workers_per_gpu: 2,
  train: {
    type: dataset_type,
    ann_file: data_root + "annotations/instances_train2017.json",
    img_prefix: data_root + "train2017/",
    pipeline: train_pipeline,
  },
  val: {
    type: dataset_type,
    ann_file: data_root + "annotations/instances_val2017.json",
    img_prefix: data_root + "val2017/",
    pipeline: test_pipeline,
  },
  test: {
    type: dataset_type,
    ann_file: data_root + "annotations/instances_val2017.json",
    img_prefix: data_root + "val2017/",
    pipeline: test_pipeline,
  },
};

export const evaluation = { interval: 1, metric: "bbox" };
