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
import sys

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_rpn_fixtures import bbox_overlaps, choose, encode, step_seed  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "models",
                   "roi_head.json")
OUT_TRAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "models",
                         "roi_head_train.json")


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


def forward_train_case():
    """StandardRoIHead.forward_train on fixed proposals: MaxIoUAssigner(0.5, 0.5, min_pos 0.5,
    match_low_quality False), gts added as proposals, RandomSampler(num 32, pos_fraction 0.25) with
    wgdet's seeded draw (the RoI head's seed stepSeed(1, 0); wgdet keys gt g as g and proposal r as
    G + r, G the batch's largest gt count), DeltaXYWHBBoxCoder(stds 0.1, 0.1, 0.2, 0.2) targets in
    float32, bbox2roi (positives then negatives per image), then the box loss as above."""
    g = torch.Generator().manual_seed(77)
    N, Cin, C, FC, size = 2, 2, 3, 16, 128
    strides, finest, M = [4, 8, 16, 32], 7.0, 40
    num, pos_fraction = 32, 0.25
    seed = step_seed(1, 0)
    feats = [f32(torch.randn(N, Cin, size // s, size // s, generator=g, dtype=torch.float64)).requires_grad_(True)
             for s in strides]
    gts = [torch.tensor([[10, 12, 60, 70], [70, 20, 120, 64], [30, 80, 90, 124]], dtype=torch.float32),
           torch.tensor([[20, 30, 100, 110]], dtype=torch.float32)]
    glabels = [torch.tensor([0, 2, 1]), torch.tensor([1])]
    counts = [M, 27]
    props = torch.zeros(N, M, 5, dtype=torch.float32)
    valid = torch.zeros(N, M, dtype=torch.float32)
    for n in range(N):
        k = gts[n].shape[0]
        for i in range(counts[n]):
            if i % 2 == 0:  # jittered copies of a gt: a mix of positives and negatives
                b = gts[n][(i // 2) % k]
                w, h = b[2] - b[0], b[3] - b[1]
                j = (torch.rand(4, generator=g) - 0.5) * torch.stack([w, h, w, h]) * 0.6
                box = b + j
            else:  # random boxes
                xy = torch.rand(2, generator=g) * (size - 24)
                wh = 8 + torch.rand(2, generator=g) * 60
                box = torch.cat([xy, xy + wh])
            box = box.clamp(0, size)
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                box = torch.tensor([5.0, 5.0, 30.0, 30.0])
            props[n, i, :4] = box
            props[n, i, 4] = 1.0 - i / 100.0
            valid[n, i] = 1
    G = max(t.shape[0] for t in gts)
    rois, labels, tgts, npos = [], [], [], []
    for n in range(N):
        b = props[n, :counts[n], :4]
        gt, gl = gts[n], glabels[n]
        k = gt.shape[0]
        ov = bbox_overlaps(gt, b)  # [k, m] float32
        mx, am = ov.max(dim=0)
        gi = torch.full((b.shape[0],), -1, dtype=torch.long)
        gi[(mx >= 0) & (mx < 0.5)] = 0
        pm = mx >= 0.5
        gi[pm] = am[pm] + 1
        # add_gt_as_proposals
        allb = torch.cat([gt, b])
        gi = torch.cat([torch.arange(1, k + 1), gi])
        key_index = torch.cat([torch.arange(k), G + torch.arange(b.shape[0])])
        pos_g = (gi > 0).nonzero().squeeze(1)
        neg_g = (gi == 0).nonzero().squeeze(1)

        def pick(gal, want, cat):
            if gal.numel() <= want:
                return gal
            keys = torch.tensor([__import__("gen_rpn_fixtures").sampler_key(seed, n, cat, int(key_index[j]))
                                 for j in gal.tolist()])
            return gal[torch.argsort(keys)[:want]].sort().values

        pos = pick(pos_g, int(num * pos_fraction), 0)
        neg = pick(neg_g, num - pos.numel(), 1)
        pb, nb = allb[pos], allb[neg]
        t = encode(pb, gt[gi[pos] - 1])
        t = t / torch.tensor([0.1, 0.1, 0.2, 0.2])
        for bb in torch.cat([pb, nb]):
            rois.append([float(n)] + bb.tolist())
        labels += gl[gi[pos] - 1].tolist() + [C] * neg.numel()
        tgts.append(torch.cat([t, torch.zeros(neg.numel(), 4)]))
        npos.append(pos.numel())
    rois = f32(torch.tensor(rois, dtype=torch.float64))
    lab = torch.tensor(labels)
    tgt = f32(torch.cat(tgts).to(torch.float64))
    R = rois.shape[0]
    posm = lab < C
    bw = posm[:, None].to(torch.float64).expand(R, 4)
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
    for p_ in params.values():
        p_.requires_grad_(True)
    scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
    lv = torch.floor(torch.log2(scale / finest + 1e-6)).clamp(min=0, max=len(strides) - 1).long()
    pooled = torch.zeros(R, Cin, 7, 7, dtype=torch.float64)
    for i, st in enumerate(strides):
        inds = (lv == i).nonzero().squeeze(1)
        if inds.numel():
            pooled[inds] = roi_align(feats[i], rois[inds], (7, 7), spatial_scale=1.0 / st, sampling_ratio=0,
                                     aligned=True)
    h = pooled.flatten(1)
    h = F.relu(F.linear(h, params["shared_fcs.0.weight"], params["shared_fcs.0.bias"]))
    h = F.relu(F.linear(h, params["shared_fcs.1.weight"], params["shared_fcs.1.bias"]))
    cls = F.linear(h, params["fc_cls.weight"], params["fc_cls.bias"])
    reg = F.linear(h, params["fc_reg.weight"], params["fc_reg.bias"])
    loss_cls = F.cross_entropy(cls, lab, reduction="sum") / max(R, 1)
    acc = (cls.argmax(1) == lab).double().sum() * 100.0 / R
    pred = reg.view(R, -1, 4)[posm, lab[posm]]
    loss_bbox = (torch.abs(pred - tgt[posm]) * bw[posm]).sum() / R
    (loss_cls + loss_bbox).backward()
    arrays = {"proposals": arr(props), "valid": arr(valid), "rois": arr(rois), "labels": arr(lab, "i32"),
              "levels": arr(lv, "i32")}
    for n in range(N):
        arrays[f"gt_bboxes{n}"] = arr(gts[n])
        arrays[f"gt_labels{n}"] = arr(glabels[n], "i32")
    for i, f in enumerate(feats):
        arrays[f"x{i}"] = arr(f)
        arrays[f"gx{i}"] = arr(f.grad)
    for name, p_ in params.items():
        arrays[name] = arr(p_)
        arrays["grad." + name] = arr(p_.grad)
    out = {"generator": "tools/gen_roi_head_fixtures.py (forward_train_case)", "torch": torch.__version__,
           "cfg": {"num_classes": C, "in_channels": Cin, "fc_out_channels": FC, "featmap_strides": strides,
                   "finest_scale": finest, "num": num, "pos_fraction": pos_fraction, "num_pos": npos},
           "losses": {"loss_cls": float(loss_cls), "loss_bbox": float(loss_bbox), "acc": float(acc)},
           "arrays": arrays}
    with open(OUT_TRAIN, "w") as fh:
        json.dump(out, fh, separators=(",", ":"))
        fh.write("\n")
    print("wrote", OUT_TRAIN, os.path.getsize(OUT_TRAIN), "bytes; rois", R, "positives", npos, "levels",
          torch.bincount(lv, minlength=4).tolist(), out["losses"])


if __name__ == "__main__":
    main()
    forward_train_case()
