// A tiny Faster R-CNN for CPU runs on the synthetic shapes data (128×128 images of rectangles,
// ellipses and triangles): ResNet-18 at 1/4 width, a 32-channel FPN over four levels (strides
// 4-32, plus the max-pooled P6 for the RPN), the RPN head, and a Shared2FC box head of 128-wide
// fcs on 7×7 RoIAlign features. Data, pipelines and schedule are the tiny RetinaNet's.

export const _base_ = "../retinanet/retinanet_tiny_shapes.ts";

export const model = {
  _delete_: true,
  type: "FasterRCNN",
  backbone: {
    type: "ResNet",
    depth: 18,
    num_stages: 4,
    out_indices: [0, 1, 2, 3],
    base_channels: 16, // stage outputs 16, 32, 64, 128
    frozen_stages: -1, // no pretrained weights: train every stage and every BN
    norm_cfg: { type: "BN", requires_grad: true },
    norm_eval: false,
    style: "pytorch",
    init_cfg: null,
  },
  neck: { type: "FPN", in_channels: [16, 32, 64, 128], out_channels: 32, num_outs: 5 },
  rpn_head: {
    type: "RPNHead",
    in_channels: 32,
    feat_channels: 32,
    // anchors 16-256 px (scale 4 on strides 4-64) for objects of 12-64 px
    anchor_generator: {
      type: "AnchorGenerator",
      scales: [4],
      ratios: [0.5, 1.0, 2.0],
      strides: [4, 8, 16, 32, 64],
    },
    bbox_coder: {
      type: "DeltaXYWHBBoxCoder",
      target_means: [0.0, 0.0, 0.0, 0.0],
      target_stds: [1.0, 1.0, 1.0, 1.0],
    },
    loss_cls: { type: "CrossEntropyLoss", use_sigmoid: true, loss_weight: 1.0 },
    loss_bbox: { type: "L1Loss", loss_weight: 1.0 },
  },
  roi_head: {
    type: "StandardRoIHead",
    bbox_roi_extractor: {
      type: "SingleRoIExtractor",
      roi_layer: { type: "RoIAlign", output_size: 7, sampling_ratio: 0 },
      out_channels: 32,
      featmap_strides: [4, 8, 16, 32],
      // objects are 12-64 px: level by scale as mmdetection, with finest_scale 56 → most on P2/P3
      finest_scale: 56,
    },
    bbox_head: {
      type: "Shared2FCBBoxHead",
      in_channels: 32,
      fc_out_channels: 128,
      roi_feat_size: 7,
      num_classes: 3,
      bbox_coder: {
        type: "DeltaXYWHBBoxCoder",
        target_means: [0.0, 0.0, 0.0, 0.0],
        target_stds: [0.1, 0.1, 0.2, 0.2],
      },
      reg_class_agnostic: false,
      loss_cls: { type: "CrossEntropyLoss", use_sigmoid: false, loss_weight: 1.0 },
      loss_bbox: { type: "L1Loss", loss_weight: 1.0 },
    },
  },
  train_cfg: {
    rpn: {
      assigner: {
        type: "MaxIoUAssigner",
        pos_iou_thr: 0.7,
        neg_iou_thr: 0.3,
        min_pos_iou: 0.3,
        match_low_quality: true,
        ignore_iof_thr: -1,
      },
      sampler: {
        type: "RandomSampler",
        num: 256,
        pos_fraction: 0.5,
        neg_pos_ub: -1,
        add_gt_as_proposals: false,
      },
      allowed_border: -1,
      pos_weight: -1,
      debug: false,
    },
    rpn_proposal: {
      nms_pre: 1000,
      max_per_img: 300,
      nms: { type: "nms", iou_threshold: 0.7 },
      min_bbox_size: 0,
    },
    rcnn: {
      assigner: {
        type: "MaxIoUAssigner",
        pos_iou_thr: 0.5,
        neg_iou_thr: 0.5,
        min_pos_iou: 0.5,
        match_low_quality: false,
        ignore_iof_thr: -1,
      },
      sampler: {
        type: "RandomSampler",
        num: 128,
        pos_fraction: 0.25,
        neg_pos_ub: -1,
        add_gt_as_proposals: true,
      },
      pos_weight: -1,
      debug: false,
    },
  },
  test_cfg: {
    rpn: {
      nms_pre: 1000,
      max_per_img: 300,
      nms: { type: "nms", iou_threshold: 0.7 },
      min_bbox_size: 0,
    },
    rcnn: { score_thr: 0.05, nms: { type: "nms", iou_threshold: 0.5 }, max_per_img: 100 },
  },
};
