#!/usr/bin/python3
"""Generates tests/fixtures/models/roi_head.json: a plain-PyTorch re-implementation of mmdetection
v2.25's StandardRoIHead box loss on fixed sampled RoIs and targets -- SingleRoIExtractor
(map_roi_levels + torchvision roi_align aligned=True, sampling_ratio 0) -> Shared2FCBBoxHead
(flatten, two fc + ReLU, fc_cls, class-specific fc_reg) -> BBoxHead.loss (softmax CE averaged
over max(#(label_weights > 0), 1); accuracy; L1 on the label's deltas of positives summed over
bbox_targets.size(0)) -- with the gradients of every head parameter and of the feature maps.

The TS side receives the same rows laid out as roiTargetsGpu does: per image S slots, sampled
rows first, then padding rows (batch index -1, label C, weight 0) that must not change anything.

Usage: /usr/bin/python3 tools/gen_roi_head_fixtures.py
"""
import json
import os

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "models",
                   "roi_head.json")


def arr(t, dtype="f32"):
    t = t.detach()
    data = t.to(torch.float32).reshape(-1).tolist() if dtype == "f32" else t.reshape(-1).tolist()
    return {"shape": list(t.shape), "dtype": dtype, "data": [float("%.9g" % v) if dtype == "f32" else int(v)
                                                             for v in data]}


def f32(t):
    return t.to(torch.float32).to(torch.float64)


def main():
    g = torch.Generator().manual_seed(2025)
    N, Cin, C, FC, S = 2, 2, 3, 16, 8
    strides, finest, size = [4, 8, 16, 32], 7.0, 128
    feats = [f32(torch.randn(N, Cin, size // s, size // s, generator=g, dtype=torch.float64)).requires_grad_(True)
             for s in strides]
    # sampled rows per image (boxes of all four levels), labels in [0, C] (C = background)
    rows = [
        [[0, 10, 12, 60, 70], [0, 0, 0, 224, 224], [0, 30, 40, 50, 52], [0, 100, 90, 220, 200],
         [0, 5, 150, 120, 223], [0, 60, 60, 180, 110]],
        [[1, 20, 20, 90, 80], [1, 150, 10, 200, 40], [1, 0, 100, 224, 224], [1, 40, 40, 45, 47],
         [1, 12.5, 33.25, 140.5, 150.75]],
    ]
    labels = [[0, 2, 3, 1, 3, 3], [1, 3, 0, 3, 2]]
    rows = [[[r[0]] + [v * size / 224.0 for v in r[1:]] for r in img] for img in rows]
    rois = f32(torch.tensor([r for img in rows for r in img], dtype=torch.float64))
    lab = torch.tensor([l for img in labels for l in img], dtype=torch.long)
    R = rois.shape[0]
    lw = torch.ones(R, dtype=torch.float64)
    pos = (lab >= 0) & (lab < C)
    tgt = f32(torch.randn(R, 4, generator=g, dtype=torch.float64)) * pos[:, None]
    bw = pos[:, None].to(torch.float64).expand(R, 4).clone()
    # head parameters (mmdet init scales, drawn here)
    D = Cin * 49
    params = {
        "shared_fcs.0.weight": f32(torch.randn(FC, D, generator=g, dtype=torch.float64) * 0.1),
        "shared_fcs.0.bias": f32(torch.randn(FC, generator=g, dtype=torch.float64) * 0.1),
        "shared_fcs.1.weight": f32(torch.randn(FC, FC, generator=g, dtype=torch.float64) * 0.3),
        "shared_fcs.1.bias": f32(torch.randn(FC, generator=g, dtype=torch.float64) * 0.1),
        "fc_cls.weight": f32(torch.randn(C + 1, FC, generator=g, dtype=torch.float64) * 0.3),
        "fc_cls.bias": f32(torch.randn(C + 1, generator=g, dtype=torch.float64) * 0.1),
        "fc_reg.weight": f32(torch.randn(4 * C, FC, generator=g, dtype=torch.float64) * 0.3),
        "fc_reg.bias": f32(torch.randn(4 * C, generator=g, dtype=torch.float64) * 0.1),
    }
    for p in params.values():
        p.requires_grad_(True)
    # SingleRoIExtractor
    scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
    lv = torch.floor(torch.log2(scale / finest + 1e-6)).clamp(min=0, max=len(strides) - 1).long()
    pooled = torch.zeros(R, Cin, 7, 7, dtype=torch.float64)
    for i, s in enumerate(strides):
        inds = (lv == i).nonzero().squeeze(1)
        if inds.numel():
            pooled[inds] = roi_align(feats[i], rois[inds], (7, 7), spatial_scale=1.0 / s, sampling_ratio=0,
                                     aligned=True)
    # Shared2FCBBoxHead
    h = pooled.flatten(1)
    h = F.relu(F.linear(h, params["shared_fcs.0.weight"], params["shared_fcs.0.bias"]))
    h = F.relu(F.linear(h, params["shared_fcs.1.weight"], params["shared_fcs.1.bias"]))
    cls = F.linear(h, params["fc_cls.weight"], params["fc_cls.bias"])
    reg = F.linear(h, params["fc_reg.weight"], params["fc_reg.bias"])
    # BBoxHead.loss
    avg = max(float((lw > 0).sum()), 1.0)
    loss_cls = (F.cross_entropy(cls, lab, reduction="none") * lw).sum() / avg
    acc = (cls.argmax(1) == lab).double().sum() * 100.0 / R
    pred = reg.view(R, -1, 4)[pos, lab[pos]]
    loss_bbox = (torch.abs(pred - tgt[pos]) * bw[pos]).sum() / tgt.size(0)
    (loss_cls + loss_bbox).backward()
    # the padded layout of roiTargetsGpu: S slots per image
    pr, pl, pw, pt, pbw = [], [], [], [], []
    k = 0
    for n, img in enumerate(rows):
        for j in range(S):
            if j < len(img):
                pr.append(rois[k].tolist()); pl.append(int(lab[k])); pw.append(1.0)
                pt.append(tgt[k].tolist()); pbw.append(bw[k].tolist()); k += 1
            else:
                pr.append([-1, 0, 0, 0, 0]); pl.append(C); pw.append(0.0)
                pt.append([0, 0, 0, 0]); pbw.append([0, 0, 0, 0])
    arrays = {
        "rois": arr(torch.tensor(pr)), "labels": arr(torch.tensor(pl), "i32"),
        "label_weights": arr(torch.tensor(pw)), "bbox_targets": arr(torch.tensor(pt)),
        "bbox_weights": arr(torch.tensor(pbw)),
        "cls_score": arr(cls), "bbox_pred": arr(reg), "levels": arr(lv, "i32"),
    }
    for i, f in enumerate(feats):
        arrays[f"x{i}"] = arr(f)
        arrays[f"gx{i}"] = arr(f.grad)
    for name, p in params.items():
        arrays[name] = arr(p)
        arrays["grad." + name] = arr(p.grad)
    out = {"generator": "tools/gen_roi_head_fixtures.py", "torch": torch.__version__,
           "cfg": {"num_classes": C, "in_channels": Cin, "fc_out_channels": FC, "slots": S,
                   "featmap_strides": strides, "finest_scale": finest},
           "losses": {"loss_cls": float(loss_cls), "loss_bbox": float(loss_bbox), "acc": float(acc)},
           "arrays": arrays}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as fh:
        json.dump(out, fh, separators=(",", ":"))
        fh.write("\n")
    print("wrote", OUT, os.path.getsize(OUT), "bytes; levels", lv.tolist(), out["losses"])


if __name__ == "__main__":
    main()
