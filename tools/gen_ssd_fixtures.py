#!/usr/bin/python3
"""Generate the SSD fixtures: mmdetection v2.25's SSDNeck (L2Norm + extra layers) and SSDHead
forward and loss (online hard negative mining) re-implemented in plain PyTorch (float32, CPU),
with gradients; L2Norm alone; and the parameter count of mmdetection's ssd300_coco.

Run from the repository root: /usr/bin/python3 tools/gen_ssd_fixtures.py

Writes tests/fixtures/models/ssd_head_loss.json, ssd_l2norm.json and ssd_vgg_forward.json (the
SSDVGG layer stack on sin-pattern weights, see vgg_fixture).

The tiny network: two "backbone" maps (4 channels 6x6 at stride 8, 6 channels 3x3 at stride 16),
SSDNeck(in (4, 6), out (4, 6, 6, 6), level_strides (2, 2), level_paddings (1, 1)) whose first
map goes through L2Norm, SSDHead with 2 classes (+ background) and 3x3 cls/reg convs per level.
Anchors: SSDAnchorGenerator (scale_major False, min_sizes / max_sizes given, centres at half the
stride, the two square anchors first). Targets: MaxIoUAssigner(pos 0.5, neg 0.5, min_pos_iou 0,
gt_max_assign_all False, match_low_quality True), PseudoSampler, DeltaXYWHBBoxCoder(stds 0.1,
0.1, 0.2, 0.2). Loss per image (mmdet SSDHead.loss_single): CE(reduction none) * label_weights,
all positives + top-k negatives, k = min(3 * #pos, #neg), divided by num_total_pos; smooth L1
(beta 1.0) summed and divided by (num_total_pos + float32 eps) (v2.25 weight_reduce_loss).
"""
import json
import math
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "models")
EPS32 = float(torch.finfo(torch.float32).eps)


def short(t):
    """Round to 6 significant digits (exactly what the JSON says), as float32."""
    return torch.tensor([float("%.6g" % v) for v in t.reshape(-1).tolist()],
                        dtype=torch.float32).reshape(t.shape)


def arr(t, digits=8):
    t = torch.as_tensor(t).detach()
    if t.is_floating_point():
        data = [float(("%." + str(digits) + "g") % v) for v in t.reshape(-1).tolist()]
    else:
        data = [int(v) for v in t.reshape(-1).tolist()]
    return {"shape": list(t.shape), "data": data}


# ---- L2Norm (mmdet.models.necks.ssd_neck.L2Norm) ------------------------------------------------
def l2norm(x, weight, eps=1e-10):
    norm = x.pow(2).sum(1, keepdim=True).sqrt() + eps
    return weight[None, :, None, None].expand_as(x) * x / norm


# ---- SSD anchors (mmdet.core.anchor.SSDAnchorGenerator with min/max sizes) ---------------------
def ssd_base_anchors(stride, min_size, max_size, ratios):
    scales = torch.tensor([1.0, math.sqrt(max_size / min_size)])
    r = [1.0]
    for x in ratios:
        r += [1.0 / x, x]
    r = torch.tensor(r)
    h_ratios = torch.sqrt(r)
    w_ratios = 1 / h_ratios
    w = h = float(min_size)
    ws = (w * scales[:, None] * w_ratios[None, :]).reshape(-1)  # scale_major False
    hs = (h * scales[:, None] * h_ratios[None, :]).reshape(-1)
    cx = cy = stride / 2.0
    base = torch.stack([cx - 0.5 * ws, cy - 0.5 * hs, cx + 0.5 * ws, cy + 0.5 * hs], -1)
    idx = list(range(len(r)))
    idx.insert(1, len(idx))
    return base[torch.tensor(idx)]


def grid_anchors(base, stride, h, w):
    sx = torch.arange(0, w, dtype=torch.float32) * stride
    sy = torch.arange(0, h, dtype=torch.float32) * stride
    yy, xx = torch.meshgrid(sy, sx, indexing="ij")
    shifts = torch.stack([xx.reshape(-1), yy.reshape(-1), xx.reshape(-1), yy.reshape(-1)], -1)
    return (base[None, :, :] + shifts[:, None, :]).reshape(-1, 4)


# ---- MaxIoUAssigner + DeltaXYWH encode ---------------------------------------------------------
def iou(a, b):
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / torch.max(union, torch.tensor(1e-6))


def assign(anchors, gts, pos_thr=0.5, neg_thr=0.5, min_pos_iou=0.0):
    ov = iou(gts, anchors)  # [G, A]
    A = anchors.shape[0]
    gt_inds = torch.full((A,), -1, dtype=torch.long)
    if gts.shape[0] == 0:
        return torch.zeros(A, dtype=torch.long)
    max_ov, argmax = ov.max(0)
    gt_max, gt_argmax = ov.max(1)
    gt_inds[(max_ov >= 0) & (max_ov < neg_thr)] = 0
    pos = max_ov >= pos_thr
    gt_inds[pos] = argmax[pos] + 1
    for i in range(gts.shape[0]):  # match_low_quality, gt_max_assign_all False
        if gt_max[i] >= min_pos_iou:
            gt_inds[gt_argmax[i]] = i + 1
    return gt_inds


def encode(p, g, stds):
    px, py = (p[:, 0] + p[:, 2]) * 0.5, (p[:, 1] + p[:, 3]) * 0.5
    pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    gx, gy = (g[:, 0] + g[:, 2]) * 0.5, (g[:, 1] + g[:, 3]) * 0.5
    gw, gh = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
    d = torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], -1)
    return d / torch.tensor(stds)


def smooth_l1(pred, target, beta):
    diff = torch.abs(pred - target)
    return torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)


def ssd_loss(cls_scores, bbox_preds, anchors, gts, labels_gt, C, stds, neg_pos_ratio, beta):
    N = cls_scores[0].shape[0]
    all_cls = torch.cat([s.permute(0, 2, 3, 1).reshape(N, -1, C + 1) for s in cls_scores], 1)
    all_reg = torch.cat([b.permute(0, 2, 3, 1).reshape(N, -1, 4) for b in bbox_preds], 1)
    A = anchors.shape[0]
    per = []
    num_total_pos = 0
    for i in range(N):
        gt_inds = assign(anchors, gts[i])
        labels = torch.full((A,), C, dtype=torch.long)
        lw = torch.zeros(A)
        bt = torch.zeros(A, 4)
        bw = torch.zeros(A, 4)
        pos = gt_inds > 0
        neg = gt_inds == 0
        labels[pos] = labels_gt[i][gt_inds[pos] - 1]
        lw[pos] = 1.0
        lw[neg] = 1.0
        bt[pos] = encode(anchors[pos], gts[i][gt_inds[pos] - 1], stds)
        bw[pos] = 1.0
        num_total_pos += max(int(pos.sum()), 1)
        per.append((labels, lw, bt, bw))
    losses_cls, losses_bbox, stats = [], [], []
    for i in range(N):
        labels, lw, bt, bw = per[i]
        loss_all = F.cross_entropy(all_cls[i], labels, reduction="none") * lw
        pos_inds = ((labels >= 0) & (labels < C)).nonzero().reshape(-1)
        neg_inds = (labels == C).nonzero().reshape(-1)
        k = min(neg_pos_ratio * pos_inds.numel(), neg_inds.numel())
        topk, _ = loss_all[neg_inds].topk(k)
        losses_cls.append((loss_all[pos_inds].sum() + topk.sum()) / num_total_pos)
        losses_bbox.append((smooth_l1(all_reg[i], bt, beta) * bw).sum() / (num_total_pos + EPS32))
        stats.append([int(pos_inds.numel()), int(k)])
    return sum(losses_cls), sum(losses_bbox), num_total_pos, stats


def head_fixture():
    torch.manual_seed(0)
    N, C = 2, 2
    in_channels, out_channels = [4, 6], [4, 6, 6, 6]
    level_strides, level_paddings = [2, 2], [1, 1]
    strides = [8, 16, 24, 48]
    min_sizes, max_sizes = [8, 16, 24, 36], [16, 24, 36, 48]
    ratios = [[2], [2, 3], [2, 3], [2]]
    img = [48, 48]
    feats = [short(torch.randn(N, 4, 6, 6).relu()), short(torch.randn(N, 6, 3, 3).relu())]
    params = {"neck.l2_norm.weight": short(20 + torch.randn(4))}
    extra = out_channels[len(in_channels):]
    for i, oc in enumerate(extra):
        ic = out_channels[len(in_channels) - 1 + i]
        params[f"neck.extra_layers.{i}.0.conv.weight"] = short(torch.randn(oc // 2, ic, 1, 1) * 0.5)
        params[f"neck.extra_layers.{i}.0.conv.bias"] = short(torch.randn(oc // 2) * 0.1)
        params[f"neck.extra_layers.{i}.1.conv.weight"] = short(torch.randn(oc, oc // 2, 3, 3) * 0.3)
        params[f"neck.extra_layers.{i}.1.conv.bias"] = short(torch.randn(oc) * 0.1)
    num_anchors = [2 + 2 * len(r) for r in ratios]
    for l, (ch, a) in enumerate(zip(out_channels, num_anchors)):
        params[f"bbox_head.cls_convs.{l}.0.weight"] = short(torch.randn(a * (C + 1), ch, 3, 3) * 0.1)
        params[f"bbox_head.cls_convs.{l}.0.bias"] = short(torch.randn(a * (C + 1)) * 0.1)
        params[f"bbox_head.reg_convs.{l}.0.weight"] = short(torch.randn(a * 4, ch, 3, 3) * 0.05)
        params[f"bbox_head.reg_convs.{l}.0.bias"] = short(torch.randn(a * 4) * 0.05)
    for p in params.values():
        p.requires_grad_(True)
    gts = [
        short(torch.tensor([[4.0, 6.0, 22.0, 20.0], [20.0, 18.0, 44.0, 46.0], [30.0, 2.0, 40.0, 14.0]])),
        short(torch.tensor([[10.0, 10.0, 38.0, 34.0], [1.0, 30.0, 15.0, 47.0]])),
    ]
    gt_labels = [torch.tensor([0, 1, 1]), torch.tensor([1, 0])]
    # neck
    outs = [l2norm(feats[0], params["neck.l2_norm.weight"]), feats[1]]
    x = feats[1]
    for i in range(len(extra)):
        x = F.relu(F.conv2d(x, params[f"neck.extra_layers.{i}.0.conv.weight"],
                            params[f"neck.extra_layers.{i}.0.conv.bias"]))
        x = F.relu(F.conv2d(x, params[f"neck.extra_layers.{i}.1.conv.weight"],
                            params[f"neck.extra_layers.{i}.1.conv.bias"],
                            stride=level_strides[i], padding=level_paddings[i]))
        outs.append(x)
    cls = [F.conv2d(f, params[f"bbox_head.cls_convs.{l}.0.weight"],
                    params[f"bbox_head.cls_convs.{l}.0.bias"], padding=1) for l, f in enumerate(outs)]
    reg = [F.conv2d(f, params[f"bbox_head.reg_convs.{l}.0.weight"],
                    params[f"bbox_head.reg_convs.{l}.0.bias"], padding=1) for l, f in enumerate(outs)]
    anchors = torch.cat([
        grid_anchors(ssd_base_anchors(s, mn, mx, r), s, f.shape[2], f.shape[3])
        for s, mn, mx, r, f in zip(strides, min_sizes, max_sizes, ratios, outs)
    ])
    loss_cls, loss_bbox, ntp, stats = ssd_loss(cls, reg, anchors, gts, gt_labels, C,
                                               [0.1, 0.1, 0.2, 0.2], 3, 1.0)
    (loss_cls + loss_bbox).backward()
    fx = {
        "num_classes": C,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "level_strides": level_strides,
        "level_paddings": level_paddings,
        "strides": strides,
        "min_sizes": min_sizes,
        "max_sizes": max_sizes,
        "ratios": ratios,
        "img_shape": img,
        "feats": [arr(f) for f in feats],
        "params": {k: arr(v) for k, v in params.items()},
        "gt_bboxes": [arr(g) for g in gts],
        "gt_labels": [arr(g) for g in gt_labels],
        "neck_outs": [arr(o) for o in outs],
        "cls_scores": [arr(c) for c in cls],
        "bbox_preds": [arr(r) for r in reg],
        "anchors": arr(anchors),
        "loss_cls": float(loss_cls),
        "loss_bbox": float(loss_bbox),
        "num_total_pos": ntp,
        "mining": stats,
        "grad_params": {k: arr(v.grad, 7) for k, v in params.items()},
    }
    return fx


def l2norm_fixture():
    torch.manual_seed(1)
    x = short(torch.randn(2, 5, 3, 4)).requires_grad_(True)
    w = short(20 + torch.randn(5)).requires_grad_(True)
    up = short(torch.randn(2, 5, 3, 4))
    y = l2norm(x, w)
    (y * up).sum().backward()
    return {"x": arr(x), "weight": arr(w), "upstream": arr(up), "y": arr(y),
            "grad_x": arr(x.grad), "grad_weight": arr(w.grad)}


def pattern(shape, phase, scale):
    """sin-pattern weights that the TS test regenerates: scale * sin(0.37 * j + phase), float64 -> f32."""
    n = 1
    for d in shape:
        n *= d
    j = torch.arange(n, dtype=torch.float64)
    return (scale * torch.sin(0.37 * j + phase)).to(torch.float32).reshape(shape)


def vgg_fixture():
    """SSDVGG (VGG16, ceil_mode, pool5 3x3/1/1, conv6 dilation 6, conv7) on a 1x3x20x20 input with
    sin-pattern weights (conv i: scale 2/sqrt(fan_in), phase 0.1 i; bias 0.01 sin(j + i)); every
    7th output value of the two outputs (features 22 and 34)."""
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
    x = torch.sin(torch.arange(3 * 20 * 20, dtype=torch.float64)).to(torch.float32).reshape(1, 3, 20, 20)
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(("pool", dict(kernel_size=2, stride=2, ceil_mode=True)))
        else:
            layers += [("conv", (c, v, 3, 1, 1)), ("relu", None)]
            c = v
    layers += [("pool", dict(kernel_size=3, stride=1, padding=1)), ("conv", (512, 1024, 3, 6, 6)),
               ("relu", None), ("conv", (1024, 1024, 1, 0, 1)), ("relu", None)]
    outs = []
    for i, (kind, a) in enumerate(layers):
        if kind == "pool":
            x = F.max_pool2d(x, **a)
        elif kind == "relu":
            x = F.relu(x)
        else:
            ic, oc, k, pad, dil = a
            w = pattern((oc, ic, k, k), 0.1 * i, 2.0 / math.sqrt(ic * k * k))
            b = (0.01 * torch.sin(torch.arange(oc, dtype=torch.float64) + i)).to(torch.float32)
            x = F.conv2d(x, w, b, padding=pad, dilation=dil)
        if i in (22, 34):
            outs.append(x)
    return {"shapes": [list(o.shape) for o in outs],
            "samples": [arr(o.reshape(-1)[::7]) for o in outs]}


def ssd300_param_count(num_classes=80):
    """mmdet configs/_base_/models/ssd300.py with num_classes 80, counted from plain modules."""
    n = 0
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(torch.nn.MaxPool2d(2, 2, ceil_mode=True))
        else:
            layers += [torch.nn.Conv2d(c, v, 3, padding=1), torch.nn.ReLU()]
            c = v
    layers += [torch.nn.MaxPool2d(3, 1, 1), torch.nn.Conv2d(512, 1024, 3, padding=6, dilation=6),
               torch.nn.ReLU(), torch.nn.Conv2d(1024, 1024, 1), torch.nn.ReLU()]
    backbone = torch.nn.Sequential(*layers)
    assert len(backbone) == 35
    n += sum(p.numel() for p in backbone.parameters())
    l2 = 512  # L2Norm weight
    out_channels = (512, 1024, 512, 256, 256, 256)
    extra = []
    for i, (oc, s, p) in enumerate(zip(out_channels[2:], (2, 2, 1, 1), (1, 1, 0, 0))):
        ic = out_channels[1 + i]
        extra += [torch.nn.Conv2d(ic, oc // 2, 1), torch.nn.Conv2d(oc // 2, oc, 3, s, p)]
    n += l2 + sum(p.numel() for m in extra for p in m.parameters())
    head = []
    for ch, a in zip(out_channels, (4, 6, 6, 6, 4, 4)):
        head += [torch.nn.Conv2d(ch, a * (num_classes + 1), 3, padding=1),
                 torch.nn.Conv2d(ch, a * 4, 3, padding=1)]
    n += sum(p.numel() for m in head for p in m.parameters())
    return n


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "ssd_head_loss.json"), "w") as f:
        json.dump(head_fixture(), f, separators=(",", ":"))
    with open(os.path.join(OUT, "ssd_l2norm.json"), "w") as f:
        json.dump(l2norm_fixture(), f, separators=(",", ":"))
    with open(os.path.join(OUT, "ssd_vgg_forward.json"), "w") as f:
        json.dump(vgg_fixture(), f, separators=(",", ":"))
    print("ssd300_coco parameters:", ssd300_param_count())


if __name__ == "__main__":
    main()
