#!/usr/bin/env python3
"""PyTorch peer figures for `deno task bench`, printed as one JSON object on stdout.

The benchmarks call this script (when `python3` with torch is on PATH) in the same run as their
own measurements, on the same machine, so that each ratio compares figures taken side by side:

  python3 tools/peer_torch.py train [--batch 2] [--height 800] [--width 1216] [--iters 10]
      torchvision's retinanet_resnet50_fpn: ms per training step (forward, losses, backward,
      SGD step) and ms per single-image inference, FP32 with TF32 off, plus peak memory.
  python3 tools/peer_torch.py tiny [--batch 8] [--size 128] [--iters 30] [--threads 0]
      the tiny config's network (configs/retinanet/retinanet_tiny_shapes.ts: ResNet-18 at 1/4
      width, 32-channel FPN on P3-P5, 2-conv GN head, 3 classes, 9 anchors) written in plain
      PyTorch with the same parameter count, trained with the same losses (max-IoU assignment,
      sigmoid focal loss, L1 on deltas) and SGD: median/min/max ms per step over `--iters` steps
      after 3 warm-up steps, on the CPU unless CUDA is there (`--device cpu` forces the CPU).
  python3 tools/peer_torch.py faster_rcnn [--batch 2] [--height 800] [--width 1216] [--iters 10]
          [--device cpu] [--threads 0] [--roi K,C,H,W]
      torchvision's fasterrcnn_resnet50_fpn as configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.ts
      lays it out (80 classes + background, FrozenBN, stem and layer1 frozen as with a pretrained
      backbone, no resize: min/max size = the input's; RPN 2000/1000 proposals in training,
      1000/1000 at test, 256 RPN / 512 RoI samples, score 0.05, 100 detections): ms per training
      step (forward, losses, backward, SGD step) and per single-image inference, FP32 with TF32 off
      (cuDNN and matmul), peak memory; and torchvision roi_align(aligned=True, sampling_ratio 0)
      forward and forward+backward on K RoIs of 7x7 from a [1, C, H, W] map (spatial scale 1/4).
      `--roi-only` times roi_align alone. `--device cpu` with small shapes (e.g. --batch 1 --height 128 --width 128 --iters 1
      --roi 64,16,32,32) checks the script on a machine without CUDA.
  python3 tools/peer_torch.py conv --shapes '[[n,c,h,w,o,k,stride,pad], ...]' [--iters 20]
      cuDNN conv2d forward, backward-data, backward-filter and forward+backward in ms per shape.

On a machine without CUDA it runs on the CPU (useful only to check the script). The benchmark
never needs Python: without it, the peer columns stay empty.
"""
import argparse
import json
import sys
import time

import torch


def device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, dev, iters, warmup=2):
    for _ in range(warmup):
        fn()
    sync(dev)
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(dev)
    return (time.perf_counter() - t0) * 1000.0 / iters


def setup(dev):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def train(args):
    import torchvision

    dev = device()
    setup(dev)
    model = torchvision.models.detection.retinanet_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=91
    ).to(dev)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9, weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, args.height, args.width, generator=g).to(dev) for _ in range(args.batch)]
    targets = []
    for b in range(args.batch):
        boxes = []
        for i in range(20):
            x = (i * 37 + b * 11) % (args.width - 240)
            y = (i * 53 + b * 7) % (args.height - 240)
            s = 16 + (i * 13) % 200
            boxes.append([x, y, x + s, y + s])
        targets.append({
            "boxes": torch.tensor(boxes, dtype=torch.float32, device=dev),
            "labels": torch.tensor([1 + i % 80 for i in range(20)], dtype=torch.int64, device=dev),
        })

    def step():
        losses = model(images, targets)
        loss = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    train_ms = timed(step, dev, args.iters)
    peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None
    model.eval()
    with torch.no_grad():
        infer_ms = timed(lambda: model(images[:1]), dev, args.iters)
    return {
        "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "train_ms": train_ms,
        "infer_ms": infer_ms,
        "peak_mib": peak,
        "batch": args.batch,
        "size": [args.height, args.width],
    }


def conv(args):
    dev = device()
    setup(dev)
    out = []
    for n, c, h, w, o, k, stride, pad in json.loads(args.shapes):
        x = torch.randn(n, c, h, w, device=dev, requires_grad=True)
        wt = torch.randn(o, c, k, k, device=dev, requires_grad=True)
        y = torch.nn.functional.conv2d(x, wt, stride=stride, padding=pad)
        dy = torch.randn_like(y)
        fwd = timed(lambda: torch.nn.functional.conv2d(x, wt, stride=stride, padding=pad), dev, args.iters)
        bd = timed(
            lambda: torch.nn.grad.conv2d_input(x.shape, wt, dy, stride=stride, padding=pad),
            dev,
            args.iters,
        )
        bf = timed(
            lambda: torch.nn.grad.conv2d_weight(x, wt.shape, dy, stride=stride, padding=pad),
            dev,
            args.iters,
        )

        def fb():
            yy = torch.nn.functional.conv2d(x, wt, stride=stride, padding=pad)
            torch.autograd.grad(yy, (x, wt), dy)

        out.append({
            "shape": [n, c, h, w, o, k, stride, pad],
            "forward_ms": fwd,
            "backward_data_ms": bd,
            "backward_filter_ms": bf,
            "forward_backward_ms": timed(fb, dev, args.iters),
        })
    return {
        "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "convs": out,
    }


def tiny(args):
    import math

    import torch.nn as nn
    import torch.nn.functional as F

    dev = torch.device(args.device) if args.device else device()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    setup(dev)

    def bn_conv(cin, cout, k, s, p):
        return nn.Sequential(nn.Conv2d(cin, cout, k, s, p, bias=False), nn.BatchNorm2d(cout))

    class Basic(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = bn_conv(cin, cout, 3, stride, 1)
            self.c2 = bn_conv(cout, cout, 3, 1, 1)
            self.down = bn_conv(cin, cout, 1, stride, 0) if stride != 1 or cin != cout else None

        def forward(self, x):
            idt = self.down(x) if self.down is not None else x
            return F.relu(self.c2(F.relu(self.c1(x))) + idt)

    class Tiny(nn.Module):
        def __init__(self, num_classes=3, anchors=9):
            super().__init__()
            b = 16
            self.stem = bn_conv(3, b, 7, 2, 3)
            stages, cin = [], b
            for i, c in enumerate([b, 2 * b, 4 * b, 8 * b]):
                stages.append(nn.Sequential(Basic(cin, c, 1 if i == 0 else 2), Basic(c, c, 1)))
                cin = c
            self.stages = nn.ModuleList(stages)
            self.lat = nn.ModuleList([nn.Conv2d(c, 32, 1) for c in [2 * b, 4 * b, 8 * b]])
            self.fpn = nn.ModuleList([nn.Conv2d(32, 32, 3, 1, 1) for _ in range(3)])

            def tower():
                layers, c = [], 32
                for _ in range(2):
                    layers += [nn.Conv2d(c, 64, 3, 1, 1, bias=False), nn.GroupNorm(32, 64),
                               nn.ReLU()]
                    c = 64
                return nn.Sequential(*layers)

            self.cls_t, self.reg_t = tower(), tower()
            self.cls = nn.Conv2d(64, anchors * num_classes, 3, 1, 1)
            self.reg = nn.Conv2d(64, anchors * 4, 3, 1, 1)
            self.num_classes = num_classes

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.stem(x)), 3, 2, 1)
            feats = []
            for s in self.stages:
                x = s(x)
                feats.append(x)
            lat = [l(f) for l, f in zip(self.lat, feats[1:])]
            for i in range(len(lat) - 1, 0, -1):
                lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[2:])
            outs = [f(l) for f, l in zip(self.fpn, lat)]
            n = x.shape[0]
            cls = [self.cls(self.cls_t(o)).permute(0, 2, 3, 1).reshape(n, -1, self.num_classes)
                   for o in outs]
            reg = [self.reg(self.reg_t(o)).permute(0, 2, 3, 1).reshape(n, -1, 4) for o in outs]
            return torch.cat(cls, 1), torch.cat(reg, 1)

    model = Tiny().to(dev)
    params = sum(p.numel() for p in model.parameters())
    # anchors: octave_base_scale 2, 3 scales per octave, ratios 0.5/1/2, strides 8/16/32
    anchors = []
    for stride in (8, 16, 32):
        base = []
        for r in (0.5, 1.0, 2.0):
            for k in range(3):
                size = stride * 2 * 2 ** (k / 3)
                hr = math.sqrt(r)
                w, h = size / hr, size * hr
                base.append([-w / 2, -h / 2, w / 2, h / 2])
        base = torch.tensor(base)
        fs = args.size // stride
        ys, xs = torch.meshgrid(torch.arange(fs) * stride, torch.arange(fs) * stride,
                                indexing="ij")
        shift = torch.stack([xs, ys, xs, ys], -1).reshape(-1, 1, 4).float()
        anchors.append((shift + base[None]).reshape(-1, 4))
    anchors = torch.cat(anchors).to(dev)
    g = torch.Generator().manual_seed(0)
    img = (torch.rand(args.batch, 3, args.size, args.size, generator=g) * 2 - 1).to(dev)
    gts = []
    for _ in range(args.batch):
        bx = []
        for i in range(4):
            x, y = (i * 37) % (args.size - 40), (i * 53) % (args.size - 40)
            sz = 16 + (i * 13) % (args.size // 2)
            bx.append([x, y, min(args.size, x + sz), min(args.size, y + sz)])
        gts.append((torch.tensor(bx, dtype=torch.float32, device=dev),
                    torch.tensor([i % 3 for i in range(4)], device=dev)))
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9, weight_decay=1e-4)

    def encode(a, t):
        aw, ah = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
        ax, ay = a[:, 0] + aw / 2, a[:, 1] + ah / 2
        tw, th = t[:, 2] - t[:, 0], t[:, 3] - t[:, 1]
        tx, ty = t[:, 0] + tw / 2, t[:, 1] + th / 2
        return torch.stack([(tx - ax) / aw, (ty - ay) / ah, torch.log(tw / aw),
                            torch.log(th / ah)], 1)

    def step():
        from torchvision.ops import box_iou, sigmoid_focal_loss

        cls, reg = model(img)
        loss_cls, loss_reg, npos = 0.0, 0.0, 0
        for b, (boxes, labels) in enumerate(gts):
            with torch.no_grad():
                iou = box_iou(anchors, boxes)
                mx, arg = iou.max(1)
                pos, neg = mx >= 0.5, mx < 0.4
                tgt = torch.zeros_like(cls[b])
                tgt[pos, labels[arg[pos]]] = 1.0
            valid = pos | neg
            loss_cls = loss_cls + sigmoid_focal_loss(cls[b][valid], tgt[valid], 0.25, 2.0,
                                                     reduction="sum")
            if pos.any():
                loss_reg = loss_reg + (reg[b][pos] - encode(anchors[pos], boxes[arg[pos]])
                                       ).abs().sum()
            npos += int(pos.sum())
        loss = (loss_cls + loss_reg) / max(1, npos)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    model.train()
    for _ in range(3):
        step()
    sync(dev)
    times = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        step()
        sync(dev)
        times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    return {
        "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "params": params,
        "train_ms": times[len(times) // 2],
        "train_ms_min": times[0],
        "train_ms_max": times[-1],
        "iters": args.iters,
        "batch": args.batch,
        "size": args.size,
    }


def faster_rcnn(args):
    import torchvision
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.ops import FrozenBatchNorm2d, roi_align

    dev = torch.device(args.device) if args.device else device()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    setup(dev)
    g = torch.Generator().manual_seed(0)
    out = {
        "model": "fasterrcnn_resnet50_fpn (FrozenBN, trainable_layers 3, 81 classes)",
        "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "threads": torch.get_num_threads(),
        "roi_align": roi_align_times(args, dev, g, roi_align),
    }
    if args.roi_only:
        return out
    # fasterrcnn_resnet50_fpn's network with the norm and freezing of a pretrained backbone
    # (mmdet: norm_eval, frozen_stages 1); random weights
    backbone = resnet_fpn_backbone(backbone_name="resnet50", weights=None,
                                   norm_layer=FrozenBatchNorm2d, trainable_layers=3)
    model = FasterRCNN(
        backbone, num_classes=81,
        min_size=min(args.height, args.width), max_size=max(args.height, args.width),
        rpn_pre_nms_top_n_train=2000, rpn_post_nms_top_n_train=1000,
        rpn_pre_nms_top_n_test=1000, rpn_post_nms_top_n_test=1000,
        rpn_batch_size_per_image=256, box_batch_size_per_image=512,
        box_score_thresh=0.05, box_detections_per_img=100,
    ).to(dev)
    params = sum(p.numel() for p in model.parameters())
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.001,
                          momentum=0.9, weight_decay=1e-4)
    images = [torch.rand(3, args.height, args.width, generator=g).to(dev) for _ in range(args.batch)]
    targets = []
    for b in range(args.batch):
        boxes = []
        for i in range(20):
            s = 12 + (i * 13) % max(1, min(args.height, args.width) // 3)
            x = (i * 37 + b * 11) % max(1, args.width - s)
            y = (i * 53 + b * 7) % max(1, args.height - s)
            boxes.append([x, y, x + s, y + s])
        targets.append({
            "boxes": torch.tensor(boxes, dtype=torch.float32, device=dev),
            "labels": torch.tensor([1 + i % 80 for i in range(20)], dtype=torch.int64, device=dev),
        })

    def step():
        losses = model(images, targets)
        loss = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    train_ms = timed(step, dev, args.iters, warmup=1 if dev.type == "cpu" else 2)
    peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None
    model.eval()
    with torch.no_grad():
        infer_ms = timed(lambda: model(images[:1]), dev, args.iters,
                         warmup=1 if dev.type == "cpu" else 2)
    out.update({
        "params": params,
        "train_ms": train_ms,
        "infer_ms": infer_ms,
        "peak_mib": peak,
        "batch": args.batch,
        "size": [args.height, args.width],
        "iters": args.iters,
    })
    return out


def roi_align_times(args, dev, g, roi_align):
    """torchvision roi_align (aligned, sampling_ratio 0, 7x7, spatial scale 1/4): forward and
    forward+backward ms on K random RoIs of 8-208 px over a [1, C, H, W] map."""
    k, c, h, w = (int(v) for v in args.roi.split(","))
    x = torch.rand(1, c, h, w, generator=g).sub_(0.5).to(dev).requires_grad_(True)
    sz = torch.rand(k, generator=g) * 200 + 8
    x0 = torch.rand(k, generator=g) * (4 * w - sz).clamp(min=1)
    y0 = torch.rand(k, generator=g) * (4 * h - sz).clamp(min=1)
    rois = torch.stack([torch.zeros(k), x0, y0, x0 + sz, y0 + sz], 1).to(dev)

    def fwd():
        return roi_align(x, rois, (7, 7), spatial_scale=0.25, sampling_ratio=0, aligned=True)

    def fwd_bwd():
        torch.autograd.grad(fwd().sum(), x)

    with torch.no_grad():
        f_ms = timed(fwd, dev, max(3, args.iters))
    return {"rois": k, "shape": [1, c, h, w], "forward_ms": f_ms,
            "forward_backward_ms": timed(fwd_bwd, dev, max(3, args.iters))}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--batch", type=int, default=2)
    t.add_argument("--height", type=int, default=800)
    t.add_argument("--width", type=int, default=1216)
    t.add_argument("--iters", type=int, default=10)
    y = sub.add_parser("tiny")
    y.add_argument("--batch", type=int, default=8)
    y.add_argument("--size", type=int, default=128)
    y.add_argument("--iters", type=int, default=30)
    y.add_argument("--threads", type=int, default=0)
    y.add_argument("--device", default="")
    f = sub.add_parser("faster_rcnn")
    f.add_argument("--batch", type=int, default=2)
    f.add_argument("--height", type=int, default=800)
    f.add_argument("--width", type=int, default=1216)
    f.add_argument("--iters", type=int, default=10)
    f.add_argument("--threads", type=int, default=0)
    f.add_argument("--device", default="")
    f.add_argument("--roi", default="1024,256,200,304")
    f.add_argument("--roi-only", action="store_true")
    c = sub.add_parser("conv")
    c.add_argument("--shapes", required=True)
    c.add_argument("--iters", type=int, default=20)
    args = p.parse_args()
    res = {"train": train, "tiny": tiny, "conv": conv, "faster_rcnn": faster_rcnn}[args.cmd](args)
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
