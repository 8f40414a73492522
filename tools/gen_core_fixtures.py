#!/usr/bin/python3
"""Generate the lib/core oracle fixtures in tests/fixtures/core/ with PyTorch + torchvision.

Run from the repository root with Debian's python3-torch (1.13) and python3-torchvision:

    /usr/bin/python3 tools/gen_core_fixtures.py

Everything is float32 on the CPU and seeded, so the output is reproducible. Arrays are written as
{"shape": [...], "dtype": "float32" | "int64" | "uint8", "data": [...]} with every float32 value
printed at full precision (Python's repr of the exact value); NaN is written as null (JSON has
no NaN), infinities are not allowed.

torchvision supplies box_iou, generalized_box_iou, sigmoid_focal_loss, nms and batched_nms;
torch.nn.functional supplies L1, smooth L1, BCE-with-logits and cross-entropy. mmdetection v2's
own rules (anchors, bbox_overlaps with eps, MaxIoUAssigner, DeltaXYWHBBoxCoder, the RetinaHead
loss) are re-implemented below in plain PyTorch from the spec (shared/spec/mmdet-retinanet.md
§2.3-§2.8), with mmdetection's float32 operation order.
"""
import json
import math
import os

import torch
import torch.nn.functional as F
import torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "core")
torch.set_grad_enabled(True)


def arr(t):
    """A tensor (or list) as a JSON fixture array."""
    t = torch.as_tensor(t).detach()
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    dtype = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64",
             torch.int32: "int32", torch.uint8: "uint8"}[t.dtype]
    data = [(None if math.isnan(v) else float(v)) if t.is_floating_point() else int(v)
            for v in t.reshape(-1).tolist()]
    return {"shape": list(t.shape), "dtype": dtype, "data": data}


def write(name, obj):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path, "w") as fh:
        json.dump(obj, fh, separators=(",", ":"), allow_nan=False)
        fh.write("\n")
    size = os.path.getsize(path)
    assert size < 300_000, f"{name} is {size} bytes; keep fixtures under 300 KB"
    print(f"wrote {path} ({size} bytes)")


# ---------------------------------------------------------------- mmdetection v2 rules (spec)

def pair(s):
    return (s, s) if isinstance(s, (int, float)) else tuple(s)


def anchor_scales(scales=None, octave_base_scale=None, scales_per_octave=None):
    if scales is not None:
        return torch.tensor(scales, dtype=torch.float32)
    # float64 (numpy in mmdetection), then float32
    return torch.tensor([2 ** (i / scales_per_octave) * octave_base_scale
                         for i in range(scales_per_octave)], dtype=torch.float64).float()


def base_anchors(base_size, scales, ratios, scale_major=True, center=None, center_offset=0.0,
                 legacy=False):
    """Spec §2.3: one level's base anchors in float32 (legacy: v1 corners, rounded)."""
    w = h = base_size
    if center is None:
        xc = center_offset * ((w - 1) if legacy else w)
        yc = center_offset * ((h - 1) if legacy else h)
    else:
        xc, yc = center
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    if scale_major:
        ws = (w * w_ratios[:, None] * scales[None, :]).reshape(-1)
        hs = (h * h_ratios[:, None] * scales[None, :]).reshape(-1)
    else:
        ws = (w * scales[:, None] * w_ratios[None, :]).reshape(-1)
        hs = (h * scales[:, None] * h_ratios[None, :]).reshape(-1)
    if legacy:
        ws, hs = ws - 1, hs - 1
    out = torch.stack([xc - 0.5 * ws, yc - 0.5 * hs, xc + 0.5 * ws, yc + 0.5 * hs], dim=-1)
    return out.round() if legacy else out


def grid_anchors(base, featmap_size, stride):
    """Spec §2.3: anchors of cell (y, x) at base + (x*sw, y*sh), row (y*W + x)*A + a."""
    fh, fw = featmap_size
    sw, sh = pair(stride)
    sx = torch.arange(0, fw) * sw
    sy = torch.arange(0, fh) * sh
    xx = sx.repeat(fh)
    yy = sy.view(-1, 1).repeat(1, fw).view(-1)
    shifts = torch.stack([xx, yy, xx, yy], dim=-1).to(torch.float32)
    return (base[None, :, :] + shifts[:, None, :]).reshape(-1, 4)


def valid_flags(featmap_size, pad_shape, stride, num_base):
    fh, fw = featmap_size
    sw, sh = pair(stride)
    vh = min(int(math.ceil(pad_shape[0] / sh)), fh)
    vw = min(int(math.ceil(pad_shape[1] / sw)), fw)
    vy = torch.zeros(fh, dtype=torch.bool)
    vx = torch.zeros(fw, dtype=torch.bool)
    vy[:vh] = True
    vx[:vw] = True
    valid = vx.repeat(fh) & vy.view(-1, 1).repeat(1, fw).view(-1)
    return valid[:, None].expand(valid.numel(), num_base).reshape(-1)


def bbox_overlaps(b1, b2, mode="iou", is_aligned=False, eps=1e-6):
    """Spec §2.4 (mmdetection v2 bbox_overlaps), float32 in mmdetection's operation order."""
    rows, cols = b1.size(0), b2.size(0)
    if rows * cols == 0:
        return b1.new_zeros((rows,) if is_aligned else (rows, cols))
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    if is_aligned:
        lt = torch.max(b1[:, :2], b2[:, :2])
        rb = torch.min(b1[:, 2:], b2[:, 2:])
        wh = (rb - lt).clamp(min=0)
        overlap = wh[:, 0] * wh[:, 1]
        union = area1 + area2 - overlap if mode != "iof" else area1
        e_lt = torch.min(b1[:, :2], b2[:, :2])
        e_rb = torch.max(b1[:, 2:], b2[:, 2:])
    else:
        lt = torch.max(b1[:, None, :2], b2[None, :, :2])
        rb = torch.min(b1[:, None, 2:], b2[None, :, 2:])
        wh = (rb - lt).clamp(min=0)
        overlap = wh[..., 0] * wh[..., 1]
        union = area1[:, None] + area2[None, :] - overlap if mode != "iof" else area1[:, None]
        e_lt = torch.min(b1[:, None, :2], b2[None, :, :2])
        e_rb = torch.max(b1[:, None, 2:], b2[None, :, 2:])
    eps_t = union.new_tensor([eps])
    union = torch.max(union, eps_t)
    ious = overlap / union
    if mode in ("iou", "iof"):
        return ious
    e_wh = (e_rb - e_lt).clamp(min=0)
    e_area = torch.max(e_wh[..., 0] * e_wh[..., 1], eps_t)
    return ious - (e_area - union) / e_area


def assign(bboxes, gt_bboxes, gt_labels, pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0.0,
           gt_max_assign_all=True, ignore_iof_thr=-1, ignore_wrt_candidates=True,
           match_low_quality=True, gt_bboxes_ignore=None):
    """Spec §2.5 step by step. Returns gt_inds (-1 ignore, 0 neg, i+1 pos), max_overlaps, labels."""
    overlaps = bbox_overlaps(gt_bboxes, bboxes)
    if (ignore_iof_thr > 0 and gt_bboxes_ignore is not None and gt_bboxes_ignore.numel() > 0
            and bboxes.numel() > 0):
        if ignore_wrt_candidates:
            ign = bbox_overlaps(bboxes, gt_bboxes_ignore, mode="iof").max(dim=1)[0]
        else:
            ign = bbox_overlaps(gt_bboxes_ignore, bboxes, mode="iof").max(dim=0)[0]
        overlaps[:, ign > ignore_iof_thr] = -1
    k, n = overlaps.shape
    gt_inds = torch.full((n,), -1, dtype=torch.long)
    if k == 0 or n == 0:
        if k == 0:
            gt_inds[:] = 0
        return gt_inds, overlaps.new_zeros((n,)), torch.full((n,), -1, dtype=torch.long)
    max_ov, argmax_ov = overlaps.max(dim=0)
    gt_max, gt_argmax = overlaps.max(dim=1)
    if isinstance(neg_iou_thr, (tuple, list)):
        gt_inds[(max_ov >= neg_iou_thr[0]) & (max_ov < neg_iou_thr[1])] = 0
    else:
        gt_inds[(max_ov >= 0) & (max_ov < neg_iou_thr)] = 0
    pos = max_ov >= pos_iou_thr
    gt_inds[pos] = argmax_ov[pos] + 1
    if match_low_quality:
        for i in range(k):
            if gt_max[i] >= min_pos_iou:
                if gt_max_assign_all:
                    gt_inds[overlaps[i, :] == gt_max[i]] = i + 1
                else:
                    gt_inds[gt_argmax[i]] = i + 1
    labels = torch.full((n,), -1, dtype=torch.long)
    p = gt_inds > 0
    labels[p] = gt_labels[gt_inds[p] - 1]
    return gt_inds, max_ov, labels


def encode(p, g, means=(0., 0., 0., 0.), stds=(1., 1., 1., 1.), legacy=False):
    """Spec §2.7 encode (legacy: +1 widths)."""
    o = 1.0 if legacy else 0.0
    px, py = (p[:, 0] + p[:, 2]) * 0.5, (p[:, 1] + p[:, 3]) * 0.5
    pw, ph = p[:, 2] - p[:, 0] + o, p[:, 3] - p[:, 1] + o
    gx, gy = (g[:, 0] + g[:, 2]) * 0.5, (g[:, 1] + g[:, 3]) * 0.5
    gw, gh = g[:, 2] - g[:, 0] + o, g[:, 3] - g[:, 1] + o
    d = torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], -1)
    return (d - d.new_tensor(means)) / d.new_tensor(stds)


def decode(p, t, means=(0., 0., 0., 0.), stds=(1., 1., 1., 1.), max_shape=None,
           wh_ratio_clip=16 / 1000, legacy=False):
    """Spec §2.7 decode (legacy: +1 widths, clip to size - 1, no half-pixel shift as mmdet v2)."""
    d = t * t.new_tensor(stds) + t.new_tensor(means)
    max_ratio = abs(math.log(wh_ratio_clip))
    o = 1.0 if legacy else 0.0
    px, py = (p[:, 0] + p[:, 2]) * 0.5, (p[:, 1] + p[:, 3]) * 0.5
    pw, ph = p[:, 2] - p[:, 0] + o, p[:, 3] - p[:, 1] + o
    dw = d[:, 2].clamp(min=-max_ratio, max=max_ratio)
    dh = d[:, 3].clamp(min=-max_ratio, max=max_ratio)
    gx, gy = px + pw * d[:, 0], py + ph * d[:, 1]
    gw, gh = pw * dw.exp(), ph * dh.exp()
    box = torch.stack([gx - gw * 0.5, gy - gh * 0.5, gx + gw * 0.5, gy + gh * 0.5], -1)
    if max_shape is not None:
        h, w = max_shape[0] - o, max_shape[1] - o
        box[:, 0::2] = box[:, 0::2].clamp(min=0, max=w)
        box[:, 1::2] = box[:, 1::2].clamp(min=0, max=h)
    return box


def weight_reduce_loss(loss, weight=None, reduction="mean", avg_factor=None):
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]
    if reduction == "mean":
        return loss.sum() / avg_factor
    assert reduction == "none"
    return loss


def py_sigmoid_focal_loss(pred, target_onehot, weight, gamma=2.0, alpha=0.25, avg_factor=None):
    """mmdetection's CPU focal loss form: BCE-with-logits times the focal weight."""
    p = pred.sigmoid()
    t = target_onehot.type_as(pred)
    pt = (1 - p) * t + p * (1 - t)
    focal_weight = (alpha * t + (1 - alpha) * (1 - t)) * pt.pow(gamma)
    loss = F.binary_cross_entropy_with_logits(pred, t, reduction="none") * focal_weight
    return weight_reduce_loss(loss, weight.view(-1, 1), "mean", avg_factor)


# ---------------------------------------------------------------- random test data

def rand_boxes(g, n, size=64.0, min_wh=1.0, max_wh=32.0, grid=0.0):
    wh = torch.rand(n, 2, generator=g) * (max_wh - min_wh) + min_wh
    xy = torch.rand(n, 2, generator=g) * (size - wh + 8) - 4
    if grid > 0:
        wh, xy = (wh / grid).round() * grid, (xy / grid).round() * grid
    return torch.cat([xy, xy + wh], dim=1).float()


def special_boxes():
    """Identical, zero-area, inverted-free degenerate and outside-the-image boxes."""
    return torch.tensor([
        [10, 10, 30, 30], [10, 10, 30, 30],  # identical
        [5, 5, 5, 20], [12, 12, 12, 12],  # zero width / zero area
        [-20, -15, -5, -2], [70, 70, 90, 95],  # outside a 64x64 image
        [0, 0, 64, 64], [20, 10, 40, 30],
    ], dtype=torch.float32)


# ---------------------------------------------------------------- fixtures

def gen_anchors():
    cases = []
    # RetinaNet: octave scales, 5 levels, small feature maps; valid flags for a smaller pad shape
    strides = [8, 16, 32, 64, 128]
    scales = anchor_scales(octave_base_scale=4, scales_per_octave=3)
    ratios = torch.tensor([0.5, 1.0, 2.0])
    sizes = [(5, 7), (3, 4), (2, 2), (1, 1), (1, 1)]
    bases = [base_anchors(s, scales, ratios) for s in strides]
    cases.append({
        "name": "retinanet",
        "cfg": {"type": "AnchorGenerator", "octave_base_scale": 4, "scales_per_octave": 3,
                "ratios": [0.5, 1.0, 2.0], "strides": strides},
        "featmap_sizes": sizes, "pad_shape": [36, 50],
        "base_anchors": [arr(b) for b in bases],
        "grid_anchors": [arr(grid_anchors(b, sz, s)) for b, sz, s in zip(bases, sizes, strides)],
        "valid_flags": [arr(valid_flags(sz, (36, 50), s, 9)) for sz, s in zip(sizes, strides)],
    })
    # explicit scales, scale-minor order, non-square stride, centre offset
    cfgs = [
        ("scales_scale_minor", {"type": "AnchorGenerator", "scales": [8, 16], "ratios": [0.5, 1.0, 2.0],
                                "strides": [4, [8, 6]], "scale_major": False}, False),
        ("center_offset", {"type": "AnchorGenerator", "scales": [3.3], "ratios": [0.7, 1.3],
                           "strides": [10, 20], "base_sizes": [9, 17], "center_offset": 0.5}, False),
        ("legacy", {"type": "LegacyAnchorGenerator", "octave_base_scale": 4, "scales_per_octave": 3,
                    "ratios": [0.5, 1.0, 2.0], "strides": [8, 16], "center_offset": 0.5}, True),
    ]
    for name, cfg, legacy in cfgs:
        sc = anchor_scales(cfg.get("scales"), cfg.get("octave_base_scale"), cfg.get("scales_per_octave"))
        rt = torch.tensor(cfg["ratios"], dtype=torch.float32)
        st = cfg["strides"]
        bs = cfg.get("base_sizes") or [min(pair(s)) for s in st]
        sizes = [(3, 4), (2, 3)]
        bases = [base_anchors(b, sc, rt, cfg.get("scale_major", True), None,
                              cfg.get("center_offset", 0.0), legacy) for b in bs]
        nb = bases[0].shape[0]
        cases.append({
            "name": name, "cfg": cfg, "featmap_sizes": sizes, "pad_shape": [10, 13],
            "base_anchors": [arr(b) for b in bases],
            "grid_anchors": [arr(grid_anchors(b, sz, s)) for b, sz, s in zip(bases, sizes, st)],
            "valid_flags": [arr(valid_flags(sz, (10, 13), s, nb)) for sz, s in zip(sizes, st)],
        })
    write("anchors.json", {"cases": cases})


def gen_iou():
    g = torch.Generator().manual_seed(1)
    a = torch.cat([special_boxes(), rand_boxes(g, 8)])
    b = torch.cat([special_boxes()[[1, 3, 5, 6]], rand_boxes(g, 8, grid=2.0)])
    aligned_a, aligned_b = rand_boxes(g, 12), rand_boxes(g, 12)
    aligned_b[:3] = aligned_a[:3]  # identical pairs
    pred = rand_boxes(g, 10).requires_grad_(True)
    target = rand_boxes(g, 10)
    giou = bbox_overlaps(pred, target, mode="giou", is_aligned=True, eps=1e-7)
    loss = 1 - giou
    (grad,) = torch.autograd.grad(loss.sum(), pred)
    write("iou.json", {
        "a": arr(a), "b": arr(b),
        "box_iou": arr(torchvision.ops.box_iou(a, b)),
        "generalized_box_iou": arr(torchvision.ops.generalized_box_iou(a, b)),
        "mmdet_iou": arr(bbox_overlaps(a, b)),
        "mmdet_iof": arr(bbox_overlaps(a, b, mode="iof")),
        "mmdet_giou": arr(bbox_overlaps(a, b, mode="giou")),
        "aligned_a": arr(aligned_a), "aligned_b": arr(aligned_b),
        "mmdet_aligned_iou": arr(bbox_overlaps(aligned_a, aligned_b, is_aligned=True)),
        "mmdet_aligned_giou": arr(bbox_overlaps(aligned_a, aligned_b, mode="giou", is_aligned=True)),
        "giou_loss": {"pred": arr(pred), "target": arr(target), "eps": 1e-7,
                      "loss": arr(loss), "grad": arr(grad)},
    })


def gen_focal():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(12, 5, generator=g) * 3
    x[0] = torch.tensor([30., -30., 50., -50., 0.])
    x[1] = torch.tensor([-30., 30., -50., 50., 100.])
    x[2] = torch.tensor([17., -17., 88., -88., 1e-3])
    y = (torch.rand(12, 5, generator=g) < 0.3).float()
    y[0], y[1] = torch.tensor([1., 1., 1., 1., 1.]), torch.tensor([0., 0., 0., 0., 0.])
    y[2] = torch.tensor([1., 0., 0., 1., 1.])
    cases = []
    for alpha, gamma in [(0.25, 2.0), (0.5, 1.5)]:
        xi = x.clone().requires_grad_(True)
        loss = torchvision.ops.sigmoid_focal_loss(xi, y, alpha=alpha, gamma=gamma, reduction="none")
        (grad,) = torch.autograd.grad(loss.sum(), xi)
        cases.append({"alpha": alpha, "gamma": gamma, "loss": arr(loss), "grad": arr(grad)})
    write("focal_loss.json", {"logits": arr(x), "targets": arr(y), "cases": cases})


def gen_losses():
    g = torch.Generator().manual_seed(3)
    pred = torch.randn(10, 4, generator=g)
    target = torch.randn(10, 4, generator=g)
    target[0] = pred[0]  # exact zero differences: gradient 0
    target[1, :2] = pred[1, :2] + torch.tensor([0.05, -0.2])
    weight = (torch.rand(10, 4, generator=g) < 0.7).float()
    out = {"pred": arr(pred), "target": arr(target), "weight": arr(weight)}

    def both(fn):
        p = pred.clone().requires_grad_(True)
        loss = fn(p)
        (gr,) = torch.autograd.grad(loss.sum(), p)
        return {"loss": arr(loss), "grad": arr(gr)}

    out["l1_none"] = both(lambda p: F.l1_loss(p, target, reduction="none"))
    out["l1_weighted_avg"] = both(lambda p: weight_reduce_loss(
        F.l1_loss(p, target, reduction="none"), weight, "mean", 7.0))
    out["smooth_l1"] = {}
    for beta in (0.11, 1.0):
        out["smooth_l1"][str(beta)] = both(lambda p: F.smooth_l1_loss(p, target, reduction="none", beta=beta))
    # sigmoid BCE with per-element weights and per-class pos_weight (mmdet class_weight)
    logits = torch.randn(6, 3, generator=g) * 4
    logits[0] = torch.tensor([40., -40., 0.])
    tgt = (torch.rand(6, 3, generator=g) < 0.4).float()
    bw = torch.rand(6, 3, generator=g)
    pw = torch.tensor([1.0, 2.0, 0.5])

    def both_l(fn):
        p = logits.clone().requires_grad_(True)
        loss = fn(p)
        (gr,) = torch.autograd.grad(loss.sum(), p)
        return {"loss": arr(loss), "grad": arr(gr)}

    out["bce"] = {"logits": arr(logits), "targets": arr(tgt), "weight": arr(bw), "pos_weight": arr(pw),
                  "none": both_l(lambda p: F.binary_cross_entropy_with_logits(p, tgt, reduction="none")),
                  "weighted_mean": both_l(lambda p: weight_reduce_loss(
                      F.binary_cross_entropy_with_logits(p, tgt, pos_weight=pw, reduction="none"), bw, "mean")),
                  "weighted_avg": both_l(lambda p: weight_reduce_loss(
                      F.binary_cross_entropy_with_logits(p, tgt, pos_weight=pw, reduction="none"), bw, "mean", 4.0))}
    # softmax cross-entropy with class weights, sample weights and ignore_index
    labels = torch.tensor([0, 2, 1, -100, 2, 0])
    sw = torch.rand(6, generator=g)
    cw = torch.tensor([0.5, 1.0, 2.0])
    out["ce"] = {"logits": arr(logits), "labels": arr(labels), "weight": arr(sw), "class_weight": arr(cw),
                 "none": both_l(lambda p: F.cross_entropy(p, labels, reduction="none")),
                 "weighted_mean": both_l(lambda p: weight_reduce_loss(
                     F.cross_entropy(p, labels, weight=cw, reduction="none"), sw, "mean")),
                 "weighted_sum": both_l(lambda p: weight_reduce_loss(
                     F.cross_entropy(p, labels, weight=cw, reduction="none"), sw, "sum")),
                 "weighted_avg": both_l(lambda p: weight_reduce_loss(
                     F.cross_entropy(p, labels, weight=cw, reduction="none"), sw, "mean", 3.0))}
    write("losses.json", out)


def gen_nms():
    g = torch.Generator().manual_seed(4)
    cases = []
    for name, boxes, scores in [
        ("random", rand_boxes(g, 60, size=100, min_wh=8, max_wh=40),
         torch.rand(60, generator=g)),
        ("grid_ties", rand_boxes(g, 60, size=64, min_wh=8, max_wh=24, grid=4.0),
         (torch.rand(60, generator=g) * 5).floor() / 5),
        ("special", torch.cat([special_boxes(), special_boxes() + 1.5]),
         torch.tensor([0.9, 0.9, 0.8, 0.8, 0.7, 0.7, 0.6, 0.5, 0.9, 0.85, 0.8, 0.8, 0.1, 0.7, 0.6, 0.95])),
    ]:
        labels = torch.randint(0, 3, (boxes.shape[0],), generator=g)
        case = {"name": name, "boxes": arr(boxes), "scores": arr(scores), "labels": arr(labels), "results": []}
        for thr in (0.3, 0.5, 0.7):
            case["results"].append({
                "iou_threshold": thr,
                "nms_keep": arr(torchvision.ops.nms(boxes, scores, thr)),
                "batched_nms_keep": arr(torchvision.ops.batched_nms(boxes, scores, labels, thr)),
            })
        cases.append(case)
    # multiclass NMS (mmdet v2.11 semantics) from torchvision's batched_nms, and filter+topk
    boxes = rand_boxes(g, 30, size=80, min_wh=10, max_wh=40)
    scores = torch.rand(30, 4, generator=g) ** 3  # [n, C]; a background column is appended below
    num_classes = 4
    flat_b = boxes[:, None].expand(30, num_classes, 4).reshape(-1, 4)
    flat_s = scores.reshape(-1)
    flat_l = torch.arange(num_classes).view(1, -1).expand(30, num_classes).reshape(-1)
    inds = (flat_s > 0.05).nonzero().squeeze(1)
    keep = torchvision.ops.batched_nms(flat_b[inds], flat_s[inds], flat_l[inds], 0.5)[:20]
    dets = torch.cat([flat_b[inds][keep], flat_s[inds][keep, None]], dim=1)
    valid = scores > 0.05
    vs = scores[valid]
    vidx = torch.nonzero(valid)
    ss, order = vs.sort(descending=True)
    k = min(25, vidx.shape[0])
    write("nms.json", {"cases": cases, "multiclass": {
        "bboxes": arr(boxes), "scores": arr(torch.cat([scores, torch.zeros(30, 1)], dim=1)),
        "num_classes": num_classes, "score_thr": 0.05, "iou_threshold": 0.5, "max_num": 20,
        "dets": arr(dets), "labels": arr(flat_l[inds][keep]),
        "topk": 25, "topk_scores": arr(ss[:k]), "topk_labels": arr(vidx[order[:k], 1]),
        "topk_keep_idxs": arr(vidx[order[:k], 0])}})


def gen_coder():
    g = torch.Generator().manual_seed(5)
    anchors = rand_boxes(g, 16, size=100, min_wh=4, max_wh=60)
    gts = rand_boxes(g, 16, size=100, min_wh=2, max_wh=80)
    deltas = torch.randn(16, 4, generator=g)
    deltas[0] = torch.tensor([0.3, -0.2, 6.0, -7.0])  # dw, dh clamped at ±ln(1000/16)
    deltas[1] = torch.tensor([5.0, -5.0, 1.0, 1.0])  # centre far outside: clipped
    means, stds = (0.1, -0.1, 0.05, 0.0), (0.1, 0.1, 0.2, 0.2)
    write("delta_coder.json", {
        "anchors": arr(anchors), "gts": arr(gts), "deltas": arr(deltas), "max_shape": [70, 90],
        "means": list(means), "stds": list(stds),
        "encode": arr(encode(anchors, gts)),
        "encode_norm": arr(encode(anchors, gts, means, stds)),
        "decode": arr(decode(anchors, deltas)),
        "decode_clip": arr(decode(anchors, deltas, max_shape=(70, 90))),
        "decode_norm_clip": arr(decode(anchors, deltas, means, stds, max_shape=(70, 90))),
        "legacy_encode": arr(encode(anchors, gts, legacy=True)),
        "legacy_decode_clip": arr(decode(anchors, deltas, max_shape=(70, 90), legacy=True)),
    })


def gen_assigner():
    g = torch.Generator().manual_seed(6)
    cases = []

    def add(name, bboxes, gts, labels, ignore=None, **cfg):
        gi, mo, lb = assign(bboxes, gts, labels, gt_bboxes_ignore=ignore, **cfg)
        cases.append({"name": name, "cfg": cfg, "bboxes": arr(bboxes), "gt_bboxes": arr(gts),
                      "gt_labels": arr(labels), "gt_bboxes_ignore": arr(ignore) if ignore is not None else None,
                      "gt_inds": arr(gi), "max_overlaps": arr(mo), "labels": arr(lb)})

    anchors = rand_boxes(g, 80, size=64, min_wh=4, max_wh=24, grid=4.0)
    gts = rand_boxes(g, 6, size=64, min_wh=4, max_wh=24, grid=4.0)
    labels = torch.randint(0, 5, (6,), generator=g)
    add("retina_grid_ties", anchors, gts, labels, pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0.0)
    add("range_neg_min_pos", anchors, gts, labels, pos_iou_thr=0.6, neg_iou_thr=[0.1, 0.3], min_pos_iou=0.3)
    add("argmax_only", anchors, gts, labels, pos_iou_thr=0.5, neg_iou_thr=0.5, gt_max_assign_all=False)
    add("no_low_quality", anchors, gts, labels, pos_iou_thr=0.5, neg_iou_thr=0.4, match_low_quality=False)
    ignore = rand_boxes(g, 2, size=64, min_wh=16, max_wh=30)
    add("ignore_wrt_candidates", anchors, gts, labels, ignore, pos_iou_thr=0.5, neg_iou_thr=0.4,
        ignore_iof_thr=0.5)
    add("ignore_wrt_ignore", anchors, gts, labels, ignore, pos_iou_thr=0.5, neg_iou_thr=0.4,
        ignore_iof_thr=0.2, ignore_wrt_candidates=False)
    far = torch.tensor([[200., 200., 210., 220.]])  # zero IoU with every anchor
    add("gt_zero_iou", anchors[:20], torch.cat([gts[:2], far]), labels[:3], pos_iou_thr=0.5, neg_iou_thr=0.4)
    dup = torch.cat([gts[:1], gts[:1], gts[1:3]])
    add("duplicate_gts", anchors, dup, torch.tensor([1, 2, 3, 4]), pos_iou_thr=0.5, neg_iou_thr=0.4)
    add("no_gt", anchors[:10], torch.zeros(0, 4), torch.zeros(0, dtype=torch.long),
        pos_iou_thr=0.5, neg_iou_thr=0.4)
    many = rand_boxes(g, 300, size=64, min_wh=2, max_wh=20, grid=2.0)
    add("many_gts_300", anchors[:40], many, torch.randint(0, 80, (300,), generator=g),
        pos_iou_thr=0.5, neg_iou_thr=0.4)
    write("max_iou_assigner.json", {"cases": cases})


def retina_case(gt_bboxes, gt_labels, pad_shapes, seed):
    """A plain-PyTorch RetinaHead loss (spec §2.3-§2.8) on a tiny fixed case."""
    g = torch.Generator().manual_seed(seed)
    num_classes, strides = 3, [8, 16]
    featmap_sizes = [(4, 5), (2, 3)]
    # smaller anchors than RetinaNet's (octave_base_scale 2, 2 scales per octave) so that gts
    # in a 32x40 image are matched at both levels
    scales = anchor_scales(octave_base_scale=2, scales_per_octave=2)
    ratios = torch.tensor([0.5, 1.0, 2.0])
    A = 6
    bases = [base_anchors(s, scales, ratios) for s in strides]
    mlvl_anchors = [grid_anchors(b, sz, s) for b, sz, s in zip(bases, featmap_sizes, strides)]
    num_level = [a.shape[0] for a in mlvl_anchors]
    N = len(gt_bboxes)
    cls_scores = [(torch.randn(N, A * num_classes, h, w, generator=g) * 1.5 - 1).requires_grad_(True)
                  for h, w in featmap_sizes]
    bbox_preds = [(torch.randn(N, A * 4, h, w, generator=g) * 0.5).requires_grad_(True)
                  for h, w in featmap_sizes]
    flat_anchors = torch.cat(mlvl_anchors)
    all_valid, all_labels, all_lw, all_bt, all_bw, num_pos = [], [], [], [], [], []
    for n in range(N):
        flags = torch.cat([valid_flags(sz, pad_shapes[n], s, A) for sz, s in zip(featmap_sizes, strides)])
        all_valid.append([valid_flags(sz, pad_shapes[n], s, A) for sz, s in zip(featmap_sizes, strides)])
        inside = flags  # allowed_border = -1
        anchors = flat_anchors[inside]
        gi, _, lab = assign(anchors, gt_bboxes[n], gt_labels[n], 0.5, 0.4, 0.0)
        pos = torch.nonzero(gi > 0).squeeze(-1).unique()
        neg = torch.nonzero(gi == 0).squeeze(-1).unique()
        m = anchors.shape[0]
        labels = torch.full((m,), num_classes, dtype=torch.long)
        lw = torch.zeros(m)
        bt = torch.zeros(m, 4)
        bw = torch.zeros(m, 4)
        if pos.numel() > 0:
            bt[pos] = encode(anchors[pos], gt_bboxes[n][gi[pos] - 1])
            bw[pos] = 1.0
            labels[pos] = gt_labels[n][gi[pos] - 1]
            lw[pos] = 1.0
        lw[neg] = 1.0
        T = flat_anchors.shape[0]
        ul = torch.full((T,), num_classes, dtype=torch.long)
        ul[inside] = labels
        ulw, ubt, ubw = torch.zeros(T), torch.zeros(T, 4), torch.zeros(T, 4)
        ulw[inside], ubt[inside], ubw[inside] = lw, bt, bw
        all_labels.append(ul)
        all_lw.append(ulw)
        all_bt.append(ubt)
        all_bw.append(ubw)
        num_pos.append(pos.numel())
    num_total_pos = sum(max(p, 1) for p in num_pos)

    def to_levels(ts):
        st = torch.stack(ts, 0)
        out, s = [], 0
        for k in num_level:
            out.append(st[:, s:s + k])
            s += k
        return out

    labels_l, lw_l, bt_l, bw_l = map(to_levels, (all_labels, all_lw, all_bt, all_bw))
    loss_cls, loss_bbox, cls_sums, bbox_sums = [], [], [], []
    for l in range(len(strides)):
        cs = cls_scores[l].permute(0, 2, 3, 1).reshape(-1, num_classes)
        lab = labels_l[l].reshape(-1)
        onehot = F.one_hot(lab, num_classes=num_classes + 1)[:, :num_classes]
        lc = py_sigmoid_focal_loss(cs, onehot, lw_l[l].reshape(-1), avg_factor=num_total_pos)
        bp = bbox_preds[l].permute(0, 2, 3, 1).reshape(-1, 4)
        lb = weight_reduce_loss(torch.abs(bp - bt_l[l].reshape(-1, 4)), bw_l[l].reshape(-1, 4), "mean",
                                num_total_pos)
        loss_cls.append(lc)
        loss_bbox.append(lb)
    total = sum(loss_cls) + sum(loss_bbox)
    grads = torch.autograd.grad(total, cls_scores + bbox_preds)
    return {
        "num_classes": num_classes, "strides": strides, "featmap_sizes": featmap_sizes,
        "anchor_generator": {"type": "AnchorGenerator", "octave_base_scale": 2, "scales_per_octave": 2,
                             "ratios": [0.5, 1.0, 2.0], "strides": strides},
        "assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": 0.5, "neg_iou_thr": 0.4, "min_pos_iou": 0,
                     "ignore_iof_thr": -1},
        "img_shape": [32, 40], "pad_shapes": [list(p) for p in pad_shapes],
        "gt_bboxes": [arr(b) for b in gt_bboxes], "gt_labels": [arr(lb) for lb in gt_labels],
        "cls_scores": [arr(c) for c in cls_scores], "bbox_preds": [arr(b) for b in bbox_preds],
        "anchors": [arr(a) for a in mlvl_anchors],
        "valid_flags": [[arr(v) for v in img] for img in all_valid],
        "labels": [arr(x) for x in labels_l], "label_weights": [arr(x) for x in lw_l],
        "bbox_targets": [arr(x) for x in bt_l], "bbox_weights": [arr(x) for x in bw_l],
        "num_pos_per_image": num_pos, "num_total_pos": num_total_pos,
        "loss_cls": [float(v) for v in loss_cls], "loss_bbox": [float(v) for v in loss_bbox],
        "grad_cls_scores": [arr(x) for x in grads[:len(strides)]],
        "grad_bbox_preds": [arr(x) for x in grads[len(strides):]],
    }


def gen_retina():
    # Image 0: gt 0 is centred between four anchor centres, so its best IoU (< 0.5) is shared
    # exactly by four anchors, which all become low-quality positives. Image 1: two identical gts
    # with different labels (argmax keeps the first, low-quality matching overwrites with the
    # second) and a padded shape whose last stride-8 row is invalid. The wide gt 3 of image 0 is
    # matched at the stride-16 level, so both levels have positives.
    gt_bboxes = [torch.tensor([[2., 2., 22., 22.], [10., 4., 38., 30.], [0., 16., 14., 31.],
                               [0., 4., 40., 28.]]),
                 torch.tensor([[4., 4., 36., 20.], [4., 4., 36., 20.], [20., 8., 30., 22.]])]
    gt_labels = [torch.tensor([0, 1, 2, 1]), torch.tensor([2, 0, 1])]
    pad_shapes = [(32, 40), (24, 40)]
    case = retina_case(gt_bboxes, gt_labels, pad_shapes, seed=7)
    # the advertised tie: gt 0 of image 0 has its maximum IoU at four level-0 anchors
    strides = [8, 16]
    scales = anchor_scales(octave_base_scale=2, scales_per_octave=2)
    anchors = torch.cat([grid_anchors(base_anchors(s, scales, torch.tensor([0.5, 1.0, 2.0])), sz, s)
                         for s, sz in zip(strides, [(4, 5), (2, 3)])])
    ov = bbox_overlaps(gt_bboxes[0][:1], anchors)[0]
    assert int((ov == ov.max()).sum()) == 4 and float(ov.max()) < 0.5, "tie case broken"
    write("retina_loss.json", case)
    empty = retina_case([gt_bboxes[0], torch.zeros(0, 4)], [gt_labels[0], torch.zeros(0, dtype=torch.long)],
                        pad_shapes, seed=8)
    write("retina_loss_empty.json", empty)


if __name__ == "__main__":
    torch.manual_seed(0)
    gen_anchors()
    gen_iou()
    gen_focal()
    gen_losses()
    gen_nms()
    gen_coder()
    gen_assigner()
    gen_retina()
