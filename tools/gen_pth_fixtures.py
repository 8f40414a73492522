"""Fixtures for wgdet's .pth reader (lib/utils/pth/), written with Debian's torch 1.13.

Writes into tests/fixtures/pth/:
  state_dict_zip.pth     torch.save(OrderedDict) in the zip format: f32 conv/bn tensors, int64
                         num_batches_tracked, fp16, bf16, fp64, int32, uint8, bool, a scalar, an
                         empty tensor, a transposed (strided) view, an offset view sharing a storage,
                         a tied weight (one tensor under two keys), an nn.Parameter.
  state_dict_legacy.pth  the same dict with _use_new_zipfile_serialization=False.
  state_dict_zip_deflate.pth  the zip re-packed with deflate entries (zipfile), same content.
  mmdet_ckpt.pth         {meta, state_dict (DDP "module." prefixes), optimizer} as mmcv saves it.
  expected.json          every tensor of the state dict: dtype, shape, values (as float64).
  evil_*.pth             refused files (see MALICIOUS below); none may run anything.
  retinanet_tiny.pth     torch.save(model.state_dict()) of a tiny ResNet-18-FPN-RetinaNet
                         (tools/gen_model_fixtures.py's mmdet-layout modules, base 2, FPN 8, head 8)
  retinanet_tiny_ref.safetensors   its input and PyTorch's eval outputs (neck, cls, reg per level)

Run: python3 tools/gen_pth_fixtures.py
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/fixtures/pth"
PWNED = "/tmp/wgdet_pth_pwned"


def state_dict():
    g = torch.Generator().manual_seed(15)
    sd = collections.OrderedDict()
    sd["conv1.weight"] = torch.randn(4, 3, 3, 3, generator=g)
    sd["bn1.weight"] = torch.rand(4, generator=g) + 0.5
    sd["bn1.bias"] = torch.randn(4, generator=g) * 0.1
    sd["bn1.running_mean"] = torch.randn(4, generator=g) * 0.1
    sd["bn1.running_var"] = torch.rand(4, generator=g) + 0.5
    sd["bn1.num_batches_tracked"] = torch.tensor(1234567890123, dtype=torch.int64)
    sd["half.weight"] = (torch.randn(2, 5, generator=g) * 3).half()
    sd["bf16.weight"] = (torch.randn(3, 2, generator=g) * 3).bfloat16()
    sd["f64.weight"] = torch.randn(3, generator=g, dtype=torch.float64) / 3
    sd["int32.index"] = torch.tensor([-7, 0, 2147483647], dtype=torch.int32)
    sd["uint8.mask"] = torch.tensor([0, 1, 255], dtype=torch.uint8)
    sd["bool.flag"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 3)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 7
    sd["strided.t"] = base.t()  # stride (1, 6): not contiguous
    sd["offset.view"] = base[1:3, 2:5]  # offset 8, stride (6, 1), shares base's storage
    sd["offset.base"] = base
    fc = torch.randn(3, 4, generator=g)
    sd["tied.a"] = fc
    sd["tied.b"] = fc  # the same tensor twice
    sd["param"] = torch.nn.Parameter(torch.tensor([[1.5, -2.0]]))
    return sd


def expected(sd):
    out = {}
    for k, v in sd.items():
        v = v.detach()
        dt = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
              torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}[v.dtype]
        vals = v.double().flatten().tolist() if v.dtype != torch.int64 else [str(x) for x in v.flatten().tolist()]
        out[k] = {"dtype": dt, "shape": list(v.shape), "values": vals}
    return out


def repack_deflate(src, dst):
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zo:
        for info in zi.infolist():
            zo.writestr(info.filename, zi.read(info.filename))


# ---- malicious files ---------------------------------------------------------------------------

class CallsSystem:
    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


class CallsEval:
    def __reduce__(self):
        import builtins
        return (builtins.eval, (f"open('{PWNED}', 'w')",))


class CallsPopen:
    def __reduce__(self):
        import subprocess
        return (subprocess.Popen, (["touch", PWNED],))


def zip_with_pickle(path, pkl, storages=None, name="archive"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{name}/data.pkl", pkl)
        for k, b in (storages or {}).items():
            z.writestr(f"{name}/data/{k}", b)
        z.writestr(f"{name}/version", "3\n")


class PidPickler(pickle.Pickler):
    """Pickles _rebuild_tensor_v2 calls with hand-chosen persistent ids."""

    def __init__(self, f, pid):
        super().__init__(f, protocol=2)
        self.pid = pid

    def persistent_id(self, obj):
        return self.pid if isinstance(obj, FakeStorage) else None


class FakeStorage:
    pass


class FakeTensor:
    def __init__(self, size, stride, offset=0):
        self.size, self.stride, self.offset = size, stride, offset

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2,
                (FakeStorage(), self.offset, self.size, self.stride, False, collections.OrderedDict()))


def fake_pkl(pid, tensor):
    f = io.BytesIO()
    PidPickler(f, pid).dump(collections.OrderedDict(w=tensor))
    return f.getvalue()


def bomb_laughs():
    # 40 levels of lists each holding its predecessor 10 times via the memo: 10^40 leaves if expanded
    b = bytearray(b"\x80\x02")
    b += b"]q\x00"  # empty list -> memo 0
    for i in range(1, 41):
        b += b"(" + (b"h" + bytes([i - 1])) * 10 + b"lq" + bytes([i])
    b += b"."
    return bytes(b)


def bomb_deep():
    # {"meta": OrderedDict([("k", OrderedDict([("k", ...)]))]) 12,000 levels deep, "state_dict": {}}:
    # 12,000 nested REDUCE calls of collections.OrderedDict
    n = 12_000
    b = bytearray(b"\x80\x02ccollections\nOrderedDict\nq\x000")
    b += b"}(X\x04\x00\x00\x00meta"
    for _ in range(n):
        b += b"h\x00]\x8c\x01k"
    b += b"N"
    b += b"\x86a\x85R" * n
    b += b"X\x0a\x00\x00\x00state_dict}u."
    return bytes(b)


def make_malicious():
    torch.save(CallsSystem(), OUT / "evil_os_system.pth")
    torch.save(CallsEval(), OUT / "evil_eval.pth")
    torch.save({"state_dict": {"w": torch.ones(1)}, "x": CallsPopen()}, OUT / "evil_popen.pth")
    # GLOBAL of an unknown module
    zip_with_pickle(OUT / "evil_unknown_module.pth", b"\x80\x02cwgdet_no_such_module\nmake_weights\n)R.")
    # a legacy-format file whose main object calls os.system
    with open(OUT / "evil_legacy_system.pth", "wb") as f:
        for v in (0x1950a86a20f9469cfc6c, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(v, f, protocol=2)
        pickle.dump(CallsSystem(), f, protocol=2)
        pickle.dump([], f, protocol=2)
    zip_with_pickle(OUT / "evil_bomb_laughs.pth", bomb_laughs())
    zip_with_pickle(OUT / "evil_bomb_deep.pth", bomb_deep())
    # storage key not in the archive
    pid = ("storage", torch.FloatStorage, "7", "cpu", 4)
    zip_with_pickle(OUT / "evil_missing_storage.pth", fake_pkl(pid, FakeTensor((4,), (1,))),
                    {"0": struct.pack("<4f", 1, 2, 3, 4)})
    # storage key that climbs out of the archive
    pid = ("storage", torch.FloatStorage, "../../../etc/passwd", "cpu", 4)
    zip_with_pickle(OUT / "evil_storage_path.pth", fake_pkl(pid, FakeTensor((4,), (1,))),
                    {"0": struct.pack("<4f", 1, 2, 3, 4)})
    # declared size larger than the data
    pid = ("storage", torch.FloatStorage, "0", "cpu", 1_000_000)
    zip_with_pickle(OUT / "evil_size.pth", fake_pkl(pid, FakeTensor((1_000_000,), (1,))),
                    {"0": struct.pack("<4f", 1, 2, 3, 4)})
    # a view reading past its storage
    pid = ("storage", torch.FloatStorage, "0", "cpu", 4)
    zip_with_pickle(OUT / "evil_view.pth", fake_pkl(pid, FakeTensor((3, 3), (3, 1))),
                    {"0": struct.pack("<4f", 1, 2, 3, 4)})
    # a stride-0 view expanding 1 element to 2^40
    pid = ("storage", torch.FloatStorage, "0", "cpu", 1)
    zip_with_pickle(OUT / "evil_broadcast.pth", fake_pkl(pid, FakeTensor((1 << 20, 1 << 20), (0, 0))),
                    {"0": struct.pack("<f", 1)})
    # truncated zip
    full = (OUT / "state_dict_zip.pth").read_bytes()
    (OUT / "evil_truncated.pth").write_bytes(full[: len(full) // 2])


# ---- tiny RetinaNet ---------------------------------------------------------------------------

def make_retinanet():
    sys.path.insert(0, str(ROOT / "tools"))
    import gen_model_fixtures as gm
    gen = torch.Generator().manual_seed(1515)
    model = gm.RetinaNet(18, base_channels=2, fpn_out=8, num_classes=3, feat_channels=8).double()
    gm.seed_weights(model, gen, (2, 3, 64, 64))
    model = model.float().eval()
    torch.save(model.state_dict(), OUT / "retinanet_tiny.pth")
    x = torch.rand((1, 3, 64, 64), generator=gen) * 2 - 1
    # float64 reference from the float32 weights
    ref = gm.RetinaNet(18, base_channels=2, fpn_out=8, num_classes=3, feat_channels=8).double().eval()
    ref.load_state_dict({k: (v.double() if v.is_floating_point() else v) for k, v in model.state_dict().items()})
    with torch.no_grad():
        _, p, (cls, reg) = ref(x.double())
    entries = {"input": x}
    for i in range(5):
        entries[f"out.neck.{i}"] = p[i].float()
        entries[f"out.cls.{i}"] = cls[i].float()
        entries[f"out.reg.{i}"] = reg[i].float()
    gm.write_safetensors(OUT / "retinanet_tiny_ref.safetensors", entries)
    print("retinanet_tiny.pth:", (OUT / "retinanet_tiny.pth").stat().st_size, "bytes")


def main():
    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)
    sd = state_dict()
    torch.save(sd, OUT / "state_dict_zip.pth")
    torch.save(sd, OUT / "state_dict_legacy.pth", _use_new_zipfile_serialization=False)
    repack_deflate(OUT / "state_dict_zip.pth", OUT / "state_dict_zip_deflate.pth")
    (OUT / "expected.json").write_text(json.dumps(expected(sd), indent=0) + "\n")
    # mmdet checkpoint: DDP-wrapped state dict, meta, SGD state
    model = torch.nn.Sequential(collections.OrderedDict(conv1=torch.nn.Conv2d(3, 4, 3), bn1=torch.nn.BatchNorm2d(4)))
    torch.manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    ckpt = {
        "meta": {"mmdet_version": "2.25.0", "CLASSES": ("cat", "dog"), "epoch": 3, "iter": 30,
                 "hook_msgs": {"last_ckpt": "work_dirs/x/epoch_3.pth"}, "config": "model = dict()"},
        "state_dict": collections.OrderedDict((f"module.{k}", v) for k, v in model.state_dict().items()),
        "optimizer": opt.state_dict(),
    }
    torch.save(ckpt, OUT / "mmdet_ckpt.pth")
    (OUT / "mmdet_ckpt_expected.json").write_text(json.dumps(expected(model.state_dict()), indent=0) + "\n")
    make_malicious()
    make_retinanet()
    # every refused file really is what it claims to be: torch.load(weights_only=True) refuses it too
    for p in sorted(OUT.glob("evil_*.pth")):
        try:
            torch.load(p, weights_only=True)
            print(f"NOTE: torch weights_only loads {p.name}")
        except Exception as e:  # noqa: BLE001
            print(f"{p.name}: torch refuses: {type(e).__name__}: {str(e).splitlines()[0][:100]}")
    assert not os.path.exists(PWNED)
    for p in sorted(OUT.iterdir()):
        print(f"{p.name}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
