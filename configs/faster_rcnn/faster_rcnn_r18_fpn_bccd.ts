// Faster R-CNN R-18-FPN on BCCD (blood cell detection: RBC, WBC, Platelets; 640×480 Pascal-VOC
// images), reduced for a CPU software adapter as retinanet_r18_fpn_bccd.ts (whose data, pipelines,
// AdamW schedule and evaluation it takes): 320×240 images, ResNet-18 at half width (stage outputs
// 32-256), a 64-channel FPN (P2-P6), the RPN head and a Shared2FC box head of 256-wide fcs.
// On a real GPU, drop the reductions (full-width ResNet, 256-channel FPN, 1024-wide fcs) or start
// from faster_rcnn_r50_fpn_1x_coco.ts with this file's `data`.

export const _base_ = "../retinanet/retinanet_r18_fpn_bccd.ts";

const num_classes = 3;

export const model = {
  _delete_: true,
  type: "FasterRCNN",
  backbone: {
    type: "ResNet",
    depth: 18,
    num_stages: 4,
    out_indices: [0, 1, 2, 3],
    base_channels: 32, // stage outputs 32, 64, 128, 256
    frozen_stages: -1,
    norm_cfg: { type: "BN", requires_grad: true },
    norm_eval: false,
    style: "pytorch",
    init_cfg: null,
  },
  neck: { type: "FPN", in_channels: [32, 64, 128, 256], out_channels: 64, num_outs: 5 },
  rpn_head: {
    type: "RPNHead",
    in_channels: 64,
    feat_channels: 64,
    // at 320×240, platelets are ~15 px and white cells ~60-90 px: anchors 16-256 px
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
      out_channels: 64,
      featmap_strides: [4, 8, 16, 32],
    },
    bbox_head: {
      type: "Shared2FCBBoxHead",
      in_channels: 64,
      fc_out_channels: 256,
      roi_feat_size: 7,
      num_classes,
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
      nms_pre: 2000,
      max_per_img: 1000,
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
        num: 512,
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
      max_per_img: 1000,
      nms: { type: "nms", iou_threshold: 0.7 },
      min_bbox_size: 0,
    },
    rcnn: { score_thr: 0.05, nms: { type: "nms", iou_threshold: 0.5 }, max_per_img: 100 },
  },
};
