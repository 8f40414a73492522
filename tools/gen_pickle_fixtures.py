"""Fixtures of tests/utils/pickle_test.ts: mmdetection-style results.pkl files written by Python
(protocol 2, as mmcv.dump does, protocol 4, pickle's default, and protocol 5, numpy's
_frombuffer form) from results.json, and a check
that wgdet's own results.pkl (written by lib/apis/results_io.ts) loads with pickle.load as a list
per image of float32 [k, 5] numpy arrays equal to results.json.

Run: /usr/bin/python3 tools/gen_pickle_fixtures.py
"""
import json
import os
import pickle

import numpy as np

HERE = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "pickle")

with open(os.path.join(HERE, "results.json")) as f:
    nested = json.load(f)
results = [[np.array(c, dtype=np.float32).reshape(-1, 5) for c in im] for im in nested]

for proto, name in [(2, "mmdet_p2.pkl"), (4, "mmdet_p4.pkl"), (5, "mmdet_p5.pkl")]:
    with open(os.path.join(HERE, name), "wb") as f:
        pickle.dump(results, f, protocol=proto)

with open(os.path.join(HERE, "wgdet_results.pkl"), "rb") as f:
    ours = pickle.load(f)
checks = []
assert isinstance(ours, list) and len(ours) == len(results)
for i, (a, b) in enumerate(zip(ours, results)):
    assert isinstance(a, list) and len(a) == len(b), i
    for c, (x, y) in enumerate(zip(a, b)):
        assert type(x) is np.ndarray, (i, c, type(x))
        assert x.dtype == np.float32 and x.shape == y.shape, (i, c, x.dtype, x.shape)
        assert np.array_equal(x, y), (i, c)
        checks.append(f"image {i} class {c}: ndarray float32 {tuple(x.shape)}")
with open(os.path.join(HERE, "wgdet_results_check.txt"), "w") as f:
    f.write(f"pickle.load of wgdet_results.pkl with numpy {np.__version__}: equal to results.json\n")
    f.write("\n".join(checks) + "\n")
print("ok:", len(checks), "arrays")
