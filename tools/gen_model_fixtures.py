"""Reference fixtures for wgdet's model side (ResNet, FPN, RetinaHead, RetinaNet), computed with
plain PyTorch (Debian python3-torch 1.13) in float64 and stored as float32.

The networks below are written from mmdetection v2's documented structure (same module names, so
the same state-dict keys); the ResNet is checked against torchvision's resnet18/resnet50 (key set
and outputs at full width) before any fixture is written.

Writes into tests/fixtures/models/:
  (state-dict floats are stored as float16, outputs and gradients as float32)
  retinanet_r18_tiny.safetensors   ResNet-18 (base 8) + FPN (16) + RetinaHead (3 classes, feat 16),
                                   input 2x3x72x104: state dict, stage/FPN/head outputs (BN eval),
                                   gradients of sum(w * head outputs), and a train-mode (batch
                                   statistics) backbone forward with the updated running stats.
  retinanet_r50_tiny.safetensors   ResNet-50 (base 8) + FPN + head, input 1x3x72x104, eval outputs
                                   and gradients.
  retinanet_r50_fpn_1x_coco_keys.json   state-dict keys and shapes of the full
                                   retinanet_r50_fpn_1x_coco model, parameter counts.
Non-state-dict entries are prefixed with "_" ("_input", "_out.backbone.0", "_grad.<param>", ...).

Run: python3 tools/gen_model_fixtures.py
"""
import copy
import json
import struct
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = Path(__file__).resolve().parent.parent / "tests/fixtures/models"


# ---- networks (mmdetection v2 layout) -------------------------------------------------------

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None, style="pytorch"):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None, style="pytorch"):
        super().__init__()
        s1, s2 = (1, stride) if style == "pytorch" else (stride, 1)
        self.conv1 = nn.Conv2d(inplanes, planes, 1, s1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, s2, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


ARCH = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)), 101: (Bottleneck, (3, 4, 23, 3))}


class ResNet(nn.Module):
    def __init__(self, depth, base_channels=64, in_channels=3, out_indices=(0, 1, 2, 3),
                 strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1), style="pytorch"):
        super().__init__()
        block, blocks = ARCH[depth]
        self.out_indices = out_indices
        self.conv1 = nn.Conv2d(in_channels, base_channels, 7, 2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_channels)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        inplanes = base_channels
        self.res_layers = []
        for i, n in enumerate(blocks):
            planes = base_channels * 2 ** i
            down = None
            if strides[i] != 1 or inplanes != planes * block.expansion:
                down = nn.Sequential(nn.Conv2d(inplanes, planes * block.expansion, 1, strides[i], bias=False),
                                     nn.BatchNorm2d(planes * block.expansion))
            layers = [block(inplanes, planes, strides[i], dilations[i], down, style)]
            inplanes = planes * block.expansion
            layers += [block(inplanes, planes, 1, dilations[i], None, style) for _ in range(1, n)]
            name = f"layer{i + 1}"
            self.add_module(name, nn.Sequential(*layers))
            self.res_layers.append(name)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


class ConvModule(nn.Module):
    """mmcv ConvModule without norm: conv (+ ReLU); the child is called `conv`."""

    def __init__(self, cin, cout, k, stride=1, padding=0, relu=False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, padding=padding, bias=True)
        self.relu = relu

    def forward(self, x):
        x = self.conv(x)
        return F.relu(x) if self.relu else x


class FPN(nn.Module):
    def __init__(self, in_channels, out_channels, num_outs, start_level=0, add_extra_convs=False,
                 relu_before_extra_convs=False):
        super().__init__()
        self.num_ins = len(in_channels)
        self.num_outs = num_outs
        self.start_level = start_level
        self.end = self.num_ins
        self.add_extra_convs = "on_input" if add_extra_convs is True else add_extra_convs
        self.relu_before_extra_convs = relu_before_extra_convs
        self.lateral_convs = nn.ModuleList(ConvModule(in_channels[i], out_channels, 1)
                                           for i in range(start_level, self.end))
        self.fpn_convs = nn.ModuleList(ConvModule(out_channels, out_channels, 3, padding=1)
                                       for _ in range(start_level, self.end))
        extra = num_outs - self.end + start_level
        if self.add_extra_convs and extra >= 1:
            for i in range(extra):
                cin = in_channels[self.end - 1] if i == 0 and self.add_extra_convs == "on_input" else out_channels
                self.fpn_convs.append(ConvModule(cin, out_channels, 3, stride=2, padding=1))

    def forward(self, inputs):
        lat = [c(inputs[i + self.start_level]) for i, c in enumerate(self.lateral_convs)]
        n = len(lat)
        for i in range(n - 1, 0, -1):
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[2:], mode="nearest")
        outs = [self.fpn_convs[i](lat[i]) for i in range(n)]
        if self.num_outs > n:
            if not self.add_extra_convs:
                for _ in range(self.num_outs - n):
                    outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            else:
                src = {"on_input": inputs[self.end - 1], "on_lateral": lat[-1], "on_output": outs[-1]}[self.add_extra_convs]
                outs.append(self.fpn_convs[n](src))
                for i in range(n + 1, self.num_outs):
                    x = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
                    outs.append(self.fpn_convs[i](x))
        return tuple(outs)


class RetinaHead(nn.Module):
    def __init__(self, num_classes, in_channels, feat_channels=256, stacked_convs=4, num_anchors=9):
        super().__init__()
        self.cls_convs = nn.ModuleList(ConvModule(in_channels if i == 0 else feat_channels, feat_channels, 3,
                                                  padding=1, relu=True) for i in range(stacked_convs))
        self.reg_convs = nn.ModuleList(ConvModule(in_channels if i == 0 else feat_channels, feat_channels, 3,
                                                  padding=1, relu=True) for i in range(stacked_convs))
        self.retina_cls = nn.Conv2d(feat_channels, num_anchors * num_classes, 3, padding=1)
        self.retina_reg = nn.Conv2d(feat_channels, num_anchors * 4, 3, padding=1)

    def forward(self, feats):
        cls, reg = [], []
        for x in feats:
            c, r = x, x
            for m in self.cls_convs:
                c = m(c)
            for m in self.reg_convs:
                r = m(r)
            cls.append(self.retina_cls(c))
            reg.append(self.retina_reg(r))
        return cls, reg


class RetinaNet(nn.Module):
    def __init__(self, depth, base_channels, fpn_out, num_classes, feat_channels, stacked_convs=4):
        super().__init__()
        self.backbone = ResNet(depth, base_channels)
        exp = ARCH[depth][0].expansion
        chans = [base_channels * 2 ** i * exp for i in range(4)]
        self.neck = FPN(chans, fpn_out, 5, start_level=1, add_extra_convs="on_input")
        self.bbox_head = RetinaHead(num_classes, fpn_out, feat_channels, stacked_convs)

    def forward(self, x):
        c = self.backbone(x)
        p = self.neck(c)
        return c, p, self.bbox_head(p)


# ---- checks against torchvision --------------------------------------------------------------

def check_against_torchvision():
    import torchvision
    for depth, ctor in ((18, torchvision.models.resnet18), (50, torchvision.models.resnet50)):
        torch.manual_seed(depth)
        tv = ctor().eval()
        mine = ResNet(depth).eval()
        tv_sd = {k: v for k, v in tv.state_dict().items() if not k.startswith("fc.")}
        assert list(tv_sd) == list(mine.state_dict()), f"resnet{depth}: key order differs from torchvision"
        for k, v in tv_sd.items():
            if k.endswith("running_var"):
                v.uniform_(0.5, 1.5)
            elif k.endswith("running_mean") or k.endswith("bias"):
                v.uniform_(-0.2, 0.2)
        mine.load_state_dict(tv_sd)
        x = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            a = tv.layer4(tv.layer3(tv.layer2(tv.layer1(tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))))))
            b = mine(x)[3]
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5), f"resnet{depth}: output differs from torchvision"
    print("ResNet-18/50 match torchvision (keys, order, outputs)")


# ---- seeded weights --------------------------------------------------------------------------

def seed_weights(model, gen, calib_shape):
    """Conv weights ~ N(0, 2/fan_in) (head outputs ~N(0, 1/fan_in)), biases U(-0.1, 0.1); BN
    running statistics from one calibration batch, then BN affine U(0.6, 1.4) / U(-0.2, 0.2)."""
    for name, p in model.named_parameters():
        if p.dim() == 4:
            fan_in = p.shape[1] * p.shape[2] * p.shape[3]
            gain = 1.0 if ("retina_" in name) else 2.0
            p.data.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * (gain / fan_in) ** 0.5)
        elif name.endswith("bias") and ".bn" not in name and "downsample.1" not in name:
            p.data.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) * 0.2 - 0.1)
    # calibration: running stats = statistics of one random batch (cumulative average, 1 step)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(calib_shape, generator=gen, dtype=torch.float64))
    for m in bns:
        m.momentum = 0.1
        m.weight.data.copy_(torch.rand(m.weight.shape, generator=gen, dtype=m.weight.dtype) * 0.8 + 0.6)
        m.bias.data.copy_(torch.rand(m.bias.shape, generator=gen, dtype=m.bias.dtype) * 0.4 - 0.2)
        m.num_batches_tracked.fill_(0)
    model.eval()


# ---- safetensors writer (by hand) --------------------------------------------------------------

def write_safetensors(path, tensors):
    dtypes = {torch.float32: ("F32", "f"), torch.float16: ("F16", "e"), torch.int64: ("I64", "q"),
              torch.int32: ("I32", "i")}
    header, blobs, offset = {}, [], 0
    items = sorted(tensors.items(), key=lambda kv: -kv[1].element_size())  # aligned, no gaps
    for name, t in items:
        t = t.detach().contiguous()
        code, fmt = dtypes[t.dtype]
        flat = t.reshape(-1).tolist()
        data = struct.pack("<" + fmt * len(flat), *flat)
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    print(f"wrote {path.relative_to(OUT.parent.parent.parent)} ({path.stat().st_size} bytes, {len(tensors)} tensors)")


def f32(t):
    return t.detach().to(torch.float32)


def state_entries(model):
    """The state dict with float tensors rounded to float16 (halves the fixture size; the float64
    reference is computed from exactly these rounded values, so nothing is lost)."""
    out = {}
    for k, v in model.state_dict().items():
        out[k] = v.detach().clone() if v.dtype == torch.int64 else v.detach().to(torch.float16)
    return out


def weight_pattern(shape, level, kind):
    """The fixed weights w of the scalar sum(w * out): w[i] = sin(0.5 + 0.37 i + 1.1 level) for
    cls outputs, cos(...) for reg outputs (i = flat row-major index), rounded to float32. The test
    recomputes them rather than reading them from the fixture."""
    n = 1
    for d in shape:
        n *= d
    t = 0.5 + 0.37 * torch.arange(n, dtype=torch.float64) + 1.1 * level
    w = torch.sin(t) if kind == "cls" else torch.cos(t)
    return w.to(torch.float32).to(torch.float64).reshape(shape)


# ---- fixtures ----------------------------------------------------------------------------------

def make_tiny(name, depth, batch, grad_params, with_train):
    gen = torch.Generator().manual_seed(1000 + depth)
    model = RetinaNet(depth, base_channels=8, fpn_out=16, num_classes=3, feat_channels=16).double()
    seed_weights(model, gen, (2, 3, 72, 104))
    entries = state_entries(model)
    x = torch.rand((batch, 3, 72, 104), generator=gen, dtype=torch.float64) * 2 - 1
    entries["_input"] = f32(x)
    # float64 reference computed from the float32-rounded weights and input (what wgdet loads)
    ref = copy.deepcopy(model)
    ref.load_state_dict({k: (v.double() if v.is_floating_point() else v) for k, v in entries.items()
                         if not k.startswith("_")})
    ref.eval()
    x64 = entries["_input"].double()
    c, p, (cls, reg) = ref(x64)
    for i, t in enumerate(c):
        entries[f"_out.backbone.{i}"] = f32(t)
    for i, t in enumerate(p):
        entries[f"_out.neck.{i}"] = f32(t)
    loss = 0
    for i, (a, b) in enumerate(zip(cls, reg)):
        entries[f"_out.cls.{i}"] = f32(a)
        entries[f"_out.reg.{i}"] = f32(b)
        loss = loss + (a * weight_pattern(a.shape, i, "cls")).sum() + (b * weight_pattern(b.shape, i, "reg")).sum()
    entries["_loss"] = f32(loss.reshape(1))
    ref.zero_grad()
    loss.backward()
    params = dict(ref.named_parameters())
    for k in grad_params:
        entries[f"_grad.{k}"] = f32(params[k].grad)
    if with_train:
        # train mode: batch statistics everywhere (norm_eval False, nothing frozen)
        tr = copy.deepcopy(ref)
        tr.train()
        with torch.no_grad():
            c = tr.backbone(x64)
        for i, t in enumerate(c):
            entries[f"_train.out.backbone.{i}"] = f32(t)
        sd = tr.state_dict()
        for k in ("backbone.bn1", "backbone.layer1.0.bn2", "backbone.layer4.1.bn2", "backbone.layer3.0.downsample.1"):
            entries[f"_train.{k}.running_mean"] = f32(sd[f"{k}.running_mean"])
            entries[f"_train.{k}.running_var"] = f32(sd[f"{k}.running_var"])
    write_safetensors(OUT / f"{name}.safetensors", entries)


def make_key_list():
    model = RetinaNet(50, base_channels=64, fpn_out=256, num_classes=80, feat_channels=256)
    sd = model.state_dict()
    params = dict(model.named_parameters())
    frozen = [k for k in params if k.startswith("backbone.conv1.") or k.startswith("backbone.bn1.")
              or k.startswith("backbone.layer1.")]
    total = sum(p.numel() for p in params.values())
    frozen_n = sum(params[k].numel() for k in frozen)
    import torchvision
    tv_keys = [k for k in torchvision.models.resnet50().state_dict() if not k.startswith("fc.")]
    assert [k[len("backbone."):] for k in sd if k.startswith("backbone.")] == tv_keys
    doc = {
        "config": "retinanet_r50_fpn_1x_coco",
        "num_parameters": total,
        "num_trainable": total - frozen_n,
        "keys": [[k, list(v.shape)] for k, v in sd.items()],
        "parameters": list(params),
    }
    path = OUT / "retinanet_r50_fpn_1x_coco_keys.json"
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {path.name}: {len(sd)} keys, {total} parameters, {total - frozen_n} trainable")
    assert total == 37968692 and total - frozen_n == 37743348, "parameter counts differ from the spec"


def main():
    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)
    check_against_torchvision()
    head_and_neck = ["bbox_head.retina_cls.weight", "bbox_head.retina_cls.bias", "bbox_head.retina_reg.weight",
                     "bbox_head.cls_convs.0.conv.weight", "bbox_head.reg_convs.3.conv.bias",
                     "neck.lateral_convs.0.conv.weight", "neck.lateral_convs.2.conv.bias",
                     "neck.fpn_convs.0.conv.weight", "neck.fpn_convs.3.conv.weight", "neck.fpn_convs.4.conv.bias"]
    make_tiny("retinanet_r18_tiny", 18, 2, head_and_neck + [
        "backbone.layer2.0.conv1.weight", "backbone.layer2.0.bn1.weight", "backbone.layer2.0.bn1.bias",
        "backbone.layer2.0.downsample.0.weight", "backbone.layer2.0.downsample.1.weight",
        "backbone.layer4.1.conv2.weight", "backbone.layer4.1.bn2.bias"], with_train=True)
    make_tiny("retinanet_r50_tiny", 50, 1, head_and_neck + [
        "backbone.layer2.0.conv2.weight", "backbone.layer2.0.bn3.weight", "backbone.layer3.5.conv3.weight",
        "backbone.layer4.0.downsample.1.bias"], with_train=False)
    make_key_list()


if __name__ == "__main__":
    main()
