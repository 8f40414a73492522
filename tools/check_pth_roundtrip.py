"""Checks by hand that PyTorch loads the .pth files wgdet writes, with weights_only=True.

For each fixture .pth: deno task convert IN -> a.safetensors -> b.pth, then torch.load(b.pth,
weights_only=True) must give the same keys, dtypes, shapes and values as torch.load(IN). Also
converts a wgdet model fixture (.safetensors, fp16/int64) to .pth and loads it into the plain-PyTorch
RetinaNet of tools/gen_model_fixtures.py with load_state_dict(strict=True).

Run: python3 tools/check_pth_roundtrip.py   (needs deno on PATH)
"""
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
FX = ROOT / "tests/fixtures/pth"


def convert(a, b):
    subprocess.run(["deno", "run", "-A", str(ROOT / "tools/convert.ts"), str(a), str(b)], check=True,
                   cwd=ROOT, stdout=subprocess.DEVNULL)


def sd_of(obj):
    return obj["state_dict"] if isinstance(obj, dict) and "state_dict" in obj else obj


def main():
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for name in ("state_dict_zip.pth", "state_dict_legacy.pth", "mmdet_ckpt.pth", "retinanet_tiny.pth"):
            convert(FX / name, d / "a.safetensors")
            convert(d / "a.safetensors", d / "b.pth")
            want = sd_of(torch.load(FX / name))
            got_obj = torch.load(d / "b.pth", weights_only=True)
            got = sd_of(got_obj)
            assert list(got) == list(want), name
            for k in want:
                w, g = want[k], got[k]
                assert g.dtype == w.dtype and g.shape == w.shape, (name, k, g.dtype, w.dtype)
                assert torch.equal(g, w.detach()), (name, k)
            if name == "mmdet_ckpt.pth":
                assert got_obj["meta"]["epoch"] == 3 and list(got_obj["meta"]["CLASSES"]) == ["cat", "dog"]
            print(f"{name}: torch.load(weights_only=True) of the round trip equals the original ({len(want)} tensors)")
        sys.path.insert(0, str(ROOT / "tools"))
        import gen_model_fixtures as gm
        convert(ROOT / "tests/fixtures/models/retinanet_r18_tiny.safetensors", d / "r18.pth")
        sd = {k: v for k, v in torch.load(d / "r18.pth", weights_only=True).items() if not k.startswith("_")}
        model = gm.RetinaNet(18, base_channels=8, fpn_out=16, num_classes=3, feat_channels=16)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=True)
        print(f"retinanet_r18_tiny.safetensors -> .pth loads into the PyTorch RetinaNet strictly ({len(sd)} keys)")
    print("OK")


if __name__ == "__main__":
    main()
