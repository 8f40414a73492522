#!/usr/bin/python3
"""Writes the PyTorch reference fixtures of the CNN ops to tests/fixtures/ops/.

For every case: random inputs and parameters, the outputs, and every gradient obtained by
autograd from a random upstream gradient `gy` (the loss is sum(y * gy)). Arrays are stored as
{"shape", "dtype", "data"} with float32 values printed to 9 significant digits (exact round trip).

Run from the repository root with Debian's python3-torch:
    /usr/bin/python3 tools/gen_conv_fixtures.py
"""
import json
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "ops")


def arr(t):
    t = t.detach().contiguous()
    dtype = "f32" if t.dtype == torch.float32 else "i32"
    flat = t.reshape(-1).tolist()
    data = [float("%.9g" % v) for v in flat] if dtype == "f32" else [int(v) for v in flat]
    return {"shape": list(t.shape), "dtype": dtype, "data": data}


def leaf(shape, gen, lo=-1.0, hi=1.0):
    return (torch.rand(shape, generator=gen) * (hi - lo) + lo).requires_grad_(True)


def conv_cases(gen):
    # name, x shape, w shape, stride, padding, dilation, groups, bias, act
    specs = [
        ("stem_7x7_s2", [1, 3, 19, 17], [4, 3, 7, 7], 2, 3, 1, 1, False, "none"),
        ("k3_s1_bias", [1, 4, 9, 11], [5, 4, 3, 3], 1, 1, 1, 1, True, "none"),
        ("k3_s1_relu", [1, 4, 7, 6], [5, 4, 3, 3], 1, 1, 1, 1, True, "relu"),
        ("k3_s2", [1, 4, 9, 10], [6, 4, 3, 3], 2, 1, 1, 1, False, "none"),
        ("k1_s1", [1, 8, 5, 7], [6, 8, 1, 1], 1, 0, 1, 1, True, "none"),
        ("k1_s2", [1, 8, 7, 7], [6, 8, 1, 1], 2, 0, 1, 1, False, "none"),
        ("batch8_k3", [8, 3, 5, 5], [4, 3, 3, 3], 1, 1, 1, 1, True, "relu"),
        ("batch8_k1_s2", [8, 6, 3, 4], [5, 6, 1, 1], 2, 0, 1, 1, False, "none"),
        ("pad2", [2, 3, 6, 7], [4, 3, 3, 3], 1, 2, 1, 1, False, "none"),
        ("dilation2", [1, 3, 9, 9], [4, 3, 3, 3], 1, 2, 2, 1, True, "none"),
        ("groups2", [2, 4, 6, 6], [6, 2, 3, 3], 1, 1, 1, 2, True, "none"),
        ("groups32", [1, 64, 4, 4], [64, 2, 3, 3], 1, 1, 1, 32, False, "none"),
        ("map_1x1", [2, 8, 1, 1], [6, 8, 3, 3], 1, 1, 1, 1, True, "none"),
        ("k3_c32_odd", [1, 32, 5, 6], [24, 32, 3, 3], 1, 1, 1, 1, True, "none"),
        ("k3_long_k", [2, 4, 24, 24], [4, 4, 3, 3], 1, 1, 1, 1, False, "none"),
        ("k3_s2_odd", [2, 3, 7, 5], [5, 3, 3, 3], 2, 1, 1, 1, True, "relu"),
    ]
    cases = []
    for name, xs, ws, s, p, d, g, has_b, act in specs:
        x = leaf(xs, gen)
        w = leaf(ws, gen, -0.5, 0.5)
        b = leaf([ws[0]], gen) if has_b else None
        y = F.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g)
        if act == "relu":
            y = F.relu(y)
        gy = torch.randn(y.shape, generator=gen)
        (y * gy).sum().backward()
        arrays = {"x": arr(x), "w": arr(w), "y": arr(y), "gy": arr(gy), "gx": arr(x.grad), "gw": arr(w.grad)}
        if b is not None:
            arrays["b"] = arr(b)
            arrays["gb"] = arr(b.grad)
        cases.append({
            "name": name,
            "opts": {"stride": s, "padding": p, "dilation": d, "groups": g, "act": act},
            "arrays": arrays,
        })
    return cases


def bn_cases(gen):
    # name, shape, training, act, affine
    specs = [
        ("train", [4, 3, 5, 6], True, "none", True),
        ("train_relu", [2, 4, 3, 5], True, "relu", True),
        ("train_batch8_small", [8, 4, 2, 3], True, "none", True),
        ("train_no_affine", [3, 2, 4, 4], True, "none", False),
        ("eval", [2, 3, 4, 5], False, "none", True),
        ("eval_relu", [2, 3, 3, 3], False, "relu", True),
    ]
    cases = []
    for name, shape, training, act, affine in specs:
        c = shape[1]
        x = leaf(shape, gen, -2.0, 3.0)
        w = leaf([c], gen, 0.5, 1.5) if affine else None
        b = leaf([c], gen) if affine else None
        rm = torch.rand([c], generator=gen) - 0.5
        rv = torch.rand([c], generator=gen) + 0.5
        rm0, rv0 = rm.clone(), rv.clone()
        y = F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.1, eps=1e-5)
        if act == "relu":
            y = F.relu(y)
        gy = torch.randn(y.shape, generator=gen)
        (y * gy).sum().backward()
        arrays = {
            "x": arr(x), "running_mean": arr(rm0), "running_var": arr(rv0),
            "y": arr(y), "gy": arr(gy), "gx": arr(x.grad),
            "running_mean_after": arr(rm), "running_var_after": arr(rv),
        }
        if affine:
            arrays.update({"w": arr(w), "b": arr(b), "gw": arr(w.grad), "gb": arr(b.grad)})
        cases.append({"name": name, "opts": {"training": training, "act": act, "momentum": 0.1, "eps": 1e-5},
                      "arrays": arrays})
    return cases


def gn_cases(gen):
    specs = [
        ("g4", [2, 8, 5, 4], 4, True),
        ("g32_c64", [1, 64, 3, 3], 32, True),
        ("g2_no_affine", [3, 4, 3, 2], 2, False),
    ]
    cases = []
    for name, shape, groups, affine in specs:
        c = shape[1]
        x = leaf(shape, gen, -2.0, 2.0)
        w = leaf([c], gen, 0.5, 1.5) if affine else None
        b = leaf([c], gen) if affine else None
        y = F.group_norm(x, groups, w, b, eps=1e-5)
        gy = torch.randn(y.shape, generator=gen)
        (y * gy).sum().backward()
        arrays = {"x": arr(x), "y": arr(y), "gy": arr(gy), "gx": arr(x.grad)}
        if affine:
            arrays.update({"w": arr(w), "b": arr(b), "gw": arr(w.grad), "gb": arr(b.grad)})
        cases.append({"name": name, "opts": {"groups": groups, "eps": 1e-5}, "arrays": arrays})
    return cases


def pool_cases(gen):
    specs = [
        ("k3_s2_p1", [2, 3, 9, 10], 3, 2, 1, False),
        ("k3_s2_p1_even", [1, 2, 8, 8], 3, 2, 1, False),
        ("k3_s2_ceil", [1, 2, 8, 9], 3, 2, 0, True),
        ("k2_s2", [2, 2, 5, 6], 2, 2, 0, False),
        ("map_1x1", [2, 3, 1, 1], 3, 2, 1, False),
    ]
    cases = []
    for name, shape, k, s, p, ceil in specs:
        x = leaf(shape, gen)
        y = F.max_pool2d(x, k, s, p, ceil_mode=ceil)
        gy = torch.randn(y.shape, generator=gen)
        (y * gy).sum().backward()
        cases.append({"name": name, "opts": {"kernelSize": k, "stride": s, "padding": p, "ceilMode": ceil},
                      "arrays": {"x": arr(x), "y": arr(y), "gy": arr(gy), "gx": arr(x.grad)}})
    return cases


def interp_cases(gen):
    specs = [
        ("size_7x9", [2, 3, 4, 5], {"size": [7, 9]}),
        ("scale2", [1, 2, 3, 4], {"scaleFactor": 2}),
        ("size_x2", [1, 2, 4, 5], {"size": [8, 10]}),
        ("size_down", [1, 2, 5, 7], {"size": [2, 3]}),
        ("scale1_5", [1, 2, 4, 6], {"scaleFactor": 1.5}),
    ]
    cases = []
    for name, shape, o in specs:
        x = leaf(shape, gen)
        if "size" in o:
            y = F.interpolate(x, size=tuple(o["size"]), mode="nearest")
        else:
            y = F.interpolate(x, scale_factor=o["scaleFactor"], mode="nearest")
        gy = torch.randn(y.shape, generator=gen)
        (y * gy).sum().backward()
        cases.append({"name": name, "opts": o,
                      "arrays": {"x": arr(x), "y": arr(y), "gy": arr(gy), "gx": arr(x.grad)}})
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20240607)
    files = {
        "conv2d.json": conv_cases(gen),
        "batch_norm.json": bn_cases(gen),
        "group_norm.json": gn_cases(gen),
        "max_pool.json": pool_cases(gen),
        "interpolate.json": interp_cases(gen),
    }
    for fname, cases in files.items():
        path = os.path.join(OUT, fname)
        with open(path, "w") as f:
            json.dump({"generator": "tools/gen_conv_fixtures.py", "torch": torch.__version__, "cases": cases},
                      f, separators=(",", ":"))
            f.write("\n")
        print(f"{path}: {len(cases)} cases, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
