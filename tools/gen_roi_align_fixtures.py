#!/usr/bin/python3
"""Generates tests/fixtures/ops/roi_align.json: torchvision.ops.roi_align (mmcv RoIAlign's
semantics, pool_mode "avg") outputs and input-feature gradients, computed in float64 and stored
as float32, the reference for lib/ops/roi_align.ts.

Cases: RoIs inside, on the borders, partly and wholly outside the image, smaller than one bin,
zero-sized, reversed; sampling_ratio 0 (adaptive) and 2; aligned True (mmdetection's setting) and
one aligned=False case; and a multi-level case pooled as mmdetection v2.25's
SingleRoIExtractor (map_roi_levels, then one RoIAlign per level into one output).

Usage: /usr/bin/python3 tools/gen_roi_align_fixtures.py
"""
import json
import math
import os

import torch
import torchvision
from torchvision.ops import roi_align

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "ops",
                   "roi_align.json")


def arr(t, dtype="f32"):
    t = t.detach()
    data = t.to(torch.float32).reshape(-1).tolist() if dtype == "f32" else t.reshape(-1).tolist()
    return {"shape": list(t.shape), "dtype": dtype, "data": [float("%.9g" % v) for v in data]}


def rois_of(rows):
    return torch.tensor(rows, dtype=torch.float64)


def single_case(gen, name, n, c, h, w, rows, out, scale, sr, aligned):
    x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64).to(torch.float32).to(torch.float64)
    x.requires_grad_(True)
    rois = rois_of(rows).to(torch.float32).to(torch.float64)
    y = roi_align(x, rois, out, spatial_scale=scale, sampling_ratio=sr, aligned=aligned)
    gy = torch.randn(y.shape, generator=gen, dtype=torch.float64).to(torch.float32).to(torch.float64)
    (y * gy).sum().backward()
    return {"name": name, "opts": {"outputSize": list(out), "spatialScale": scale, "samplingRatio": sr,
                                   "aligned": aligned},
            "arrays": {"x": arr(x), "rois": arr(rois), "y": arr(y), "gy": arr(gy), "gx": arr(x.grad)}}


def map_roi_levels(rois, num_levels, finest_scale):
    # mmdetection v2.25 SingleRoIExtractor.map_roi_levels
    scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
    lv = torch.floor(torch.log2(scale / finest_scale + 1e-6))
    return lv.clamp(min=0, max=num_levels - 1).long()


def levels_case(gen):
    strides, finest, out = [1, 2, 4, 8], 3.0, (3, 3)
    n, c, size = 2, 2, 24
    feats = [torch.randn(n, c, size // s, size // s, generator=gen, dtype=torch.float64)
             .to(torch.float32).to(torch.float64).requires_grad_(True) for s in strides]
    rows = [[0, 1, 1, 5, 6], [1, 0, 0, 24, 24], [0, 3, 2, 20, 11], [1, 10, 10, 12, 12.5],
            [0, 2, 3, 18, 21], [1, 5.5, 0.25, 23, 9], [0, 0, 0, 8, 8], [1, 4, 4, 20, 20],
            [0, 12, 12, 15, 14], [-1, 0, 0, 0, 0], [1, 7, 7, 22, 23], [0, 0.5, 14, 9, 23.5]]
    rois = rois_of(rows).to(torch.float32).to(torch.float64)
    lv = map_roi_levels(rois, len(strides), finest)
    print("levels", lv.tolist())
    y = torch.zeros(len(rows), c, *out, dtype=torch.float64)
    for i, s in enumerate(strides):
        inds = ((lv == i) & (rois[:, 0] >= 0)).nonzero().squeeze(1)
        if inds.numel():
            y[inds] = roi_align(feats[i], rois[inds], out, spatial_scale=1.0 / s, sampling_ratio=0,
                                aligned=True)
    gy = torch.randn(y.shape, generator=gen, dtype=torch.float64).to(torch.float32).to(torch.float64)
    (y * gy).sum().backward()
    arrays = {"rois": arr(rois), "levels": arr(lv, "i32"), "y": arr(y), "gy": arr(gy)}
    for i, f in enumerate(feats):
        arrays[f"x{i}"] = arr(f)
        arrays[f"gx{i}"] = arr(f.grad)
    return {"name": "levels", "opts": {"outputSize": list(out), "spatialScales": [1.0 / s for s in strides],
                                       "finestScale": finest}, "arrays": arrays}


def main():
    gen = torch.Generator().manual_seed(13)
    h, w = 9, 11
    rows = [
        [0, 1.0, 1.5, 6.2, 7.9],      # inside
        [1, 0.0, 0.0, 11.0, 9.0],     # the whole image (borders)
        [0, -3.0, -2.0, 4.0, 3.0],    # partly outside top-left
        [1, 8.0, 6.0, 15.0, 14.0],    # partly outside bottom-right
        [0, -20.0, -20.0, -5.0, -6.0],  # wholly outside
        [1, 12.5, 2.0, 20.0, 5.0],    # wholly outside on the right
        [0, 4.2, 3.1, 4.5, 3.3],      # smaller than one bin
        [1, 5.0, 5.0, 5.0, 5.0],      # zero size
        [0, 10.0, 8.0, 11.0, 9.0],    # last pixel
        [1, 2.25, 0.75, 9.5, 2.0],    # flat
        [0, 6.0, 4.0, 3.0, 2.0],      # reversed
        [1, -0.9, -0.9, 0.4, 0.4],    # around the corner
    ]
    cases = [
        single_case(gen, "sr0_7x7", 2, 2, h, w, rows, (7, 7), 1.0, 0, True),
        single_case(gen, "sr2_7x7", 2, 2, h, w, rows, (7, 7), 1.0, 2, True),
        single_case(gen, "sr0_2x3_scale0.5", 2, 2, h, w, [[r[0]] + [2 * v for v in r[1:]] for r in rows],
                    (2, 3), 0.5, 0, True),
        single_case(gen, "sr2_3x2_notaligned", 2, 2, h, w, rows, (3, 2), 1.0, 2, False),
        single_case(gen, "sr0_large_rois", 1, 2, 16, 13, [[0, 0, 0, 13, 16], [0, 1, 2, 12.5, 15.5],
                                                           [0, 3.3, 0.1, 9.9, 6.6]], (7, 7), 1.0, 0, True),
    ]
    cases.append(levels_case(gen))
    with open(OUT, "w") as f:
        json.dump({"generator": "tools/gen_roi_align_fixtures.py", "torch": torch.__version__,
                   "torchvision": torchvision.__version__, "cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
