#!/usr/bin/env python3
"""Generates tests/fixtures/evaluation/coco_eval_cases.json: COCO box-evaluation cases with the
numbers pycocotools' COCOeval computes for them (the 12 stats, the printed summary and the
per-category AP that mmdet's `classwise` reports).

Usage:
    python3 tools/gen_coco_eval_fixtures.py            # needs an importable pycocotools

pycocotools' C extension (`pycocotools._mask`) is only used here for box IoU. Where it cannot
be built or installed (no PyPI access), point PYCOCOTOOLS_SRC at a folder holding the pure
Python modules `pycocotools/coco.py` and `pycocotools/cocoeval.py` of cocodataset/cocoapi;
PYCOCOTOOLS_REV names their revision in the fixture; this script then supplies
`pycocotools.mask.iou` for boxes itself (written from the published
definition: intersection over union of [x, y, w, h] boxes, or over the detection's own area
when the ground truth is a crowd region) and stubs matplotlib, which coco.py imports for
drawing only. The fixture records which path produced it.
"""
import contextlib
import copy
import io
import json
import os
import sys
import types

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "evaluation",
                   "coco_eval_cases.json")


def _box_iou(dets, gts, iscrowd):
    """IoU matrix [len(dets), len(gts)] for [x, y, w, h] boxes; crowd gt → inter / det area."""
    if len(dets) == 0 or len(gts) == 0:
        return []
    d = np.asarray(dets, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(gts, dtype=np.float64).reshape(-1, 4)
    out = np.zeros((len(d), len(g)), dtype=np.float64)
    for a in range(len(d)):
        for b in range(len(g)):
            w = min(d[a, 0] + d[a, 2], g[b, 0] + g[b, 2]) - max(d[a, 0], g[b, 0])
            h = min(d[a, 1] + d[a, 3], g[b, 1] + g[b, 3]) - max(d[a, 1], g[b, 1])
            if w <= 0 or h <= 0:
                continue
            inter = w * h
            da = d[a, 2] * d[a, 3]
            union = da if iscrowd[b] else da + g[b, 2] * g[b, 3] - inter
            out[a, b] = inter / union
    return out


def load_pycocotools():
    src = os.environ.get("PYCOCOTOOLS_SRC")
    if src:
        sys.path.insert(0, src)
    how = "pycocotools (installed, C mask extension)"
    try:
        import pycocotools._mask  # noqa: F401
    except Exception:
        rev = os.environ.get("PYCOCOTOOLS_REV", "unknown revision")
        how = "pycocotools coco.py/cocoeval.py (%s) with this script's box IoU in place of the C mask extension" % rev
        mask = types.ModuleType("pycocotools.mask")
        mask.iou = _box_iou
        sys.modules["pycocotools.mask"] = mask
        for name in ["matplotlib", "matplotlib.pyplot", "matplotlib.collections", "matplotlib.patches"]:
            if name not in sys.modules:
                try:
                    __import__(name)
                except Exception:
                    m = types.ModuleType(name)
                    m.PatchCollection = m.Polygon = m.use = object
                    sys.modules[name] = m
        import pycocotools
        pycocotools.mask = mask
    if not hasattr(np, "float"):
        np.float = float  # old cocoeval.py spells float64 this way
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    return COCO, COCOeval, how


def run_case(COCO, COCOeval, gt, dets, params):
    coco_gt = COCO()
    coco_gt.dataset = copy.deepcopy(gt)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(dets))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        if "maxDets" in params:
            ev.params.maxDets = list(params["maxDets"])
        if "catIds" in params:
            ev.params.catIds = list(params["catIds"])
        if "imgIds" in params:
            ev.params.imgIds = list(params["imgIds"])
        ev.evaluate()
        ev.accumulate()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ev.summarize()
    lines = [ln for ln in buf.getvalue().splitlines() if ln.startswith(" Average")]
    precision = ev.eval["precision"]
    per_cat = []
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        ap = float(np.mean(p)) if p.size else None
        per_cat.append({"category_id": int(cat_id), "ap": ap})
    return {"stats": [float(s) for s in ev.stats], "lines": lines, "per_category": per_cat}


def xywh(x1, y1, x2, y2):
    return [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]


def make_random_case(rng, n_img, n_cat, crowd_rate, fp_per_img, score_decimals, max_gt=8, img_wh=(320, 240)):
    W, H = img_wh
    images = [{"id": i + 1, "file_name": "%06d.png" % (i + 1), "width": W, "height": H} for i in range(n_img)]
    cats = [{"id": 2 * k + 1, "name": "c%d" % k} for k in range(n_cat)]
    anns, dets = [], []
    aid = 1
    for im in images:
        n_gt = rng.randint(0, max_gt + 1)
        for _ in range(n_gt):
            side = float(np.exp(rng.uniform(np.log(6), np.log(160))))
            w = side * rng.uniform(0.6, 1.4)
            h = side * rng.uniform(0.6, 1.4)
            x = rng.uniform(0, W - min(w, W - 1))
            y = rng.uniform(0, H - min(h, H - 1))
            w = min(w, W - x)
            h = min(h, H - y)
            cat = cats[rng.randint(n_cat)]["id"]
            crowd = int(rng.uniform() < crowd_rate)
            area = w * h * (rng.uniform(0.5, 1.0) if rng.uniform() < 0.5 else 1.0)
            bb = [round(x, 2), round(y, 2), round(w, 2), round(h, 2)]
            anns.append({"id": aid, "image_id": im["id"], "category_id": cat, "bbox": bb, "area": round(area, 3),
                         "iscrowd": crowd})
            aid += 1
            # detections near this gt: 0–3 jittered copies, sometimes with the wrong class
            for _ in range(rng.randint(0, 4)):
                j = rng.normal(0, 0.12, size=4) * [w, h, w, h]
                dcat = cat if rng.uniform() < 0.85 else cats[rng.randint(n_cat)]["id"]
                score = round(float(rng.uniform(0.05, 1.0)), score_decimals)
                dets.append({"image_id": im["id"], "category_id": dcat,
                             "bbox": [round(bb[0] + j[0], 2), round(bb[1] + j[1], 2),
                                      round(max(bb[2] + j[2], 0.5), 2), round(max(bb[3] + j[3], 0.5), 2)],
                             "score": score})
        for _ in range(rng.randint(0, fp_per_img + 1)):
            w, h = rng.uniform(4, 120), rng.uniform(4, 120)
            dets.append({"image_id": im["id"], "category_id": cats[rng.randint(n_cat)]["id"],
                         "bbox": [round(rng.uniform(0, W - w), 2), round(rng.uniform(0, H - h), 2), round(w, 2),
                                  round(h, 2)],
                         "score": round(float(rng.uniform(0.0, 1.0)), score_decimals)})
    return {"images": images, "categories": cats, "annotations": anns}, dets


def hand_cases():
    """Small cases whose key numbers are derived by hand in tests/evaluation/coco_eval_test.ts."""
    img = lambda i: {"id": i, "file_name": "%d.png" % i, "width": 200, "height": 200}
    out = []

    # perfect: one 40x40 box (area 1600: medium) found exactly → every AP/AR with gt is 1, small/large are -1
    gt = {"images": [img(1)], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40], "area": 1600,
                           "iscrowd": 0}]}
    out.append(("perfect_single", "one medium box detected exactly", gt,
                [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40], "score": 0.9}], {}))

    # half_iou: det shifted so IoU = 0.6 (matches at t = .50, .55 only) plus a higher-scored FP
    gt2 = copy.deepcopy(gt)
    out.append(("shifted_and_fp", "IoU 0.6 match below a higher-scored false positive", gt2, [
        {"image_id": 1, "category_id": 1, "bbox": [100, 100, 40, 40], "score": 0.95},
        {"image_id": 1, "category_id": 1, "bbox": [20, 10, 40, 40], "score": 0.5},
    ], {}))

    # crowd: a crowd region absorbs two detections (ignored, not FPs); one regular box is found
    gt3 = {"images": [img(1)], "categories": [{"id": 1, "name": "a"}], "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "area": 10000, "iscrowd": 1},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [120, 120, 50, 50], "area": 2500, "iscrowd": 0},
    ]}
    out.append(("crowd_absorbs", "two detections inside a crowd region are ignored", gt3, [
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [50, 50, 20, 20], "score": 0.8},
        {"image_id": 1, "category_id": 1, "bbox": [120, 120, 50, 50], "score": 0.7},
    ], {}))

    # ties: two images, equal scores; the FP on image 1 comes first in stable order
    gt4 = {"images": [img(1), img(2)], "categories": [{"id": 1, "name": "a"}], "annotations": [
        {"id": 1, "image_id": 2, "category_id": 1, "bbox": [10, 10, 40, 40], "area": 1600, "iscrowd": 0},
    ]}
    out.append(("tied_scores", "a tied FP on an earlier image ranks before the TP", gt4, [
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40], "score": 0.5},
        {"image_id": 2, "category_id": 1, "bbox": [10, 10, 40, 40], "score": 0.5},
    ], {}))
    return out


def main():
    COCO, COCOeval, how = load_pycocotools()
    cases = []
    for name, desc, gt, dets, params in hand_cases():
        cases.append({"name": name, "description": desc, "gt": gt, "dets": dets, "params": params})

    rng = np.random.RandomState(20240601)
    gt, dets = make_random_case(rng, 12, 3, 0.1, 3, 2)
    cases.append({"name": "random_small", "description": "12 images, 3 classes, crowd, FPs, 2-decimal scores (ties)",
                  "gt": gt, "dets": dets, "params": {}})

    gt, dets = make_random_case(rng, 30, 5, 0.08, 6, 1, max_gt=12)
    # images without detections and images without gt: drop all dets of 4 images, add 3 empty images with FPs
    gt["images"] += [{"id": 1000 + i, "file_name": "e%d.png" % i, "width": 320, "height": 240} for i in range(3)]
    dets = [d for d in dets if d["image_id"] not in (2, 5, 7, 11)]
    for i in range(3):
        dets.append({"image_id": 1000 + i, "category_id": 1, "bbox": [5.0, 5.0, 30.0, 30.0], "score": 0.9})
    cases.append({"name": "random_empty_images", "description":
                  "30 images, 5 classes, 1-decimal scores (many ties), images without dets and without gt",
                  "gt": gt, "dets": dets, "params": {}})

    # more than 100 detections per image
    gt, dets = make_random_case(rng, 4, 2, 0.0, 0, 3, max_gt=20)
    for im in gt["images"]:
        for j in range(130):
            w, h = rng.uniform(5, 90), rng.uniform(5, 90)
            dets.append({"image_id": im["id"], "category_id": gt["categories"][0 if j < 110 else 1]["id"],
                         "bbox": [round(rng.uniform(0, 320 - w), 1), round(rng.uniform(0, 240 - h), 1), round(w, 1),
                                  round(h, 1)], "score": round(float(rng.uniform(0, 0.6)), 3)})
    cases.append({"name": "many_dets", "description": ">100 detections per image for one class (maxDets cut)",
                  "gt": gt, "dets": dets, "params": {}})
    cases.append({"name": "many_dets_mmdet", "description": "same, with mmdet's maxDets [100, 300, 1000]",
                  "gt": gt, "dets": dets, "params": {"maxDets": [100, 300, 1000]}})

    gt, dets = make_random_case(rng, 15, 4, 0.05, 4, 2)
    gt["categories"].append({"id": 99, "name": "unused"})
    dets.append({"image_id": 1, "category_id": 99, "bbox": [1.0, 1.0, 10.0, 10.0], "score": 0.3})
    cases.append({"name": "subset_params", "description": "catIds/imgIds subsets and a category without gt",
                  "gt": gt, "dets": dets, "params": {"catIds": [1, 3, 99], "imgIds": list(range(1, 12))}})

    for c in cases:
        c["expected"] = run_case(COCO, COCOeval, c["gt"], c["dets"], c["params"])
    with open(OUT, "w") as f:
        json.dump({"generator": "tools/gen_coco_eval_fixtures.py", "oracle": how, "cases": cases}, f)
        f.write("\n")
    print("wrote %s: %d cases (%s)" % (OUT, len(cases), how))


if __name__ == "__main__":
    main()
