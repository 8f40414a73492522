#!/usr/bin/env python3
"""PyTorch peer figures for `deno task bench`, printed as one JSON object on stdout.

The benchmarks call this script (when `python3` with torch is on PATH) in the same run as their
own measurements, on the same machine, so that each ratio compares figures taken side by side:

  python3 tools/peer_torch.py train [--batch 2] [--height 800] [--width 1216] [--iters 10]
      torchvision's retinanet_resnet50_fpn: ms per training step (forward, losses, backward,
      SGD step) and ms per single-image inference, FP32 with TF32 off, plus peak memory.
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


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--batch", type=int, default=2)
    t.add_argument("--height", type=int, default=800)
    t.add_argument("--width", type=int, default=1216)
    t.add_argument("--iters", type=int, default=10)
    c = sub.add_parser("conv")
    c.add_argument("--shapes", required=True)
    c.add_argument("--iters", type=int, default=20)
    args = p.parse_args()
    res = train(args) if args.cmd == "train" else conv(args)
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
