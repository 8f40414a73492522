"""Writes tests/fixtures/utils/half_weights.safetensors (F16, BF16 and F64 tensors, laid out as the
reference `safetensors` package does) and half_weights_expected.json: the float32 values PyTorch's
`.float()` gives for each tensor, the oracle for wgdet's conversion on load.

Run: python3 tools/gen_half_safetensors_fixture.py
"""
import json
import struct
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent / "tests/fixtures/utils"


def main():
    g = torch.Generator().manual_seed(0)
    special = [1.0, -2.5, 0.0, -0.0, 65504.0, 6.1e-5, 5.96e-8, 1e-6, 3.14159, -1024.5]
    base = torch.tensor(special + (torch.randn(22, generator=g) * 3).tolist())
    tensors = {
        "backbone.conv1.weight": base.to(torch.float16).reshape(2, 4, 2, 2),
        "bbox_head.retina_cls.bias": (torch.randn(6, generator=g) * 100).to(torch.bfloat16),
        "neck.lateral.weight": torch.tensor([1e-3, 2.0, -7.25, 1e30], dtype=torch.float64),
    }
    code = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64"}
    size = {torch.float16: 2, torch.bfloat16: 2, torch.float64: 8}
    order = sorted(tensors, key=lambda n: (-size[tensors[n].dtype], n))
    header = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name in order:
        t = tensors[name].contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if size[t.dtype] == 2 else t.numpy().tobytes()
        header[name] = {"dtype": code[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    (ROOT / "half_weights.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    expected = {k: [float(x) for x in v.float().flatten().tolist()] for k, v in tensors.items()}
    (ROOT / "half_weights_expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print("wrote", ROOT / "half_weights.safetensors")


if __name__ == "__main__":
    main()
