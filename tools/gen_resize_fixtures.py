#!/usr/bin/python3
"""Generates tests/fixtures/datasets/resize_cv2.json: uint8 and float32 images resized with
OpenCV's cv2.resize(INTER_LINEAR), the reference for lib/datasets/pipelines/geometric.ts, and
one image normalised the way mmcv's imnormalize does it with OpenCV (float32 image, BGR→RGB,
cv2.subtract of the float64 mean, cv2.multiply by 1 / std), the reference for Normalize.

Usage (Debian: apt-get install python3-opencv):
    /usr/bin/python3 tools/gen_resize_fixtures.py
"""
import base64
import json
import os

import cv2
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "datasets",
                   "resize_cv2.json")


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def main():
    rng = np.random.RandomState(7)
    cases = []
    # (h, w, c) -> (new_w, new_h); 48x36 -> 80x60 has the 640x480 -> 1067x800 ratio 5/3
    shapes = [((36, 48, 3), (80, 60)), ((30, 40, 3), (67, 50)), ((23, 17, 3), (9, 10)), ((5, 7, 1), (13, 11)),
              ((20, 30, 3), (19, 31)), ((16, 16, 3), (8, 8)), ((9, 12, 3), (12, 9)), ((1, 6, 3), (4, 3))]
    for (h, w, c), (nw, nh) in shapes:
        img = rng.randint(0, 256, size=(h, w, c)).astype(np.uint8)
        # smooth part so that interpolation errors are visible, not only noise
        yy, xx = np.mgrid[0:h, 0:w]
        img[..., 0] = ((xx * 255) // max(w - 1, 1)).astype(np.uint8)
        out = cv2.resize(img if c > 1 else img[..., 0], (nw, nh), interpolation=cv2.INTER_LINEAR)
        out = out.reshape(nh, nw, c)
        cases.append({"dtype": "uint8", "shape": [h, w, c], "size": [nw, nh], "input": b64(img), "output": b64(out)})
    for (h, w, c), (nw, nh) in shapes[2:5]:
        img = rng.uniform(-2, 2, size=(h, w, c)).astype(np.float32)
        out = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR).reshape(nh, nw, c)
        cases.append({"dtype": "float32", "shape": [h, w, c], "size": [nw, nh], "input": b64(img),
                      "output": b64(out.astype(np.float32))})
    img = rng.randint(0, 256, size=(6, 5, 3)).astype(np.uint8)
    mean = np.array([123.675, 116.28, 103.53], dtype=np.float32)
    std = np.array([58.395, 57.12, 57.375], dtype=np.float32)
    x = img.copy().astype(np.float32)
    m = np.float64(mean.reshape(1, -1))
    stdinv = 1 / np.float64(std.reshape(1, -1))
    cv2.cvtColor(x, cv2.COLOR_BGR2RGB, x)
    cv2.subtract(x, m, x)
    cv2.multiply(x, stdinv, x)
    normalize = {"shape": [6, 5, 3], "mean": mean.tolist(), "std": std.tolist(), "input": b64(img), "output": b64(x)}
    with open(OUT, "w") as f:
        json.dump({"generator": "tools/gen_resize_fixtures.py", "opencv": cv2.__version__, "cases": cases,
                   "normalize": normalize}, f)
        f.write("\n")
    print("wrote", OUT, len(cases), "cases, OpenCV", cv2.__version__)


if __name__ == "__main__":
    main()
