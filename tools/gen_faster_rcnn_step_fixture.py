#!/usr/bin/python3
"""The two-stage training-step oracle: three SGD steps of the tiny Faster R-CNN of
configs/faster_rcnn/faster_rcnn_tiny_shapes.ts in plain PyTorch (Debian python3-torch 1.13), the
network in float64, proposals and targets in float32 as mmdetection v2.25 computes them.

Model (mmdetection v2 names): ResNet-18 with base_channels 16 and every BN in TRAINING mode, FPN
[16, 32, 64, 128] -> 32 channels, 5 outputs (P2-P5 + max-pooled P6), RPNHead (rpn_conv 3x3 + ReLU,
rpn_cls 1x1 sigmoid, rpn_reg 1x1; anchors scale 4, ratios 0.5/1/2, strides 4-64), StandardRoIHead
(SingleRoIExtractor: RoIAlign 7x7, sampling_ratio 0, aligned, finest_scale 56, strides 4-32;
Shared2FCBBoxHead: two 128-wide fcs, fc_cls over 3 + 1 classes, class-specific fc_reg, target stds
0.1/0.1/0.2/0.2).

One iteration, as TwoStageDetector.forward_train:
  RPN loss   AnchorHead.get_targets with MaxIoUAssigner(0.7, 0.3, min_pos 0.3, match_low_quality),
             RandomSampler(256, 0.5) (wgdet's seeded draw, seed stepSeed(0, step): see
             tools/gen_rpn_fixtures.py), BCE-with-logits + L1, both / num_total_samples.
  proposals  RPNHead._get_bboxes_single on the detached outputs (train_cfg.rpn_proposal): per level
             the nms_pre best scores, delta2bbox clipped to img_shape, boxes with w or h <=
             min_bbox_size dropped, batched_nms (level as class, IoU > thr suppresses), the first
             max_per_img rows.
  RoI loss   MaxIoUAssigner(0.5, 0.5, 0.5) on proposals, gts added as proposals, RandomSampler
             (wgdet's seeded draw, seed stepSeed(1, step); gt g keyed g, proposal r keyed G + r),
             bbox2roi, map_roi_levels, roi_align, Shared2FC, softmax CE over the sampled RoIs + L1 on
             the positives' label deltas over the sampled count.
  loss       loss_rpn_cls + loss_rpn_bbox + loss_cls + loss_bbox; SGD(lr 0.02, momentum 0.9, wd 1e-4).

VARIANT sets what the test overrides on top of the config (printed into the JSON): a RoI sampler
that takes every proposal (num 4096), because which of hundreds of near-equal-scored proposals a
random draw takes depends on their rank, and ranks of nearly tied f32 scores are not a property
an f64 oracle can fix; the RPN sampler draws (256 of ~1,400 anchors) as the config does. The
generator measures the margins of every discrete decision (top-k boundary gaps, NMS IoU distance
to the threshold, suppressing pairs' score gaps, assigner IoU distance to 0.5, RoI level
boundaries) and refuses to write a fixture whose decisions a 1e-4 perturbation could flip.

Batch: tools/gen_train_step_fixture.py's two images (64x96 and 30x64 padded to 32x64, then to the
batch's 64x96). Initial state dict: `fixture_value` below (the LCG of gen_train_step_fixture.py);
the test regenerates it bit for bit.

Writes tests/fixtures/e2e/faster_rcnn_step.safetensors and .json:
  "_input" (float32 batch), "_grad.<param>" (step 1), "_param3.<param>" (after step 3),
  "_bn3.<bn>.running_mean/var" (after step 3), "_proposals<step>_<n>" (float32 [k, 5] rows of image
  n at step 1 and 3); JSON: overrides, keys, sums, metas, gts, losses of every step, RoI counts.

Run: /usr/bin/python3 tools/gen_faster_rcnn_step_fixture.py
"""
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import nms, roi_align

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_core_fixtures import decode  # noqa: E402
from gen_model_fixtures import FPN, ResNet, write_safetensors  # noqa: E402
from gen_rpn_fixtures import (base_anchors, bbox_overlaps, choose, encode, grid_anchors,  # noqa: E402
                              max_iou_assign, step_seed, valid_flags)
from gen_train_step_fixture import draw_batch, f32, lcg_uniform, seq_sum  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests/fixtures/e2e"
NAME = "faster_rcnn_step"

CFG = {
    "num_classes": 3, "base_channels": 16, "fpn_out": 32, "fc_out": 128, "roi_size": 7,
    "anchor_scales": [4], "anchor_ratios": [0.5, 1.0, 2.0], "anchor_strides": [4, 8, 16, 32, 64],
    "roi_strides": [4, 8, 16, 32], "finest_scale": 12.0,
    "rpn_sampler": {"num": 256, "pos_fraction": 0.5},
    "rpn_proposal": {"nms_pre": 1000, "max_per_img": 300, "iou_threshold": 0.7, "min_bbox_size": 0},
    "rcnn_sampler": {"num": 4096, "pos_fraction": 0.25},
    "target_stds": [0.1, 0.1, 0.2, 0.2],
    "optimizer": {"type": "SGD", "lr": 0.02, "momentum": 0.9, "weight_decay": 1e-4},
}
# the overrides the test applies to the loaded config (mmdetection keys)
OVERRIDES = {
    "train_cfg": {"rcnn": {"sampler": {"num": CFG["rcnn_sampler"]["num"]}}},
    # the batch's objects are 12-64 px: RoIs on levels 0-2 (0-3 with the whole-image boxes)
    "roi_head": {"bbox_roi_extractor": {"finest_scale": CFG["finest_scale"]}},
}
# the smallest distance of a discrete decision from its boundary that the fixture accepts: scores
# and IoUs of f32 networks differ from this f64 oracle by ~1e-6 here
MARGIN = {"score": 1e-5, "iou": 2e-5, "box size": 1e-3, "level": 2e-5, "pre-activation": 2e-5}
KIND = {"top-k gap": "score", "max_per_img gap": "score", "NMS tie": "score", "NMS IoU": "iou",
        "RoI assign IoU": "iou", "box size": "box size", "RoI level": "level",
        "fc ReLU": "pre-activation"}


class TinyFasterRCNN(nn.Module):
    """ResNet-18/16 + FPN 32 (5 outs) + RPNHead + Shared2FC RoI head, mmdetection v2 names."""

    def __init__(self, c=CFG):
        super().__init__()
        b = c["base_channels"]
        self.backbone = ResNet(18, b)
        self.neck = FPN([b, 2 * b, 4 * b, 8 * b], c["fpn_out"], 5)
        A = len(c["anchor_scales"]) * len(c["anchor_ratios"])
        self.rpn_head = nn.Module()
        self.rpn_head.rpn_conv = nn.Conv2d(c["fpn_out"], c["fpn_out"], 3, padding=1)
        self.rpn_head.rpn_cls = nn.Conv2d(c["fpn_out"], A, 1)
        self.rpn_head.rpn_reg = nn.Conv2d(c["fpn_out"], 4 * A, 1)
        head = nn.Module()
        head.shared_fcs = nn.ModuleList([nn.Linear(c["fpn_out"] * c["roi_size"] ** 2, c["fc_out"]),
                                         nn.Linear(c["fc_out"], c["fc_out"])])
        head.fc_cls = nn.Linear(c["fc_out"], c["num_classes"] + 1)
        head.fc_reg = nn.Linear(c["fc_out"], 4 * c["num_classes"])
        self.roi_head = nn.Module()
        self.roi_head.bbox_head = head

    def rpn(self, feats):
        h = self.rpn_head
        outs = [F.relu(h.rpn_conv(x)) for x in feats]
        return [h.rpn_cls(t) for t in outs], [h.rpn_reg(t) for t in outs]

    def box_head(self, pooled, margins=None):
        h = self.roi_head.bbox_head
        x = pooled.flatten(1)
        for fc in h.shared_fcs:
            z = fc(x)
            if margins is not None:  # each RoI's ReLU mask decides its gradient share
                margins.add("fc ReLU", z.detach().abs().min())
            x = F.relu(z)
        return h.fc_cls(x), h.fc_reg(x)


def fixture_value(name, shape):
    """Deterministic initial entry `name` (float32-exact, float64 tensor). u = lcg_uniform(name):
      backbone conv weight        u * sqrt(6 / fan_out)
      shared_fcs.0 / .1 weight    u * 0.01 / u * 0.02; their biases 1 + 0.05 u
      fc_cls / fc_reg weight      u * 0.05 / u * 0.02
      other conv / linear weight  u * sqrt(6 / (fan_in + fan_out))   (neck, RPN, shared fcs)
      BN weight 1 + 0.2 u; BN bias 0.1 u; running_mean 0.1 u; running_var 1 + 0.25 u
      other biases                0.05 u
    The box head's fc pre-activations stay positive (small weights, biases near 1): were one of
    them within f32 noise of 0, that RoI's ReLU mask (which f32 and f64 may decide apart) would
    move a whole row of the fc's gradient by the RoI's share."""
    n = 1
    for d in shape:
        n *= d
    u = lcg_uniform(name, n)
    if len(shape) in (2, 4):
        rf = shape[2] * shape[3] if len(shape) == 4 else 1
        fan_in, fan_out = shape[1] * rf, shape[0] * rf
        if name.startswith("backbone."):
            scale = math.sqrt(6.0 / fan_out)
        elif name == "roi_head.bbox_head.shared_fcs.0.weight":
            scale = 0.01
        elif name == "roi_head.bbox_head.shared_fcs.1.weight":
            scale = 0.02
        elif name == "roi_head.bbox_head.fc_cls.weight":
            scale = 0.05
        elif name == "roi_head.bbox_head.fc_reg.weight":
            scale = 0.02
        else:
            scale = math.sqrt(6.0 / (fan_in + fan_out))
        v = u * scale
    elif name.endswith("running_mean"):
        v = u * 0.1
    elif name.endswith("running_var"):
        v = 1.0 + u * 0.25
    elif name.startswith("backbone.") and name.endswith(".weight"):
        v = 1.0 + u * 0.2
    elif name.startswith("roi_head.bbox_head.shared_fcs."):
        v = 1.0 + u * 0.05
    elif name.startswith("backbone."):
        v = u * 0.1
    else:
        v = u * 0.05
    return v.to(torch.float32).to(torch.float64).reshape(shape)


class Margins:
    """The smallest distance of each kind of discrete decision from its boundary."""

    def __init__(self):
        self.m = {}

    def add(self, kind, value):
        value = float(value)
        if kind not in self.m or value < self.m[kind]:
            self.m[kind] = value

    def check(self, step):
        bad = {k: v for k, v in self.m.items() if v < MARGIN[KIND[k]]}
        print(f"  step {step + 1} margins: " + ", ".join(f"{k} {v:.2e}" for k, v in sorted(self.m.items())))
        return bad


# ---- RPN -------------------------------------------------------------------------------------------

def rpn_anchors(sizes, c=CFG):
    return [grid_anchors(base_anchors(s, c["anchor_scales"], c["anchor_ratios"]), s, fh, fw)
            for s, (fh, fw) in zip(c["anchor_strides"], sizes)]


def rpn_loss(cls_scores, bbox_preds, gt_bboxes, metas, seed, c=CFG):
    """AnchorHead.loss of RPNHead with sampling: per-level BCE and L1 sums / num_total_samples."""
    sizes = [tuple(t.shape[2:]) for t in cls_scores]
    lvl = rpn_anchors(sizes, c)
    anchors = torch.cat(lvl)
    A = len(c["anchor_scales"]) * len(c["anchor_ratios"])
    num, frac = c["rpn_sampler"]["num"], c["rpn_sampler"]["pos_fraction"]
    labels_all, lw_all, bt_all, bw_all = [], [], [], []
    tot_pos = tot_neg = 0
    num_pos = []
    for i, m in enumerate(metas):
        ph, pw = m["pad_shape"][:2]
        flags = torch.cat([valid_flags(fh, fw, min(math.ceil(ph / s), fh), min(math.ceil(pw / s), fw), A)
                           for s, (fh, fw) in zip(c["anchor_strides"], sizes)])
        inside = torch.nonzero(flags).view(-1)
        gt_inds = torch.full((anchors.size(0),), -1, dtype=torch.long)
        gt_inds[inside] = max_iou_assign(anchors[inside], gt_bboxes[i])
        pos = choose(torch.nonzero(gt_inds > 0).view(-1), int(num * frac), seed, i, 0)
        neg = choose(torch.nonzero(gt_inds == 0).view(-1), num - pos.numel(), seed, i, 1)
        labels = torch.ones(anchors.size(0), dtype=torch.long)
        lw, bt, bw = torch.zeros(anchors.size(0)), torch.zeros(anchors.size(0), 4), torch.zeros(anchors.size(0), 4)
        labels[pos] = 0
        lw[pos] = 1.0
        lw[neg] = 1.0
        bt[pos] = encode(anchors[pos], gt_bboxes[i][gt_inds[pos] - 1])
        bw[pos] = 1.0
        tot_pos += max(pos.numel(), 1)
        tot_neg += max(neg.numel(), 1)
        num_pos.append(int(pos.numel()))
        labels_all.append(labels)
        lw_all.append(lw)
        bt_all.append(bt)
        bw_all.append(bw)
    avg = float(tot_pos + tot_neg)
    lc, lb, start = [], [], 0
    for l, a in enumerate(lvl):
        k = a.size(0)
        lab = torch.stack([x[start:start + k] for x in labels_all]).reshape(-1)
        lw = torch.stack([x[start:start + k] for x in lw_all]).reshape(-1).double()
        bt = torch.stack([x[start:start + k] for x in bt_all]).reshape(-1, 4).double()
        bw = torch.stack([x[start:start + k] for x in bw_all]).reshape(-1, 4).double()
        start += k
        cs = cls_scores[l].permute(0, 2, 3, 1).reshape(-1)
        lc.append((F.binary_cross_entropy_with_logits(cs, (lab == 0).double(), reduction="none") * lw).sum() / avg)
        bp = bbox_preds[l].permute(0, 2, 3, 1).reshape(-1, 4)
        lb.append(((bp - bt).abs() * bw).sum() / avg)
    return lc, lb, {"num_pos": num_pos, "num_total_samples": avg}


def proposals_of(cls_scores, bbox_preds, metas, margins, c=CFG):
    """RPNHead._get_bboxes_single + _bbox_post_process per image, float32, detached."""
    pc = c["rpn_proposal"]
    sizes = [tuple(t.shape[2:]) for t in cls_scores]
    lvl = rpn_anchors(sizes, c)
    out = []
    for n, m in enumerate(metas):
        scores, deltas, anchors, ids = [], [], [], []
        for l, (cs, bp) in enumerate(zip(cls_scores, bbox_preds)):
            s = cs[n].detach().to(torch.float32).permute(1, 2, 0).reshape(-1).sigmoid()
            d = bp[n].detach().to(torch.float32).permute(1, 2, 0).reshape(-1, 4)
            a = lvl[l]
            if 0 < pc["nms_pre"] < s.numel():
                ranked, order = s.sort(descending=True)
                margins.add("top-k gap", ranked[pc["nms_pre"] - 1] - ranked[pc["nms_pre"]])
                keep = order[:pc["nms_pre"]]
                s, d, a = ranked[:pc["nms_pre"]], d[keep], a[keep]
            scores.append(s)
            deltas.append(d)
            anchors.append(a)
            ids.append(torch.full((s.numel(),), l, dtype=torch.long))
        s, d, a, ids = torch.cat(scores), torch.cat(deltas), torch.cat(anchors), torch.cat(ids)
        boxes = decode(a, d, max_shape=m["img_shape"][:2])
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        ok = (w > pc["min_bbox_size"]) & (h > pc["min_bbox_size"])
        sides = torch.cat([w, h])
        if (sides > 0).any():
            margins.add("box size", sides[sides > 0].min())
        boxes, s, ids = boxes[ok], s[ok], ids[ok]
        # mmcv batched_nms: levels apart by a coordinate offset, one NMS, score order
        off = ids.to(boxes.dtype) * (boxes.max() + 1)
        keep = nms(boxes + off[:, None], s, pc["iou_threshold"])
        nms_margins(boxes, s, ids, keep, pc["iou_threshold"], margins)
        if keep.numel() > pc["max_per_img"]:
            margins.add("max_per_img gap", s[keep[pc["max_per_img"] - 1]] - s[keep[pc["max_per_img"]]])
        keep = keep[:pc["max_per_img"]]
        out.append(torch.cat([boxes[keep], s[keep, None]], 1))
    return out


def nms_margins(boxes, scores, ids, keep, thr, margins):
    """For every kept box and every lower-scored box of its level: the IoU's distance to thr, and
    where the kept box suppresses the other (IoU > thr), their score gap (were the two swapped by
    an f32 near-tie, the other would be kept)."""
    kept = torch.zeros(boxes.size(0), dtype=torch.bool)
    kept[keep] = True
    for l in ids.unique():
        idx = (ids == l).nonzero().view(-1)
        b, s = boxes[idx], scores[idx]
        iou = bbox_overlaps(b, b)
        k = kept[idx]
        hi = s[:, None] > s[None, :]
        rel = k[:, None] & hi
        if rel.any():
            margins.add("NMS IoU", (iou[rel] - thr).abs().min())
        over = (iou > thr) & rel
        if over.any():
            margins.add("NMS tie", (s[:, None] - s[None, :]).abs()[over].min())


# ---- RoI head ---------------------------------------------------------------------------------------

def roi_loss(model, feats, proposals, gt_bboxes, gt_labels, seed, margins, check_relu, c=CFG):
    C = c["num_classes"]
    G = max(g.shape[0] for g in gt_bboxes)
    num, frac = c["rcnn_sampler"]["num"], c["rcnn_sampler"]["pos_fraction"]
    rois, labels, tgts = [], [], []
    npos = []
    for n, props in enumerate(proposals):
        b = props[:, :4]
        gt, gl = gt_bboxes[n], gt_labels[n]
        k = gt.shape[0]
        ov = bbox_overlaps(gt, b)
        mx, am = ov.max(dim=0)
        if mx.numel():
            margins.add("RoI assign IoU", (mx - 0.5).abs().min())
        gi = torch.full((b.shape[0],), -1, dtype=torch.long)
        gi[(mx >= 0) & (mx < 0.5)] = 0
        pm = mx >= 0.5
        gi[pm] = am[pm] + 1
        allb = torch.cat([gt, b])
        gi = torch.cat([torch.arange(1, k + 1), gi])

        def key_index(j, k=k):
            return j if j < k else G + (j - k)

        pos = choose((gi > 0).nonzero().view(-1), int(num * frac), seed, n, 0, key_index)
        neg = choose((gi == 0).nonzero().view(-1), num - pos.numel(), seed, n, 1, key_index)
        t = encode(allb[pos], gt[gi[pos] - 1]) / torch.tensor(c["target_stds"])
        for bb in torch.cat([allb[pos], allb[neg]]):
            rois.append([float(n)] + bb.tolist())
        labels += gl[gi[pos] - 1].tolist() + [C] * neg.numel()
        tgts.append(torch.cat([t, torch.zeros(neg.numel(), 4)]))
        npos.append(int(pos.numel()))
    rois32 = torch.tensor(rois, dtype=torch.float32)
    rois = rois32.double()
    lab = torch.tensor(labels)
    tgt = torch.cat(tgts).double()
    R = rois.shape[0]
    # map_roi_levels in float32 as mmdetection
    scale = torch.sqrt((rois32[:, 3] - rois32[:, 1]) * (rois32[:, 4] - rois32[:, 2]))
    x = torch.log2(scale / c["finest_scale"] + 1e-6)
    inner = x[(x > 0) & (x < len(c["roi_strides"]) - 1)]
    if inner.numel():
        margins.add("RoI level", (inner - torch.round(inner)).abs().min())
    lv = torch.floor(x).clamp(min=0, max=len(c["roi_strides"]) - 1).long()
    pooled = torch.zeros(R, c["fpn_out"], c["roi_size"], c["roi_size"], dtype=torch.float64)
    for i, st in enumerate(c["roi_strides"]):
        inds = (lv == i).nonzero().squeeze(1)
        if inds.numel():
            pooled[inds] = roi_align(feats[i], rois[inds], (c["roi_size"], c["roi_size"]), spatial_scale=1.0 / st,
                                     sampling_ratio=0, aligned=True)
    cls, reg = model.box_head(pooled, margins if check_relu else None)
    loss_cls = F.cross_entropy(cls, lab, reduction="sum") / max(R, 1)
    acc = (cls.argmax(1) == lab).double().sum() * 100.0 / R
    posm = lab < C
    pred = reg.view(R, -1, 4)[posm, lab[posm]]
    loss_bbox = (pred - tgt[posm]).abs().sum() / R
    return loss_cls, loss_bbox, acc, {"rois": R, "num_pos": npos, "levels": torch.bincount(lv, minlength=4).tolist()}


# ---- fixture ---------------------------------------------------------------------------------------

GRAD_PARAMS = [
    "roi_head.bbox_head.fc_cls.weight", "roi_head.bbox_head.fc_cls.bias", "roi_head.bbox_head.fc_reg.weight",
    "roi_head.bbox_head.fc_reg.bias", "roi_head.bbox_head.shared_fcs.0.weight", "roi_head.bbox_head.shared_fcs.1.bias",
    "rpn_head.rpn_conv.weight", "rpn_head.rpn_cls.weight", "rpn_head.rpn_cls.bias", "rpn_head.rpn_reg.weight",
    "rpn_head.rpn_reg.bias", "neck.fpn_convs.0.conv.weight", "neck.fpn_convs.3.conv.bias",
    "neck.lateral_convs.1.conv.weight", "backbone.layer4.1.bn2.weight", "backbone.layer3.0.conv2.weight",
    "backbone.layer2.0.downsample.1.weight", "backbone.layer1.0.bn1.bias", "backbone.bn1.weight",
    "backbone.conv1.weight",
]
PARAM3 = ["roi_head.bbox_head.fc_cls.weight", "roi_head.bbox_head.shared_fcs.1.weight", "rpn_head.rpn_conv.weight",
          "rpn_head.rpn_reg.bias", "neck.fpn_convs.1.conv.weight", "backbone.layer3.0.conv1.weight",
          "backbone.layer1.0.bn1.weight", "backbone.conv1.weight"]
BN3 = ["backbone.bn1", "backbone.layer1.0.bn1", "backbone.layer3.1.bn2", "backbone.layer4.0.downsample.1"]


def run(seed):
    """Three steps on the batch drawn with `seed`; (entries, doc) or None where a decision is too
    near its boundary. A box-head ReLU mask counts at step 1 only, whose gradients are compared."""
    model = TinyFasterRCNN().double()
    sd0 = {k: (v.clone() if k.endswith("num_batches_tracked") else fixture_value(k, list(v.shape)))
           for k, v in model.state_dict().items()}
    model.load_state_dict(sd0)
    batch, gt_bboxes, gt_labels, metas = draw_batch(torch.Generator().manual_seed(seed))
    entries = {"_input": f32(batch)}
    x = entries["_input"].double()
    model.train()
    o = CFG["optimizer"]
    opt = torch.optim.SGD(model.parameters(), lr=o["lr"], momentum=o["momentum"], weight_decay=o["weight_decay"])
    params = dict(model.named_parameters())
    steps, bad = [], {}
    print(f"batch seed {seed}")
    for step in range(3):
        margins = Margins()
        feats = model.neck(model.backbone(x))
        cls, reg = model.rpn(feats)
        lc, lb, rinfo = rpn_loss(cls, reg, gt_bboxes, metas, step_seed(0, step))
        props = proposals_of(cls, reg, metas, margins)
        rc, rb, acc, info = roi_loss(model, feats[:4], props, gt_bboxes, gt_labels, step_seed(1, step), margins,
                                     check_relu=step == 0)
        loss = sum(lc) + sum(lb) + rc + rb
        opt.zero_grad()
        loss.backward()
        if step == 0:
            for k in GRAD_PARAMS:
                entries[f"_grad.{k}"] = f32(params[k].grad)
        if step in (0, 2):
            for n, p in enumerate(props):
                entries[f"_proposals{step + 1}_{n}"] = p.contiguous()
        opt.step()
        steps.append({"loss_rpn_cls": float(sum(lc)), "loss_rpn_bbox": float(sum(lb)), "loss_cls": float(rc),
                      "loss_bbox": float(rb), "acc": float(acc), "rpn": rinfo, "rcnn": info,
                      "num_proposals": [int(p.shape[0]) for p in props], "margins": margins.m})
        s = steps[-1]
        print(f"step {step + 1}: rpn_cls {s['loss_rpn_cls']:.6f} rpn_bbox {s['loss_rpn_bbox']:.6f} "
              f"cls {s['loss_cls']:.6f} bbox {s['loss_bbox']:.6f} acc {s['acc']:.3f}; proposals "
              f"{s['num_proposals']}, rois {info}, rpn {rinfo}")
        bad.update({f"step {step + 1} {k}": v for k, v in margins.check(step).items()})
        if bad:
            print(f"  batch seed {seed} rejected: decisions too near their boundary ({MARGIN}): {bad}")
            return None
    sd = model.state_dict()
    for k in PARAM3:
        entries[f"_param3.{k}"] = f32(sd[k])
    for k in BN3:
        entries[f"_bn3.{k}.running_mean"] = f32(sd[f"{k}.running_mean"])
        entries[f"_bn3.{k}.running_var"] = f32(sd[f"{k}.running_var"])
    doc = {
        "generator": "tools/gen_faster_rcnn_step_fixture.py", "torch": torch.__version__,
        "config": "configs/faster_rcnn/faster_rcnn_tiny_shapes.ts", "cfg": CFG, "overrides": OVERRIDES,
        "batch_seed": seed, "margin": MARGIN,
        "state_keys": [[k, list(v.shape)] for k, v in sd0.items()],
        "state_sums": {k: seq_sum(v) for k, v in sd0.items()},
        "batch_shape": list(batch.shape), "img_metas": metas,
        "gt_bboxes": [b.reshape(-1).tolist() for b in gt_bboxes], "gt_labels": [l.tolist() for l in gt_labels],
        "steps": steps, "grad_params": GRAD_PARAMS, "param3": PARAM3, "bn3": BN3,
    }
    return entries, doc


def main():
    """The first batch seed from 2024 on whose three steps keep every decision clear of its
    boundary (the seed is recorded in the JSON)."""
    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)
    for seed in range(2024, 2044):
        res = run(seed)
        if res:
            break
    else:
        raise SystemExit("no batch seed in 2024-2043 keeps the decisions clear of their boundaries")
    entries, doc = res
    write_safetensors(OUT / f"{NAME}.safetensors", entries)
    path = OUT / f"{NAME}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    size = (OUT / f"{NAME}.safetensors").stat().st_size
    print(f"wrote {path} and {NAME}.safetensors ({size} bytes)")
    assert size < 2_000_000, f"{NAME}.safetensors is {size} bytes; keep it under 2 MB"


if __name__ == "__main__":
    main()
