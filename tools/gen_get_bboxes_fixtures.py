#!/usr/bin/env python3
"""Generates tests/fixtures/models/get_bboxes_nonsquare.json: mmdetection v2.25's RetinaHead
`get_bboxes` (BaseDenseHead._get_bboxes_single + _bbox_post_process) in plain PyTorch on fixed
head outputs for a batch whose images are non-square and padded at the bottom/right (img_shape
smaller than pad_shape, different per image), with rescale. The anchors (AnchorGenerator, centre
offset 0) and the box decoding come from tools/gen_core_fixtures.py (loaded by path); per-level
`filter_scores_and_topk`, the division by scale_factor and mmcv's `batched_nms` (offset trick,
torchvision's `nms`) are written here from mmdetection's definitions.

Usage:
    python3 tools/gen_get_bboxes_fixtures.py
"""
import importlib.util
import json
import os

import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "models", "get_bboxes_nonsquare.json")

spec = importlib.util.spec_from_file_location("core", os.path.join(HERE, "gen_core_fixtures.py"))
core = importlib.util.module_from_spec(spec)
spec.loader.exec_module(core)

C = 2
STRIDES = [8, 16, 32, 64, 128]
PAD = (96, 160)  # padded input (H, W): non-square
SIZES = [(12, 20), (6, 10), (3, 5), (2, 3), (1, 2)]  # FPN P3-P7 of a 96x160 input
METAS = [
    {"img_shape": [90, 150, 3], "pad_shape": [96, 160, 3], "scale_factor": [1.25, 1.2, 1.25, 1.2]},
    {"img_shape": [96, 120, 3], "pad_shape": [96, 160, 3], "scale_factor": [0.5, 0.5, 0.5, 0.5]},
]
CFG = {"nms_pre": 60, "score_thr": 0.05, "iou_threshold": 0.5, "max_per_img": 40}


def filter_scores_and_topk(scores, score_thr, topk):
    valid_mask = scores > score_thr
    s = scores[valid_mask]
    valid_idxs = torch.nonzero(valid_mask)
    num_topk = min(topk, valid_idxs.size(0))
    s, idxs = s.sort(descending=True)
    s = s[:num_topk]
    topk_idxs = valid_idxs[idxs[:num_topk]]
    keep_idxs, labels = topk_idxs.unbind(dim=1)
    return s, labels, keep_idxs


def batched_nms(boxes, scores, idxs, iou_threshold):
    if boxes.numel() == 0:
        return torch.zeros((0, 5)), idxs[:0]
    max_coordinate = boxes.max()
    offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
    keep = torchvision.ops.nms(boxes + offsets[:, None], scores, iou_threshold)
    return torch.cat([boxes[keep], scores[keep][:, None]], -1), idxs[keep]


def main():
    g = torch.Generator().manual_seed(20261203)
    scales = core.anchor_scales(octave_base_scale=4, scales_per_octave=1)
    ratios = torch.tensor([0.5, 1.0, 2.0])
    A = 3
    anchors = [core.grid_anchors(core.base_anchors(s, scales, ratios), hw, s)
               for s, hw in zip(STRIDES, SIZES)]
    # full float32 values (no ties among scores), written with 9 significant digits below
    cls = [torch.rand(2, A * C, h, w, generator=g) * 6 - 4 for h, w in SIZES]
    reg = [torch.rand(2, A * 4, h, w, generator=g) - 0.5 for h, w in SIZES]
    expected = []
    for n, meta in enumerate(METAS):
        mb, ms, ml = [], [], []
        for lvl in range(len(SIZES)):
            scores = cls[lvl][n].permute(1, 2, 0).reshape(-1, C).sigmoid()
            deltas = reg[lvl][n].permute(1, 2, 0).reshape(-1, 4)
            s, labels, keep = filter_scores_and_topk(scores, CFG["score_thr"], CFG["nms_pre"])
            boxes = core.decode(anchors[lvl][keep], deltas[keep], max_shape=meta["img_shape"][:2])
            mb.append(boxes)
            ms.append(s)
            ml.append(labels)
        boxes = torch.cat(mb) / torch.tensor(meta["scale_factor"])
        dets, labels = batched_nms(boxes, torch.cat(ms), torch.cat(ml), CFG["iou_threshold"])
        dets, labels = dets[:CFG["max_per_img"]], labels[:CFG["max_per_img"]]
        # 9 significant digits: the float32 value reads back exactly
        expected.append({"dets": [float("%.9g" % v) for v in dets.reshape(-1).tolist()],
                         "labels": labels.tolist()})
    out = {
        "generator": "tools/gen_get_bboxes_fixtures.py",
        "num_classes": C,
        "strides": STRIDES,
        "sizes": SIZES,
        "metas": METAS,
        "cfg": CFG,
        "cls": [[float("%.9g" % v) for v in c.reshape(-1).tolist()] for c in cls],
        "reg": [[float("%.9g" % v) for v in r.reshape(-1).tolist()] for r in reg],
        "expected": expected,
    }
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote", OUT, os.path.getsize(OUT), "bytes;", [len(e["labels"]) for e in expected], "detections")


if __name__ == "__main__":
    main()
