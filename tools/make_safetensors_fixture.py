"""Writes tests/fixtures/utils/python_written.safetensors by hand, the way the reference
`safetensors` Python package serialises (it is not installable here): tensors sorted by dtype
alignment (largest first) then by name, compact JSON header with __metadata__ first, padded with
spaces to a multiple of 8, 8-byte little-endian header length in front.

Run: python3 tools/make_safetensors_fixture.py
"""
import json
import struct
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests/fixtures/utils/python_written.safetensors"

# name -> (dtype, shape, struct format, values)
TENSORS = {
    "backbone.conv1.weight": ("F32", [2, 1, 2, 2], "f", [0.5 * i - 1.0 for i in range(8)]),
    "backbone.bn1.num_batches_tracked": ("I64", [], "q", [7]),
    "bbox_head.retina_cls.bias": ("F32", [3], "f", [-4.59511985013459, 0.0, 1.5]),
    "labels": ("I32", [2, 2], "i", [1, -2, 3, -4]),
    "mask": ("U8", [3], "B", [0, 1, 255]),
}
ALIGN = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "U8": 1}


def main():
    order = sorted(TENSORS, key=lambda n: (-ALIGN[TENSORS[n][0]], n))
    header = {"__metadata__": {"format": "pt", "note": "written by hand in Python"}}
    blobs = []
    offset = 0
    for name in order:
        dtype, shape, fmt, values = TENSORS[name]
        data = struct.pack("<" + fmt * len(values), *values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
