// A tiny RPN for CPU runs on the synthetic shapes data: ResNet-18 at 1/4 width, a 32-channel FPN
// over three levels (strides 8/16/32) and the RPN head; proposals evaluated with proposal_fast
// (mmdetection's eval_recalls, AR at 100/300/1000 proposals).

export const _base_ = "../retinanet/retinanet_tiny_shapes.ts";

export const model = {
  _delete_: true,
  type: "RPN",
  backbone: {
    type: "ResNet",
    depth: 18,
    num_stages: 4,
    out_indices: [0, 1, 2, 3],
    base_channels: 16,
    frozen_stages: -1,
    norm_cfg: { type: "BN", requires_grad: true },
    norm_eval: false,
    style: "pytorch",
    init_cfg: null,
  },
  neck: {
    type: "FPN",
    in_channels: [16, 32, 64, 128],
    out_channels: 32,
    start_level: 1,
    num_outs: 3,
  },
  rpn_head: {
    type: "RPNHead",
    in_channels: 32,
    feat_channels: 32,
    // anchors 16-128 px on strides 8/16/32 (scales 2, 4 → 16-128 px) for objects of 12-64 px
    anchor_generator: {
      type: "AnchorGenerator",
      scales: [2, 4],
      ratios: [0.5, 1.0, 2.0],
      strides: [8, 16, 32],
    },
    bbox_coder: {
      type: "DeltaXYWHBBoxCoder",
      target_means: [0.0, 0.0, 0.0, 0.0],
      target_stds: [1.0, 1.0, 1.0, 1.0],
    },
    loss_cls: { type: "CrossEntropyLoss", use_sigmoid: true, loss_weight: 1.0 },
    loss_bbox: { type: "L1Loss", loss_weight: 1.0 },
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
  },
  test_cfg: {
    rpn: {
      nms_pre: 1000,
      max_per_img: 1000,
      nms: { type: "nms", iou_threshold: 0.7 },
      min_bbox_size: 0,
    },
  },
};
export const evaluation = { interval: 4, metric: "proposal_fast", save_best: null };
