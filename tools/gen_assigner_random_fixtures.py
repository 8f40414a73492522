"""Random PyTorch oracle cases for MaxIoUAssigner and DeltaXYWHBBoxCoder.

Uses the plain-PyTorch `assign`, `encode`, `decode` of tools/gen_core_fixtures.py (loaded from
its file, not copied) and writes
  tests/fixtures/core/max_iou_assigner_random.json  (random assigner cases over the option space)
  tests/fixtures/core/delta_coder_random.json       (random encode / decode cases)
Numbers are written as the shortest decimal that reads back (double, then float32) to the
same float32, so the TS tests can compare float32 results exactly.

Run: /usr/bin/python3 tools/gen_assigner_random_fixtures.py
"""
import importlib.util
import json
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("gen_core_fixtures", os.path.join(HERE, "gen_core_fixtures.py"))
core = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(core)
OUT = os.path.join(HERE, "..", "tests", "fixtures", "core")


def f32num(v):
    """Shortest decimal whose double, rounded to float32, is float32 v (as JS Math.fround)."""
    x = np.float32(v)
    s = repr(float(x)) if x == 0 or not np.isfinite(x) else np.format_float_positional(x, unique=True, trim="-")
    if np.float32(float(s)) != x:
        s = repr(float(x))
    out = float(s)
    assert np.float32(out) == x
    return int(out) if out == int(out) and abs(out) < 2 ** 31 else out


def farr(t):
    t = torch.as_tensor(t).detach().float()
    return {"shape": list(t.shape), "dtype": "float32", "data": [f32num(v) for v in t.reshape(-1).tolist()]}


def iarr(t):
    t = torch.as_tensor(t).detach()
    return {"shape": list(t.shape), "dtype": "int64", "data": [int(v) for v in t.reshape(-1).tolist()]}


def write(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w") as fh:
        json.dump(obj, fh, separators=(",", ":"), allow_nan=False)
        fh.write("\n")
    size = os.path.getsize(path)
    assert size < 200_000, f"{name} is {size} bytes; keep fixtures under 200 KB"
    print(f"wrote {path} ({size} bytes)")


def boxes(g, n, size, min_wh, max_wh, grid):
    """Random boxes; off-grid ones snapped to 1/8 px (short numbers, ties still rare)."""
    b = core.rand_boxes(g, n, size=size, min_wh=min_wh, max_wh=max_wh, grid=grid)
    return b if grid > 0 else (b * 8).round() / 8


def rnd(g):
    return float(torch.rand(1, generator=g))


def gen_assigner():
    g = torch.Generator().manual_seed(2024)
    cases = []

    def add(name, bboxes, gts, labels, ignore, cfg):
        gi, mo, lb = core.assign(bboxes, gts, labels, gt_bboxes_ignore=ignore, **cfg)
        cases.append({"name": name, "cfg": cfg, "bboxes": farr(bboxes), "gt_bboxes": farr(gts),
                      "gt_labels": iarr(labels), "gt_bboxes_ignore": farr(ignore) if ignore is not None else None,
                      "gt_inds": iarr(gi), "max_overlaps": farr(mo), "labels": iarr(lb)})

    for t in range(170):
        grid = 4.0 if rnd(g) < 0.5 else 0.0  # grid-aligned boxes produce exact IoU ties
        n = int(torch.randint(1, 25, (1,), generator=g))
        k = int(torch.randint(0, 7, (1,), generator=g)) if t % 10 else 0
        bboxes = boxes(g, n, 48, 4, 28, grid)
        gts = boxes(g, k, 48, 2, 28, grid)
        labels = torch.randint(0, 80, (k,), generator=g)
        ignore = boxes(g, int(torch.randint(1, 3, (1,), generator=g)), 48, 8, 30, 0.0) if rnd(g) < 0.3 else None
        cfg = {
            "pos_iou_thr": [0.5, 0.4, 0.7][t % 3],
            "neg_iou_thr": [0.1, 0.3] if rnd(g) < 0.3 else [0.4, 0.3, 0.5][t % 3],
            "min_pos_iou": [0.0, 0.0, 0.1, 0.3][t % 4],
            "gt_max_assign_all": rnd(g) < 0.8,
            "match_low_quality": rnd(g) < 0.85,
            "ignore_iof_thr": [0.5, 0.3][t % 2] if ignore is not None else -1,
            "ignore_wrt_candidates": rnd(g) < 0.5,
        }
        add(f"random_{t}", bboxes, gts, labels, ignore, cfg)
    many_boxes = boxes(g, 64, 96, 8, 32, 4.0)
    many_gts = boxes(g, 400, 96, 2, 24, 2.0)
    many = {"pos_iou_thr": 0.5, "neg_iou_thr": 0.4, "min_pos_iou": 0.0, "gt_max_assign_all": True,
            "match_low_quality": True, "ignore_iof_thr": -1, "ignore_wrt_candidates": True}
    add("many_gts_400", many_boxes, many_gts, torch.arange(400) % 80, None, many)
    assert int(torch.tensor(cases[-1]["gt_inds"]["data"]).max()) > 256
    write("max_iou_assigner_random.json", {"cases": cases})


def gen_coder():
    g = torch.Generator().manual_seed(3)
    stds = (0.1, 0.1, 0.2, 0.2)
    anchors = boxes(g, 200, 64, 2, 80, 0.0)
    gts = boxes(g, 200, 64, 2, 80, 0.0)
    deltas = (torch.randn(200, 4, generator=g) * 2 * 64).round() / 64
    targets = core.encode(anchors, gts, stds=stds)
    write("delta_coder_random.json", {
        "stds": list(stds), "max_shape": [50, 60],
        "anchors": farr(anchors), "gts": farr(gts), "deltas": farr(deltas),
        "encode_std": farr(targets),
        "decode_std_clip": farr(core.decode(anchors, deltas, stds=stds, max_shape=(50, 60))),
    })


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    gen_assigner()
    gen_coder()
