#!/usr/bin/python3
"""Generates tests/fixtures/models/two_stage_aug.json: mmdetection v2.25's test-time augmentation
of two-stage detectors re-implemented in plain PyTorch on fixed head outputs.

- merge_aug_proposals: four augmentations (none; horizontal flip; vertical flip at a non-uniform
  scale; diagonal flip at scale 0.75), each with padded, score-sorted proposals in its own frame;
  bbox_mapping_back (flip in the augmentation's img_shape, then / scale_factor), concatenation,
  torchvision nms (= mmcv nms, offset 0) with test_cfg.rpn nms.iou_threshold, sort, max_per_img.
- bbox_mapping of the merged proposals into every augmentation's frame (the RoIs).
- aug_test_bboxes on fixed box-head outputs for those RoIs: softmax, delta2bbox (stds 0.1, 0.1,
  0.2, 0.2, clipped to the augmentation's img_shape), merge_aug_bboxes (map back, mean of boxes
  and scores), multiclass_nms (score_thr, nms, max_per_img), then scaled by the first
  augmentation's scale_factor unless rescale.

Usage: /usr/bin/python3 tools/gen_two_stage_aug_fixtures.py
"""
import json
import math
import os

import torch
import torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "models",
                   "two_stage_aug.json")

ORI = (64, 80)  # h, w of the original image
AUGS = [
    {"scale_factor": [1.0, 1.0, 1.0, 1.0], "flip": False, "flip_direction": None},
    {"scale_factor": [1.0, 1.0, 1.0, 1.0], "flip": True, "flip_direction": "horizontal"},
    {"scale_factor": [1.25, 1.2, 1.25, 1.2], "flip": True, "flip_direction": "vertical"},
    {"scale_factor": [0.75, 0.75, 0.75, 0.75], "flip": True, "flip_direction": "diagonal"},
]
for a in AUGS:
    a["img_shape"] = [round(ORI[0] * a["scale_factor"][1]), round(ORI[1] * a["scale_factor"][0]), 3]
CAP = [12, 12, 16, 10]     # padded rows per augmentation
COUNTS = [12, 9, 13, 7]    # real rows
RPN_CFG = {"nms": {"type": "nms", "iou_threshold": 0.8}, "max_per_img": 16}
C = 3
RCNN_CFG = {"score_thr": 0.05, "nms": {"type": "nms", "iou_threshold": 0.5}, "max_per_img": 15}
STDS = [0.1, 0.1, 0.2, 0.2]


def arr(t, dtype="f32"):
    t = t.detach()
    data = t.to(torch.float32).reshape(-1).tolist() if dtype == "f32" else t.reshape(-1).tolist()
    return {"shape": list(t.shape), "dtype": dtype,
            "data": [float("%.9g" % v) if dtype == "f32" else int(v) for v in data]}


def bbox_flip(b, img_shape, direction):
    h, w = img_shape[0], img_shape[1]
    f = b.clone()
    if direction in ("horizontal", "diagonal"):
        f[..., 0::4] = w - b[..., 2::4]
        f[..., 2::4] = w - b[..., 0::4]
    if direction in ("vertical", "diagonal"):
        f[..., 1::4] = h - b[..., 3::4]
        f[..., 3::4] = h - b[..., 1::4]
    return f


def bbox_mapping(b, m):
    nb = b * b.new_tensor(m["scale_factor"])
    return bbox_flip(nb, m["img_shape"], m["flip_direction"]) if m["flip"] else nb


def bbox_mapping_back(b, m):
    nb = bbox_flip(b, m["img_shape"], m["flip_direction"]) if m["flip"] else b
    return (nb.reshape(-1, 4) / nb.new_tensor(m["scale_factor"])).reshape(b.shape)


def delta2bbox(rois, deltas, max_shape):
    n = rois.shape[0]
    k = deltas.shape[1] // 4
    d = deltas.reshape(n * k, 4) * deltas.new_tensor(STDS)
    r = rois.repeat(1, k).reshape(-1, 4)
    pxy = (r[:, :2] + r[:, 2:]) * 0.5
    pwh = r[:, 2:] - r[:, :2]
    max_ratio = abs(math.log(16 / 1000))
    dwh = d[:, 2:].clamp(min=-max_ratio, max=max_ratio)
    gxy = pxy + pwh * d[:, :2]
    gwh = pwh * dwh.exp()
    b = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], -1)
    b[..., 0::2].clamp_(min=0, max=max_shape[1])
    b[..., 1::2].clamp_(min=0, max=max_shape[0])
    return b.reshape(n, 4 * k)


def batched_nms(boxes, scores, idxs, iou_threshold):
    max_coordinate = boxes.max()
    offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
    keep = torchvision.ops.nms(boxes + offsets[:, None], scores, iou_threshold)
    return torch.cat([boxes[keep], scores[keep][:, None]], -1), keep


def multiclass_nms(multi_bboxes, multi_scores, cfg):
    n = multi_scores.shape[0]
    bboxes = multi_bboxes.view(n, -1, 4)
    scores = multi_scores[:, :-1]
    labels = torch.arange(C).view(1, -1).expand_as(scores)
    bboxes, scores, labels = bboxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
    inds = (scores > cfg["score_thr"]).nonzero(as_tuple=False).squeeze(1)
    bboxes, scores, labels = bboxes[inds], scores[inds], labels[inds]
    if bboxes.numel() == 0:
        return bboxes.new_zeros((0, 5)), labels
    dets, keep = batched_nms(bboxes, scores, labels, cfg["nms"]["iou_threshold"])
    return dets[:cfg["max_per_img"]], labels[keep][:cfg["max_per_img"]]


def main():
    g = torch.Generator().manual_seed(20261203)
    # objects in the original frame; each augmentation proposes jittered copies in its own frame
    base = torch.tensor([[8, 6, 30, 28], [40, 10, 70, 40], [20, 30, 52, 60], [55, 40, 78, 62],
                         [2, 44, 24, 63]], dtype=torch.float32)
    parts, valids = [], []
    for a, cap, cnt in zip(AUGS, CAP, COUNTS):
        pick = torch.randint(0, base.shape[0], (cnt,), generator=g)
        ori = base[pick] + torch.randn(cnt, 4, generator=g) * 3.0
        ori = torch.stack([ori[:, 0], ori[:, 1], torch.maximum(ori[:, 2], ori[:, 0] + 2),
                           torch.maximum(ori[:, 3], ori[:, 1] + 2)], 1)
        box = bbox_mapping(ori, a)
        h, w = a["img_shape"][0], a["img_shape"][1]
        box[:, 0::2] = box[:, 0::2].clamp(0, w)
        box[:, 1::2] = box[:, 1::2].clamp(0, h)
        score = torch.rand(cnt, generator=g).sort(descending=True).values
        rows = torch.zeros(cap, 5)
        rows[:cnt, :4] = box
        rows[:cnt, 4] = score
        v = torch.zeros(cap)
        v[:cnt] = 1
        parts.append(rows)
        valids.append(v)
    # merge_aug_proposals
    rec = []
    for rows, cnt, a in zip(parts, COUNTS, AUGS):
        p = rows[:cnt].clone()
        p[:, :4] = bbox_mapping_back(p[:, :4], a)
        rec.append(p)
    allp = torch.cat(rec, 0)
    keep = torchvision.ops.nms(allp[:, :4].contiguous(), allp[:, -1].contiguous(),
                               RPN_CFG["nms"]["iou_threshold"])
    merged = allp[keep]
    order = merged[:, 4].sort(0, descending=True)[1][:min(RPN_CFG["max_per_img"], merged.shape[0])]
    merged = merged[order]
    k = merged.shape[0]
    # RoIs per augmentation and fixed box-head outputs
    rois = [bbox_mapping(merged[:, :4], a) for a in AUGS]
    cls = [torch.randn(k, C + 1, generator=g) * 1.5 for _ in AUGS]
    reg = [torch.randn(k, 4 * C, generator=g) * 0.8 for _ in AUGS]
    aug_b, aug_s = [], []
    for r, c, d, a in zip(rois, cls, reg, AUGS):
        aug_b.append(delta2bbox(r, d, a["img_shape"]))
        aug_s.append(torch.softmax(c, -1))
    rb = [bbox_mapping_back(b, a) for b, a in zip(aug_b, AUGS)]
    mb = torch.stack(rb).mean(0)
    ms = torch.stack(aug_s).mean(0)
    dets, labels = multiclass_nms(mb, ms, RCNN_CFG)
    dets_no = dets.clone()
    dets_no[:, :4] *= dets.new_tensor(AUGS[0]["scale_factor"])
    arrays = {}
    for i in range(len(AUGS)):
        arrays[f"proposals{i}"] = arr(parts[i])
        arrays[f"valid{i}"] = arr(valids[i])
        arrays[f"rois{i}"] = arr(torch.cat([torch.zeros(k, 1), rois[i]], 1))
        arrays[f"cls{i}"] = arr(cls[i])
        arrays[f"reg{i}"] = arr(reg[i])
    arrays["merged"] = arr(merged)
    arrays["merged_bboxes"] = arr(mb)
    arrays["merged_scores"] = arr(ms)
    arrays["dets_rescale"] = arr(dets)
    arrays["dets"] = arr(dets_no)
    arrays["labels"] = arr(labels, "i32")
    out = {"generator": "tools/gen_two_stage_aug_fixtures.py", "torch": torch.__version__,
           "ori_shape": [ORI[0], ORI[1], 3], "img_metas": AUGS, "num_classes": C,
           "rpn_test_cfg": RPN_CFG, "rcnn_test_cfg": RCNN_CFG, "arrays": arrays}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as fh:
        json.dump(out, fh, separators=(",", ":"))
        fh.write("\n")
    print("wrote", OUT, os.path.getsize(OUT), "bytes; proposals", sum(COUNTS), "-> merged", k,
          "; detections", dets.shape[0], "labels", labels.tolist())


if __name__ == "__main__":
    main()
