// RetinaNet R-18-FPN on BCCD (blood cell detection: RBC, WBC, Platelets; 640×480 Pascal-VOC
// images), reduced for a CPU software adapter: images at half resolution (320×240), ResNet-18 at
// half width (stage outputs 32-256), a 64-channel FPN over P3-P5 and a 2-conv GroupNorm head,
// trained from scratch with AdamW. Trains on trainval (292 images), tests on test (72), and
// reports VOC mAP@0.5 and the COCO metrics.
//
// The data lives at ../shared/data/bccd/BCCD/{JPEGImages,Annotations,ImageSets/Main}, relative
// to the repository root (paths resolve against the current directory, as in mmdetection).
// On a real GPU, drop the reductions: `--cfg-options model.backbone.base_channels=64` and so on,
// or start from retinanet_r18_fpn_1x_coco.ts with this file's `data`.

export const _base_ = [
  "../_base_/models/retinanet_r50_fpn.ts",
  "../_base_/schedules/schedule_1x.ts",
  "../_base_/default_runtime.ts",
];

const classes = ["RBC", "WBC", "Platelets"];
const dataset_type = "XMLDataset";
const data_root = "../shared/data/bccd/BCCD/";
const img_scale = [320, 240];

export const model = {
  backbone: {
    depth: 18,
    base_channels: 32, // stage outputs 32, 64, 128, 256
    // torchvision://resnet18 needs a download; set init_cfg to
    // { type: "Pretrained", checkpoint: "path/to/resnet18.safetensors" } when you have the weights
    // (full width), and restore frozen_stages 1 / norm_eval true.
    init_cfg: null,
    frozen_stages: -1,
    norm_eval: false,
  },
  neck: { in_channels: [32, 64, 128, 256], out_channels: 64, num_outs: 3 }, // P3-P5
  bbox_head: {
    num_classes: classes.length,
    in_channels: 64,
    stacked_convs: 2,
    feat_channels: 64,
    norm_cfg: { type: "GN", num_groups: 32, requires_grad: true },
    // at 320×240, platelets are ~15 px and white cells ~60-90 px: anchors 16-101 px on strides 8/16/32
    anchor_generator: { octave_base_scale: 2, strides: [8, 16, 32] },
  },
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
export const evaluation = { interval: 4, metric: ["mAP", "bbox"], save_best: "mAP" };

// 73 iterations per epoch at batch 4 (876 in all, ~3.3 s each on a 2-core CPU with lavapipe).
// From scratch, AdamW learns this model far faster than SGD (the same finding as on the synthetic
// shapes, see retinanet_tiny_shapes.ts).
export const optimizer = { _delete_: true, type: "AdamW", lr: 0.002, weight_decay: 0.0001 };
export const optimizer_config = { _delete_: true, grad_clip: { max_norm: 35, norm_type: 2 } };
export const lr_config = {
  policy: "step",
  warmup: "linear",
  warmup_iters: 150,
  warmup_ratio: 0.001,
  step: [8, 11],
};
export const runner = { type: "EpochBasedRunner", max_epochs: 12 };
export const checkpoint_config = { interval: 1, max_keep_ckpts: 2 };
export const log_config = { interval: 20, hooks: [{ type: "TextLoggerHook" }] };
