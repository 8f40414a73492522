#!/usr/bin/python3
"""The end-to-end training-step oracle: three optimizer steps of the tiny RetinaNet of
configs/retinanet/retinanet_tiny_shapes.ts in plain PyTorch (Debian python3-torch 1.13), float64.

Model (mmdetection v2 layout and parameter names, networks from tools/gen_model_fixtures.py):
ResNet-18 with base_channels 16 and every BN in TRAINING mode (norm_eval false, frozen_stages -1),
FPN [16, 32, 64, 128] -> 32 channels, start_level 1, 3 outputs (P3-P5), RetinaHead with 2 stacked
convs of 32 channels, 3 classes, 9 anchors (octave_base_scale 2, scales_per_octave 3, ratios
0.5/1/2, strides 8/16/32). Loss as mmdetection's RetinaHead (spec §2.3-§2.8, re-implemented in
tools/gen_core_fixtures.py): MaxIoUAssigner(0.5, 0.4, min_pos_iou 0), sigmoid focal loss
(gamma 2, alpha 0.25) and L1 on the deltas, both divided by sum over images of max(#pos, 1);
the targets are computed in float32 as mmdetection does, the network and losses in float64.
Two variants (VARIANTS): "train_step" is the config as it is (no norm in the head, SGD lr 0.02,
momentum 0.9, weight_decay 1e-4); "train_step_gn_adamw" widens the head to 64 channels, puts
GroupNorm (8 groups) in its tower convs and uses AdamW(lr 0.003, weight_decay 1e-4). Every parameter is in one group.

Batch: 2 images of 64x96 (image 1 is 30x64, padded to 32x64 and then to the batch's 64x96, so
its anchors below/right of its pad_shape are invalid), a few gt boxes each.

Writes tests/fixtures/e2e/<variant>.safetensors and <variant>.json:
  .safetensors  "_input" (float32 batch), "_grad.<param>" (gradients at step 1), "_param3.<param>"
                (parameters after step 3), "_bn3.<bn>.running_mean" / ".running_var" (after step
                3), all float32.
  .json         the variant's head/optimizer overrides, state-dict keys and shapes, metas, gt
                boxes/labels, hyper-parameters, loss_cls / loss_bbox (total and per level) of each
                step, num_total_pos.
The initial state dict is not stored: every entry is a deterministic function of its name and shape
(`fixture_value`: an integer LCG seeded with FNV-1a of the name, scaled like mmdetection's init),
which the test regenerates bit for bit.

Run: /usr/bin/python3 tools/gen_train_step_fixture.py
The model, target and loss code is importable (tools/ on sys.path) for training-curve studies.
"""
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_core_fixtures import anchor_scales, assign, base_anchors, encode, grid_anchors, valid_flags  # noqa: E402
from gen_model_fixtures import FPN, ResNet, RetinaHead, write_safetensors  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests/fixtures/e2e"

# the tiny config's hyper-parameters (configs/retinanet/retinanet_tiny_shapes.ts)
TINY = {
    "base_channels": 16, "fpn_out": 32, "num_classes": 3, "feat_channels": 32, "stacked_convs": 2,
    "octave_base_scale": 2, "scales_per_octave": 3, "ratios": [0.5, 1.0, 2.0], "strides": [8, 16, 32],
    "pos_iou_thr": 0.5, "neg_iou_thr": 0.4, "min_pos_iou": 0.0,
    "gamma": 2.0, "alpha": 0.25, "lr": 0.02, "momentum": 0.9, "weight_decay": 1e-4,
}


class GNConvModule(nn.Module):
    """mmcv ConvModule with norm_cfg GN: conv (no bias) -> GroupNorm (child `gn`) -> ReLU."""

    def __init__(self, cin, cout, num_groups):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.gn = nn.GroupNorm(num_groups, cout)

    def forward(self, x):
        return F.relu(self.gn(self.conv(x)))


class TinyRetinaNet(nn.Module):
    """ResNet-18 (base 16) + FPN (P3-P5, 32 channels) + RetinaHead (2 x 32), mmdet names; with
    head_gn_groups, the head's tower convs carry GroupNorm (mmdet norm_cfg GN)."""

    def __init__(self, base_channels=16, fpn_out=32, num_classes=3, feat_channels=32, stacked_convs=2,
                 num_anchors=9, num_outs=3, head_gn_groups=None):
        super().__init__()
        self.backbone = ResNet(18, base_channels)
        chans = [base_channels * 2 ** i for i in range(4)]
        self.neck = FPN(chans, fpn_out, num_outs, start_level=1, add_extra_convs="on_input")
        self.bbox_head = RetinaHead(num_classes, fpn_out, feat_channels, stacked_convs, num_anchors)
        if head_gn_groups:
            for tower in (self.bbox_head.cls_convs, self.bbox_head.reg_convs):
                for i in range(len(tower)):
                    tower[i] = GNConvModule(tower[i].conv.in_channels, feat_channels, head_gn_groups)

    def forward(self, x):
        return self.bbox_head(self.neck(self.backbone(x)))


def mmdet_init(model, gen, randomize_norm=False):
    """mmdetection v2's from-scratch init: ResNet convs kaiming_normal(fan_out, relu), BN 1/0 (with
    randomize_norm: U(0.8, 1.2) / U(-0.1, 0.1)), FPN convs xavier_uniform with bias 0, head convs
    N(0, 0.01²) with bias 0, head GN 1/0, and retina_cls bias -log((1 - 0.01) / 0.01).
    (For training curves.)"""
    for name, p in model.named_parameters():
        if name.startswith("backbone.") and p.dim() == 4:
            fan_out = p.shape[0] * p.shape[2] * p.shape[3]
            p.data.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * math.sqrt(2.0 / fan_out))
        elif name.startswith("backbone."):  # BN affine
            if randomize_norm:
                lo, hi = (0.8, 1.2) if name.endswith("weight") else (-0.1, 0.1)
                p.data.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) * (hi - lo) + lo)
            else:
                p.data.fill_(1.0 if name.endswith("weight") else 0.0)
        elif name.startswith("neck.") and p.dim() == 4:
            fan_in, fan_out = p.shape[1] * p.shape[2] * p.shape[3], p.shape[0] * p.shape[2] * p.shape[3]
            b = math.sqrt(6.0 / (fan_in + fan_out))
            p.data.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) * 2 * b - b)
        elif name.startswith("bbox_head.") and p.dim() == 4:
            p.data.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.01)
        elif name == "bbox_head.retina_cls.bias":
            p.data.fill_(-math.log((1 - 0.01) / 0.01))
        elif ".gn." in name:
            p.data.fill_(1.0 if name.endswith("weight") else 0.0)
        else:
            p.data.zero_()


def fnv1a(text):
    """32-bit FNV-1a of a UTF-8 string."""
    h = 0x811C9DC5
    for b in text.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def lcg_uniform(name, n):
    """n values in [-1, 1), multiples of 2^-23 (exact in float32), from a 32-bit LCG seeded with
    FNV-1a(name): state = state * 1664525 + 1013904223 mod 2^32, value = (state >> 8) / 2^23 - 1.
    The e2e test regenerates the same values bit for bit (integer arithmetic only)."""
    s = fnv1a(name)
    out = [0.0] * n
    for i in range(n):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = (s >> 8) / 8388608.0 - 1.0
    return torch.tensor(out, dtype=torch.float64)


def fixture_value(name, shape):
    """The fixture's deterministic state-dict entry `name` (float32-exact values, float64 tensor): a
    uniform analogue of mmdetection's from-scratch init with the same variances, and non-trivial BN
    affines, biases and running statistics so that every path is exercised.
    u = lcg_uniform(name) in [-1, 1); fan_in/fan_out of OIHW weights; every product is rounded to
    float32 once.
      backbone conv weight   u * sqrt(6 / fan_out)               (kaiming, fan_out, relu)
      neck conv weight       u * sqrt(6 / (fan_in + fan_out))    (xavier uniform)
      head conv weight       u * 0.01 * sqrt(3)                  (std 0.01)
      BN/GN weight           1 + 0.2 u;  BN/GN bias 0.1 u
      BN running_mean        0.1 u;      BN running_var 1 + 0.25 u
      retina_cls bias        -log(99) + 0.2 u;  other conv biases 0.05 u"""
    n = 1
    for d in shape:
        n *= d
    u = lcg_uniform(name, n)
    if len(shape) == 4:
        fan_in, fan_out = shape[1] * shape[2] * shape[3], shape[0] * shape[2] * shape[3]
        if name.startswith("backbone."):
            scale = math.sqrt(6.0 / fan_out)
        elif name.startswith("neck."):
            scale = math.sqrt(6.0 / (fan_in + fan_out))
        else:
            scale = 0.01 * math.sqrt(3.0)
        v = u * scale
    elif name.endswith("running_mean"):
        v = u * 0.1
    elif name.endswith("running_var"):
        v = 1.0 + u * 0.25
    elif name == "bbox_head.retina_cls.bias":
        v = -math.log(99.0) + u * 0.2
    elif (name.startswith("backbone.") or ".gn." in name) and name.endswith(".weight"):
        v = 1.0 + u * 0.2
    elif name.startswith("backbone.") or ".gn." in name:
        v = u * 0.1
    else:
        v = u * 0.05
    return v.to(torch.float32).to(torch.float64).reshape(shape)


# ---- targets (float32, as mmdetection) and losses -------------------------------------------------

def level_anchors(featmap_sizes, cfg=TINY):
    scales = anchor_scales(octave_base_scale=cfg["octave_base_scale"], scales_per_octave=cfg["scales_per_octave"])
    ratios = torch.tensor(cfg["ratios"], dtype=torch.float32)
    bases = [base_anchors(s, scales, ratios) for s in cfg["strides"]]
    return [grid_anchors(b, sz, s) for b, sz, s in zip(bases, featmap_sizes, cfg["strides"])], bases[0].shape[0]


def targets(featmap_sizes, gt_bboxes, gt_labels, pad_shapes, cfg=TINY):
    """Per level [N, A_l] labels (num_classes = background), label weights, [N, A_l, 4] bbox targets
    and weights; num_total_pos = sum over images of max(#pos, 1)."""
    mlvl, A = level_anchors(featmap_sizes, cfg)
    num_level = [a.shape[0] for a in mlvl]
    flat = torch.cat(mlvl)
    C = cfg["num_classes"]
    labels_all, lw_all, bt_all, bw_all, num_pos = [], [], [], [], []
    for n in range(len(gt_bboxes)):
        inside = torch.cat([valid_flags(sz, pad_shapes[n], s, A) for sz, s in zip(featmap_sizes, cfg["strides"])])
        anchors = flat[inside]
        gi, _, _ = assign(anchors, gt_bboxes[n], gt_labels[n], cfg["pos_iou_thr"], cfg["neg_iou_thr"],
                          cfg["min_pos_iou"])
        pos = torch.nonzero(gi > 0).squeeze(-1)
        neg = torch.nonzero(gi == 0).squeeze(-1)
        m = anchors.shape[0]
        labels = torch.full((m,), C, dtype=torch.long)
        lw, bt, bw = torch.zeros(m), torch.zeros(m, 4), torch.zeros(m, 4)
        if pos.numel():
            bt[pos] = encode(anchors[pos], gt_bboxes[n][gi[pos] - 1])
            bw[pos] = 1.0
            labels[pos] = gt_labels[n][gi[pos] - 1]
            lw[pos] = 1.0
        lw[neg] = 1.0
        T = flat.shape[0]
        ul = torch.full((T,), C, dtype=torch.long)
        ulw, ubt, ubw = torch.zeros(T), torch.zeros(T, 4), torch.zeros(T, 4)
        ul[inside], ulw[inside], ubt[inside], ubw[inside] = labels, lw, bt, bw
        labels_all.append(ul)
        lw_all.append(ulw)
        bt_all.append(ubt)
        bw_all.append(ubw)
        num_pos.append(int(pos.numel()))

    def split(ts):
        st = torch.stack(ts, 0)
        out, s = [], 0
        for k in num_level:
            out.append(st[:, s:s + k])
            s += k
        return out

    return {"labels": split(labels_all), "label_weights": split(lw_all), "bbox_targets": split(bt_all),
            "bbox_weights": split(bw_all), "num_pos": num_pos, "num_total_pos": sum(max(p, 1) for p in num_pos)}


def focal_loss_sum(logits, labels, weight, num_classes, gamma, alpha):
    """Sum of mmdetection's sigmoid focal loss (BCE-with-logits times the focal weight) x weight."""
    t = F.one_hot(labels, num_classes=num_classes + 1)[:, :num_classes].to(logits.dtype)
    p = logits.sigmoid()
    pt = (1 - p) * t + p * (1 - t)
    fw = (alpha * t + (1 - alpha) * (1 - t)) * pt.pow(gamma)
    loss = F.binary_cross_entropy_with_logits(logits, t, reduction="none") * fw
    return (loss * weight.to(logits.dtype)[:, None]).sum()


def retina_loss(cls_scores, bbox_preds, tg, cfg=TINY):
    """Per level loss_cls and loss_bbox (mmdet's loss_single), normalised by num_total_pos."""
    C = cfg["num_classes"]
    avg = float(tg["num_total_pos"])
    lc, lb = [], []
    for l, (cs, bp) in enumerate(zip(cls_scores, bbox_preds)):
        logits = cs.permute(0, 2, 3, 1).reshape(-1, C)
        lc.append(focal_loss_sum(logits, tg["labels"][l].reshape(-1), tg["label_weights"][l].reshape(-1), C,
                                 cfg["gamma"], cfg["alpha"]) / avg)
        deltas = bp.permute(0, 2, 3, 1).reshape(-1, 4)
        bt = tg["bbox_targets"][l].reshape(-1, 4).to(deltas.dtype)
        bw = tg["bbox_weights"][l].reshape(-1, 4).to(deltas.dtype)
        lb.append((torch.abs(deltas - bt) * bw).sum() / avg)
    return lc, lb


def make_sgd(model, cfg=TINY):
    return torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"],
                           weight_decay=cfg["weight_decay"])


def make_optimizer(model, opt_cfg):
    """torch.optim from an mmcv optimizer config (SGD or AdamW), every parameter in one group."""
    kw = {k: v for k, v in opt_cfg.items() if k != "type"}
    if opt_cfg["type"] == "SGD":
        return torch.optim.SGD(model.parameters(), **kw)
    if opt_cfg["type"] == "AdamW":
        return torch.optim.AdamW(model.parameters(), **kw)
    raise ValueError(f"unsupported optimizer {opt_cfg['type']}")


# ---- the fixed batch ------------------------------------------------------------------------------

MEAN = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)


def draw_batch(gen):
    """Two noisy images with filled boxes/ellipses/triangles, normalised and zero-padded (mmdet Pad
    after Normalize) into one [2, 3, 64, 96] batch."""
    H, W = 64, 96
    specs = [
        ((64, 96), [([8., 6., 40., 38.], 0), ([50., 10., 90., 34.], 1), ([20., 40., 36., 60.], 2),
                    ([60., 38., 92., 62.], 0)]),
        ((30, 64), [([4., 4., 28., 26.], 1), ([34., 8., 60., 28.], 2)]),
    ]
    batch = torch.zeros(2, 3, H, W)
    gt_bboxes, gt_labels, metas = [], [], []
    for n, ((h, w), objs) in enumerate(specs):
        img = torch.rand(3, 1, 1, generator=gen) * 120 + 40 + torch.randn(3, h, w, generator=gen) * 12
        yy, xx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
        for (x1, y1, x2, y2), lab in objs:
            colour = torch.rand(3, generator=gen) * 255
            cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
            if lab == 0:
                m = (xx >= x1) & (xx < x2) & (yy >= y1) & (yy < y2)
            elif lab == 1:
                m = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
            else:  # triangle: apex top centre, base at the bottom
                m = (yy >= y1) & (yy < y2) & ((xx - cx).abs() <= rx * (yy - y1) / (y2 - y1))
            img[:, m] = colour[:, None]
        img = img.clamp(0, 255).round()
        batch[n, :, :h, :w] = (img - MEAN) / STD
        gt_bboxes.append(torch.tensor([o[0] for o in objs], dtype=torch.float32))
        gt_labels.append(torch.tensor([o[1] for o in objs], dtype=torch.long))
        ph, pw = math.ceil(h / 32) * 32, math.ceil(w / 32) * 32
        metas.append({"img_shape": [h, w, 3], "pad_shape": [ph, pw, 3], "ori_shape": [h, w, 3],
                      "scale_factor": [1.0, 1.0, 1.0, 1.0], "flip": False, "flip_direction": None,
                      "batch_input_shape": [H, W]})
    return batch, gt_bboxes, gt_labels, metas


# ---- fixture ---------------------------------------------------------------------------------------

GRAD_PARAMS = [
    "bbox_head.retina_cls.weight", "bbox_head.retina_cls.bias", "bbox_head.retina_reg.weight",
    "bbox_head.retina_reg.bias", "bbox_head.cls_convs.0.conv.weight", "neck.fpn_convs.0.conv.weight",
    "neck.lateral_convs.2.conv.weight", "neck.lateral_convs.0.conv.bias", "backbone.layer4.1.bn2.weight",
    "backbone.layer3.0.conv2.weight", "backbone.layer2.0.downsample.1.weight", "backbone.layer1.0.bn1.weight",
    "backbone.layer1.0.bn1.bias", "backbone.bn1.weight", "backbone.conv1.weight",
]
PARAM3 = ["bbox_head.retina_cls.weight", "bbox_head.retina_cls.bias", "bbox_head.reg_convs.0.conv.weight",
          "neck.fpn_convs.2.conv.bias", "backbone.layer3.0.conv1.weight", "backbone.layer1.0.bn1.weight",
          "backbone.bn1.bias", "backbone.conv1.weight"]
BN3 = ["backbone.bn1", "backbone.layer1.0.bn1", "backbone.layer3.1.bn2", "backbone.layer4.0.downsample.1"]

# Each variant: what it changes on top of the tiny config (the test applies the same overrides to
# the config it loads) and its optimizer.
VARIANTS = {
    # the tiny config as it is: no norm in the head, SGD
    "train_step": {
        "bbox_head": {"feat_channels": 32, "norm_cfg": None},
        "optimizer": {"type": "SGD", "lr": 0.02, "momentum": 0.9, "weight_decay": 1e-4},
        "grad_params": GRAD_PARAMS + ["bbox_head.reg_convs.1.conv.bias"],
    },
    # a 64-channel head with GroupNorm (8 groups) in its towers and AdamW: the recipe that makes the
    # tiny model learn the shapes within 600 iterations (see the e2e test's report)
    "train_step_gn_adamw": {
        "bbox_head": {"feat_channels": 64, "norm_cfg": {"type": "GN", "num_groups": 8, "requires_grad": True}},
        "optimizer": {"type": "AdamW", "lr": 0.003, "weight_decay": 1e-4},
        "grad_params": GRAD_PARAMS + ["bbox_head.cls_convs.1.gn.weight", "bbox_head.reg_convs.0.gn.bias"],
    },
}


def seq_sum(t):
    """Left-to-right float64 sum of the elements (the order the test sums in)."""
    s = 0.0
    for x in t.reshape(-1).tolist():
        s += float(x)
    return s


def f32(t):
    return t.detach().to(torch.float32).contiguous()


def make_fixture(name, variant):
    head = variant["bbox_head"]
    norm = head["norm_cfg"]
    model = TinyRetinaNet(feat_channels=head["feat_channels"],
                          head_gn_groups=norm["num_groups"] if norm else None).double()
    sd0 = {}
    for k, v in model.state_dict().items():
        sd0[k] = v.clone() if k.endswith("num_batches_tracked") else fixture_value(k, list(v.shape))
    model.load_state_dict(sd0)
    entries = {}
    batch, gt_bboxes, gt_labels, metas = draw_batch(torch.Generator().manual_seed(2024))
    entries["_input"] = f32(batch)
    x = entries["_input"].double()

    model.train()  # every BN uses batch statistics and updates its running stats
    opt = make_optimizer(model, variant["optimizer"])
    params = dict(model.named_parameters())
    steps = []
    tg = None
    for step in range(3):
        cls, reg = model(x)
        if tg is None:
            tg = targets([tuple(c.shape[2:]) for c in cls], gt_bboxes, gt_labels, [m["pad_shape"][:2] for m in metas])
        lc, lb = retina_loss(cls, reg, tg)
        loss = sum(lc) + sum(lb)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            for k in variant["grad_params"]:
                entries[f"_grad.{k}"] = f32(params[k].grad)
        opt.step()
        steps.append({"loss_cls": float(sum(lc)), "loss_bbox": float(sum(lb)),
                      "loss_cls_levels": [float(v) for v in lc], "loss_bbox_levels": [float(v) for v in lb]})
        print(f"{name} step {step + 1}: loss_cls {steps[-1]['loss_cls']:.6f} loss_bbox {steps[-1]['loss_bbox']:.6f}")
    sd = model.state_dict()
    for k in PARAM3:
        entries[f"_param3.{k}"] = f32(sd[k])
    for k in BN3:
        entries[f"_bn3.{k}.running_mean"] = f32(sd[f"{k}.running_mean"])
        entries[f"_bn3.{k}.running_var"] = f32(sd[f"{k}.running_var"])
        assert int(sd[f"{k}.num_batches_tracked"]) == 3
    write_safetensors(OUT / f"{name}.safetensors", entries)
    doc = {
        "config": "configs/retinanet/retinanet_tiny_shapes.ts", "hyper": TINY,
        "bbox_head": head, "optimizer": variant["optimizer"],
        "state_keys": [[k, list(v.shape)] for k, v in sd0.items()],
        # float64 sum of each regenerated float32 entry, in row-major order: the test checks that
        # its fixture_value gives the same bits
        "state_sums": {k: seq_sum(v) for k, v in sd0.items()},
        "batch_shape": list(batch.shape), "img_metas": metas,
        "gt_bboxes": [b.reshape(-1).tolist() for b in gt_bboxes], "gt_labels": [l.tolist() for l in gt_labels],
        "num_pos": tg["num_pos"], "num_total_pos": tg["num_total_pos"],
        "steps": steps, "grad_params": variant["grad_params"], "param3": PARAM3, "bn3": BN3,
    }
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {path.relative_to(OUT.parent.parent.parent)} ({path.stat().st_size} bytes); "
          f"positives per image {tg['num_pos']}")
    size = (OUT / f"{name}.safetensors").stat().st_size
    assert size < 1_000_000, f"{name}.safetensors is {size} bytes; keep it under 1 MB"


def main():
    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, variant in VARIANTS.items():
        make_fixture(name, variant)


if __name__ == "__main__":
    main()
