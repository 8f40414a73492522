// RetinaNet R-18-FPN on BCCD (blood cell detection: RBC, WBC, Platelets; 640×480 Pascal-VOC
// images), at the images' own resolution instead of COCO's 1333×800. Trains on trainval
// (292 images), tests on test (72), and reports VOC mAP@0.5 and the COCO metrics.
//
// The data lives at ../shared/data/bccd/BCCD/{JPEGImages,Annotations,ImageSets/Main}, relative
// to the repository root (paths resolve against the current directory, as in mmdetection).

export const _base_ = [
  "../_base_/models/retinanet_r50_fpn.ts",
  "../_base_/schedules/schedule_1x.ts",
  "../_base_/default_runtime.ts",
];

const classes = ["RBC", "WBC", "Platelets"];
const dataset_type = "XMLDataset";
const data_root = "../shared/data/bccd/BCCD/";
const img_scale = [640, 480];

export const model = {
  backbone: {
    depth: 18,
    // torchvision://resnet18 needs a download; set init_cfg to
    // { type: "Pretrained", checkpoint: "path/to/resnet18.safetensors" } when you have the weights,
    // and restore frozen_stages 1 / norm_eval true.
    init_cfg: null,
    frozen_stages: -1,
    norm_eval: false,
  },
  neck: { in_channels: [64, 128, 256, 512] },
  bbox_head: { num_classes: classes.length },
};

const img_norm_cfg = {
  mean: [123.675, 116.28, 103.53],
  std: [58.395, 57.12, 57.375],
  to_rgb: true,
};
const train_pipeline = [
  { type: "LoadImageFromFile" },
  { type: "LoadAnnotations", with_bbox: true },
  { type: "Resize", img_scale, keep_ratio: true },
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
    img_scale,
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
  samples_per_gpu: 4,
  workers_per_gpu: 2,
  train: {
    type: dataset_type,
    classes,
    ann_file: data_root + "ImageSets/Main/trainval.txt",
    img_prefix: data_root,
    pipeline: train_pipeline,
  },
  val: {
    type: dataset_type,
    classes,
    ann_file: data_root + "ImageSets/Main/test.txt",
    img_prefix: data_root,
    pipeline: test_pipeline,
  },
  test: {
    type: dataset_type,
    classes,
    ann_file: data_root + "ImageSets/Main/test.txt",
    img_prefix: data_root,
    pipeline: test_pipeline,
  },
};
export const evaluation = { interval: 2, metric: ["mAP", "bbox"], save_best: "mAP" };

// 73 iterations per epoch at batch 4
export const optimizer = { type: "SGD", lr: 0.01, momentum: 0.9, weight_decay: 0.0001 };
export const lr_config = {
  policy: "step",
  warmup: "linear",
  warmup_iters: 200,
  warmup_ratio: 0.001,
  step: [16, 22],
};
export const runner = { type: "EpochBasedRunner", max_epochs: 24 };
export const checkpoint_config = { interval: 2, max_keep_ckpts: 3 };
export const log_config = { interval: 20, hooks: [{ type: "TextLoggerHook" }] };
