#!/usr/bin/python3
"""Generate tests/fixtures/models/rpn_head_loss.json: mmdetection v2.25's RPNHead forward and loss
re-implemented in plain PyTorch (float32, CPU), with gradients.

Run from the repository root: /usr/bin/python3 tools/gen_rpn_fixtures.py

The model: rpn_conv 3x3 + ReLU, rpn_cls 1x1 (one sigmoid channel per anchor), rpn_reg 1x1, on two
levels. Targets: AnchorGenerator (v2, center_offset 0) grid anchors, valid flags from each image's
pad_shape, MaxIoUAssigner(pos 0.7, neg 0.3, min_pos 0.3, match_low_quality) on the inside anchors,
RandomSampler(num 32, pos_fraction 0.5, neg_pos_ub -1, add_gt_as_proposals False), labels 0 for
positives and 1 (background) otherwise, DeltaXYWHBBoxCoder targets; losses per level
CrossEntropyLoss(use_sigmoid) and L1Loss, both summed and divided by num_total_samples =
sum_i max(#pos_i, 1) + sum_i max(#neg_i, 1) (mmdetection v2 AnchorHead.get_targets with
sampling).

The sampler's random choice is fed in: mmdetection draws with torch.randperm; wgdet draws by the
seeded permutation `samplerKey` (lib/core/bbox/samplers/random_sampler.ts), re-implemented here,
so the positives and negatives chosen are exactly wgdet's for the step's seed. Everything else
is mmdetection's rule.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "models")
M32 = 0xFFFFFFFF


def arr(t):
    t = torch.as_tensor(t).detach()
    dtype = {torch.float32: "float32", torch.int64: "int64", torch.int32: "int32"}[t.dtype]
    data = [float(v) if t.is_floating_point() else int(v) for v in t.reshape(-1).tolist()]
    return {"shape": list(t.shape), "dtype": dtype, "data": data}


def fmix(h):
    h &= M32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    h ^= h >> 16
    return h


def sampler_key(seed, image, category, index):
    s0 = fmix((seed & M32) ^ fmix((image * 2 + category + 0x9E3779B9) & M32))
    s1 = fmix((s0 + 0x632BE5AB) & M32)
    return fmix((fmix((index ^ s0) & M32) + s1) & M32)


def step_seed(base, step):
    return fmix(((base & M32) ^ fmix((step + 0x7F4A7C15) & M32)) & M32)


def base_anchors(stride, scales, ratios):
    w = h = float(stride)
    r = torch.tensor(ratios, dtype=torch.float32)
    s = torch.tensor(scales, dtype=torch.float32)
    h_ratios = torch.sqrt(r)
    w_ratios = 1 / h_ratios
    ws = (w * w_ratios[:, None] * s[None, :]).view(-1)
    hs = (h * h_ratios[:, None] * s[None, :]).view(-1)
    return torch.stack([-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs], dim=-1)


def grid_anchors(base, stride, fh, fw):
    sx = torch.arange(0, fw, dtype=torch.float32) * stride
    sy = torch.arange(0, fh, dtype=torch.float32) * stride
    yy, xx = torch.meshgrid(sy, sx, indexing="ij")
    shifts = torch.stack([xx.reshape(-1), yy.reshape(-1), xx.reshape(-1), yy.reshape(-1)], dim=-1)
    return (base[None, :, :] + shifts[:, None, :]).view(-1, 4)


def valid_flags(fh, fw, vh, vw, na):
    vx = torch.zeros(fw, dtype=torch.bool)
    vy = torch.zeros(fh, dtype=torch.bool)
    vx[:vw] = True
    vy[:vh] = True
    yy, xx = torch.meshgrid(vy, vx, indexing="ij")
    v = (xx & yy).reshape(-1)
    return v[:, None].expand(v.size(0), na).reshape(-1)


def bbox_overlaps(a, b, eps=1e-6):
    area1 = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area2 = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[..., 0] * wh[..., 1]
    union = area1[:, None] + area2[None, :] - overlap
    return overlap / union.clamp(min=eps)


def max_iou_assign(anchors, gts, pos=0.7, neg=0.3, min_pos=0.3):
    n = anchors.size(0)
    assigned = torch.full((n,), -1, dtype=torch.long)
    if gts.size(0) == 0:
        assigned[:] = 0
        return assigned
    overlaps = bbox_overlaps(gts, anchors)
    max_ov, argmax = overlaps.max(dim=0)
    gt_max, _ = overlaps.max(dim=1)
    assigned[(max_ov >= 0) & (max_ov < neg)] = 0
    p = max_ov >= pos
    assigned[p] = argmax[p] + 1
    for i in range(gts.size(0)):
        if gt_max[i] >= min_pos:
            assigned[overlaps[i, :] == gt_max[i]] = i + 1
    return assigned


def choose(gallery, want, seed, image, category, key_index=None):
    """wgdet's RandomSampler draw: all when the gallery fits, else the `want` candidates with the
    smallest keys, in index order; `key_index(j)` maps a gallery index to its key index."""
    if gallery.numel() <= want:
        return gallery
    ki = key_index or (lambda j: j)
    keys = torch.tensor([sampler_key(seed, image, category, ki(int(j))) for j in gallery.tolist()])
    order = torch.argsort(keys)
    return gallery[order[:want]].sort().values


def encode(p, g):
    px = (p[:, 0] + p[:, 2]) * 0.5
    py = (p[:, 1] + p[:, 3]) * 0.5
    pw = p[:, 2] - p[:, 0]
    ph = p[:, 3] - p[:, 1]
    gx = (g[:, 0] + g[:, 2]) * 0.5
    gy = (g[:, 1] + g[:, 3]) * 0.5
    gw = g[:, 2] - g[:, 0]
    gh = g[:, 3] - g[:, 1]
    return torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], -1)


def main():
    torch.manual_seed(0)
    C_in, C_feat, N = 4, 6, 2
    strides, scales, ratios = [8, 16], [2, 4], [0.5, 1.0, 2.0]
    sizes = [(6, 7), (3, 4)]
    pad_shapes = [(48, 56), (40, 48)]
    img_shape = (48, 56)
    num, pos_fraction = 32, 0.5
    step = 3
    seed = step_seed(0, step)
    A = len(scales) * len(ratios)
    params = {
        "rpn_conv.weight": torch.randn(C_feat, C_in, 3, 3) * 0.3,
        "rpn_conv.bias": torch.randn(C_feat) * 0.1,
        "rpn_cls.weight": torch.randn(A, C_feat, 1, 1) * 0.3,
        "rpn_cls.bias": torch.randn(A) * 0.1,
        "rpn_reg.weight": torch.randn(4 * A, C_feat, 1, 1) * 0.3,
        "rpn_reg.bias": torch.randn(4 * A) * 0.1,
    }
    for p in params.values():
        p.requires_grad_(True)
    feats = [torch.randn(N, C_in, h, w) for h, w in sizes]
    gt_bboxes = [
        torch.tensor([[4.0, 4.0, 30.0, 28.0], [20.0, 10.0, 50.0, 40.0], [2.0, 20.0, 17.5, 46.0]]),
        torch.tensor([[10.0, 8.0, 42.0, 37.0]]),
    ]
    cls_scores, bbox_preds = [], []
    for x in feats:
        h = F.relu(F.conv2d(x, params["rpn_conv.weight"], params["rpn_conv.bias"], padding=1))
        cls_scores.append(F.conv2d(h, params["rpn_cls.weight"], params["rpn_cls.bias"]))
        bbox_preds.append(F.conv2d(h, params["rpn_reg.weight"], params["rpn_reg.bias"]))
    for t in cls_scores + bbox_preds:
        t.retain_grad()
    level_anchors = [grid_anchors(base_anchors(s, scales, ratios), s, fh, fw)
                     for s, (fh, fw) in zip(strides, sizes)]
    anchors = torch.cat(level_anchors)
    num_level = [a.size(0) for a in level_anchors]
    labels_all, lw_all, bt_all, bw_all = [], [], [], []
    num_pos_total, num_neg_total = 0, 0
    for i in range(N):
        ph, pw = pad_shapes[i]
        flags = torch.cat([
            valid_flags(fh, fw, min(math.ceil(ph / s), fh), min(math.ceil(pw / s), fw), A)
            for s, (fh, fw) in zip(strides, sizes)])
        inside = torch.nonzero(flags).view(-1)
        assigned_in = max_iou_assign(anchors[inside], gt_bboxes[i])
        gt_inds = torch.full((anchors.size(0),), -1, dtype=torch.long)
        gt_inds[inside] = assigned_in
        pos_inds = choose(torch.nonzero(gt_inds > 0).view(-1), int(num * pos_fraction), seed, i, 0)
        neg_inds = choose(torch.nonzero(gt_inds == 0).view(-1), num - pos_inds.numel(), seed, i, 1)
        labels = torch.full((anchors.size(0),), 1, dtype=torch.long)
        lw = torch.zeros(anchors.size(0))
        bt = torch.zeros(anchors.size(0), 4)
        bw = torch.zeros(anchors.size(0), 4)
        labels[pos_inds] = 0
        lw[pos_inds] = 1.0
        lw[neg_inds] = 1.0
        bt[pos_inds] = encode(anchors[pos_inds], gt_bboxes[i][gt_inds[pos_inds] - 1])
        bw[pos_inds] = 1.0
        num_pos_total += max(pos_inds.numel(), 1)
        num_neg_total += max(neg_inds.numel(), 1)
        labels_all.append(labels)
        lw_all.append(lw)
        bt_all.append(bt)
        bw_all.append(bw)
    num_total_samples = float(num_pos_total + num_neg_total)
    loss_cls, loss_bbox = [], []
    start = 0
    for l, n in enumerate(num_level):
        lab = torch.stack([x[start:start + n] for x in labels_all]).reshape(-1)
        lw = torch.stack([x[start:start + n] for x in lw_all]).reshape(-1)
        bt = torch.stack([x[start:start + n] for x in bt_all]).reshape(-1, 4)
        bw = torch.stack([x[start:start + n] for x in bw_all]).reshape(-1, 4)
        start += n
        cs = cls_scores[l].permute(0, 2, 3, 1).reshape(-1)
        target = (lab == 0).float()
        lc = F.binary_cross_entropy_with_logits(cs, target, reduction="none")
        loss_cls.append((lc * lw).sum() / num_total_samples)
        bp = bbox_preds[l].permute(0, 2, 3, 1).reshape(-1, 4)
        loss_bbox.append(((bp - bt).abs() * bw).sum() / num_total_samples)
    total = sum(loss_cls) + sum(loss_bbox)
    total.backward()
    os.makedirs(OUT, exist_ok=True)
    fx = {
        "in_channels": C_in,
        "feat_channels": C_feat,
        "strides": strides,
        "scales": scales,
        "ratios": ratios,
        "num": num,
        "pos_fraction": pos_fraction,
        "sampling_step": step,
        "img_shape": list(img_shape),
        "pad_shapes": [list(p) for p in pad_shapes],
        "params": {k: arr(v) for k, v in params.items()},
        "feats": [arr(x) for x in feats],
        "gt_bboxes": [arr(g) for g in gt_bboxes],
        "cls_scores": [arr(c) for c in cls_scores],
        "bbox_preds": [arr(b) for b in bbox_preds],
        "num_pos": [int((x == 0).sum()) for x in labels_all],
        "num_total_samples": num_total_samples,
        "loss_cls": [float(x) for x in loss_cls],
        "loss_bbox": [float(x) for x in loss_bbox],
        "grad_cls_scores": [arr(c.grad) for c in cls_scores],
        "grad_bbox_preds": [arr(b.grad) for b in bbox_preds],
        "grad_params": {k: arr(v.grad) for k, v in params.items()},
    }
    path = os.path.join(OUT, "rpn_head_loss.json")
    with open(path, "w") as fh:
        json.dump(fx, fh, separators=(",", ":"), allow_nan=False)
        fh.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes), pos {fx['num_pos']}, "
          f"num_total_samples {num_total_samples}")


if __name__ == "__main__":
    main()
