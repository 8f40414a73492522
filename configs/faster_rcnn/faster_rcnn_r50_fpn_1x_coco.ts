// Faster R-CNN R-50-FPN, 1x schedule on COCO: mmdetection v2.25's
// configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py.

export const _base_ = [
  "../_base_/models/faster_rcnn_r50_fpn.ts",
  "../_base_/datasets/coco_detection.ts",
  "../_base_/schedules/schedule_1x.ts",
  "../_base_/default_runtime.ts",
];
