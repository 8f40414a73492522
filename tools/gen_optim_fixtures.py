#!/usr/bin/env python3
"""Writes tests/fixtures/runner/optim.json: PyTorch SGD/AdamW trajectories and clip_grad_norm_
results that the fused WGSL optimizers must reproduce. Run: /usr/bin/python3 tools/gen_optim_fixtures.py"""
import json, os
import torch

torch.manual_seed(0)
out = {}

def arr(t):
    t = t.detach().float().contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.flatten().tolist()]}

p0 = [torch.randn(3, 4), torch.randn(5)]
grads = [[torch.randn(3, 4), torch.randn(5)] for _ in range(3)]
cases = {
    "sgd_momentum_wd": (torch.optim.SGD, dict(lr=0.01, momentum=0.9, weight_decay=1e-4)),
    "sgd_nesterov": (torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    "sgd_dampening": (torch.optim.SGD, dict(lr=0.1, momentum=0.5, dampening=0.3, weight_decay=0.01)),
    "sgd_plain": (torch.optim.SGD, dict(lr=0.1)),
    "adamw": (torch.optim.AdamW, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)),
}
for name, (cls, kw) in cases.items():
    ps = [p.clone().requires_grad_(True) for p in p0]
    opt = cls(ps, **kw)
    steps = []
    for g in grads:
        opt.zero_grad()
        for p, gi in zip(ps, g):
            p.grad = gi.clone()
        opt.step()
        steps.append([arr(p) for p in ps])
    out[name] = {"kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()}, "steps": steps}

out["init"] = [arr(p) for p in p0]
out["grads"] = [[arr(g) for g in gs] for gs in grads]

# clip_grad_norm_ with max_norm 35 (mmdet v1 setting) and a small max_norm that clips
for max_norm in (35.0, 1.5):
    ps = [p.clone().requires_grad_(True) for p in p0]
    for p, g in zip(ps, grads[0]):
        p.grad = g.clone() * 3
    total = torch.nn.utils.clip_grad_norm_(ps, max_norm=max_norm, norm_type=2)
    out[f"clip_{max_norm}"] = {"norm": float(total), "grads": [arr(p.grad) for p in ps]}

path = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "runner", "optim.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path)
