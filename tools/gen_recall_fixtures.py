#!/usr/bin/env python3
"""Generates tests/fixtures/evaluation/recall_cases.json: proposal-recall cases with

- `eval_recalls`: recalls as mmdetection v2.25's `eval_recalls` defines them (numpy, float32 IoUs
  from mmdet's numpy `bbox_overlaps`, proposals sorted by score, greedy highest-IoU matching of
  gts to proposals), written here from that definition; and
- `proposal`: the 12 stats of pycocotools' COCOeval with `params.useCats = 0` and
  `maxDets = proposal_nums`, which is mmdetection's `proposal` metric (category 1 for every
  proposal). pycocotools is loaded as tools/gen_coco_eval_fixtures.py does (PYCOCOTOOLS_SRC
  pointing at cocoapi's PythonAPI modules where the package is not installed).

Usage:
    PYCOCOTOOLS_SRC=/tmp/pycoco PYCOCOTOOLS_REV=cocoapi@8c9bcc3 python3 tools/gen_recall_fixtures.py
"""
import contextlib
import copy
import importlib.util
import io
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "evaluation", "recall_cases.json")


def overlaps(a, b, legacy):
    """mmdet.core.evaluation.bbox_overlaps (mode iou), float32."""
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    extra = np.float32(1.0 if legacy else 0.0)
    out = np.zeros((a.shape[0], b.shape[0]), dtype=np.float32)
    if a.shape[0] * b.shape[0] == 0:
        return out
    area_a = (a[:, 2] - a[:, 0] + extra) * (a[:, 3] - a[:, 1] + extra)
    area_b = (b[:, 2] - b[:, 0] + extra) * (b[:, 3] - b[:, 1] + extra)
    for i in range(a.shape[0]):
        x1 = np.maximum(a[i, 0], b[:, 0])
        y1 = np.maximum(a[i, 1], b[:, 1])
        x2 = np.minimum(a[i, 2], b[:, 2])
        y2 = np.minimum(a[i, 3], b[:, 3])
        w = np.maximum(x2 - x1 + extra, 0)
        h = np.maximum(y2 - y1 + extra, 0)
        inter = w * h
        union = np.maximum(area_a[i] + area_b - inter, np.float32(1e-6))
        out[i, :] = inter / union
    return out


def recalls_of(gts, props, nums, thrs, legacy):
    per_img = []
    for g, p in zip(gts, props):
        if p.shape[1] == 5:
            p = p[np.argsort(p[:, 4], kind="stable")[::-1]]
        k = min(p.shape[0], nums[-1])
        per_img.append(overlaps(g, p[:k, :4], legacy) if g.shape[0] else np.zeros((0, k), np.float32))
    total = sum(m.shape[0] for m in per_img)
    best = np.zeros((len(nums), total), dtype=np.float32)
    for n_i, n in enumerate(nums):
        vals = []
        for m in per_img:
            m = m[:, :n].copy()
            got = np.zeros(m.shape[0], dtype=np.float32)
            if m.size:
                for j in range(m.shape[0]):
                    arg = m.argmax(axis=1)
                    mx = m[np.arange(m.shape[0]), arg]
                    gi = mx.argmax()
                    got[j] = mx[gi]
                    m[gi, :] = -1
                    m[:, arg[gi]] = -1
            vals.append(got)
        best[n_i] = np.concatenate(vals) if vals else np.zeros(0, np.float32)
    rec = np.zeros((len(nums), len(thrs)))
    for t_i, t in enumerate(thrs):
        rec[:, t_i] = (best >= t).sum(axis=1) / float(total)
    return rec


def random_images(rng, n_img, max_gt, max_prop, W=320, H=240):
    gts, props = [], []
    for i in range(n_img):
        g = []
        for _ in range(rng.randint(0, max_gt + 1)):
            w, h = rng.uniform(8, 120), rng.uniform(8, 120)
            x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
            g.append([x, y, x + w, y + h])
        p = []
        for _ in range(rng.randint(0, max_prop + 1)):
            if g and rng.uniform() < 0.6:
                b = np.array(g[rng.randint(len(g))])
                wh = np.array([b[2] - b[0], b[3] - b[1]] * 2)
                b = b + rng.normal(0, 0.15, 4) * wh
            else:
                w, h = rng.uniform(4, 150), rng.uniform(4, 150)
                x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
                b = np.array([x, y, x + w, y + h])
            x1, x2 = sorted([b[0], b[2]])
            y1, y2 = sorted([b[1], b[3]])
            p.append([x1, y1, x2 + 0.5, y2 + 0.5, rng.uniform()])
        gts.append(np.array(g, dtype=np.float32).reshape(-1, 4))
        props.append(np.array(p, dtype=np.float32).reshape(-1, 5))
    return gts, props


def load_pycoco():
    spec = importlib.util.spec_from_file_location("gen_coco", os.path.join(HERE, "gen_coco_eval_fixtures.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.load_pycocotools()


def proposal_case(COCO, COCOeval, rng, n_img, n_cat, nums):
    W, H = 320, 240
    images = [{"id": i + 1, "file_name": "%d.png" % (i + 1), "width": W, "height": H} for i in range(n_img)]
    cats = [{"id": k + 1, "name": "c%d" % k} for k in range(n_cat)]
    anns, dets = [], []
    aid = 1
    for im in images:
        for _ in range(rng.randint(0, 6)):
            w, h = rng.uniform(4, 150), rng.uniform(4, 150)
            x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
            bb = [round(x, 2), round(y, 2), round(w, 2), round(h, 2)]
            anns.append({"id": aid, "image_id": im["id"], "category_id": cats[rng.randint(n_cat)]["id"],
                         "bbox": bb, "area": round(w * h, 2), "iscrowd": int(rng.uniform() < 0.1)})
            aid += 1
            for _ in range(rng.randint(0, 4)):
                j = rng.normal(0, 0.15, 4) * [w, h, w, h]
                dets.append({"image_id": im["id"], "category_id": 1,
                             "bbox": [round(bb[0] + j[0], 2), round(bb[1] + j[1], 2),
                                      round(max(bb[2] + j[2], 1), 2), round(max(bb[3] + j[3], 1), 2)],
                             "score": round(float(rng.uniform()), 4)})
        for _ in range(rng.randint(0, 8)):
            w, h = rng.uniform(4, 150), rng.uniform(4, 150)
            dets.append({"image_id": im["id"], "category_id": 1,
                         "bbox": [round(rng.uniform(0, W - w), 2), round(rng.uniform(0, H - h), 2),
                                  round(w, 2), round(h, 2)], "score": round(float(rng.uniform()), 4)})
    gt = {"images": images, "categories": cats, "annotations": anns}
    coco_gt = COCO()
    coco_gt.dataset = copy.deepcopy(gt)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(dets))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.useCats = 0
        ev.params.maxDets = list(nums)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"gt": gt, "dets": dets, "maxDets": list(nums), "stats": [float(s) for s in ev.stats]}


def main():
    rng = np.random.RandomState(20261203)
    thr10 = list(np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True))
    recall_cases = []
    for name, n_img, max_gt, max_prop, nums, thrs, legacy in [
        ("few_proposals", 6, 5, 4, [1, 2, 4], [0.5], False),
        ("coco_thresholds", 12, 8, 40, [5, 10, 30], thr10, False),
        ("legacy_voc", 10, 6, 25, [3, 10, 20], [0.5, 0.7], True),
        ("many_gts", 4, 30, 12, [4, 8, 12], thr10, False),
    ]:
        gts, props = random_images(rng, n_img, max_gt, max_prop)
        rec = recalls_of(gts, props, nums, np.array(thrs), legacy)
        recall_cases.append({
            "name": name,
            "gts": [g.reshape(-1).tolist() for g in gts],
            "proposals": [p.reshape(-1).tolist() for p in props],
            "proposal_nums": nums,
            "iou_thrs": [float(t) for t in thrs],
            "legacy": legacy,
            "recalls": rec.tolist(),
            "ar": rec.mean(axis=1).tolist(),
        })
    COCO, COCOeval, how = load_pycoco()
    proposal_cases = [proposal_case(COCO, COCOeval, rng, 8, 3, [3, 5, 10]),
                      proposal_case(COCO, COCOeval, rng, 10, 2, [1, 4, 20])]
    out = {
        "generator": "tools/gen_recall_fixtures.py",
        "pycocotools": how,
        "eval_recalls": recall_cases,
        "proposal": proposal_cases,
    }
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote", OUT, os.path.getsize(OUT), "bytes;", how)


if __name__ == "__main__":
    main()
