/**
 * `deno task convert`: `.pth` → `.safetensors` → `.pth` equal tensor by tensor (keys, dtypes incl.
 * bf16/fp16/int64/bool, shapes, values), mmcv meta carried through `OUT.json`, `--help`, bad
 * arguments. (`tools/check_pth_roundtrip.py` checks by hand that PyTorch loads the written `.pth`
 * with `weights_only=True`.)
 */
import { join } from "node:path";
import { CONVERT_HELP, convertCheckpoint, convertMain } from "../../lib/runner/convert.ts";
import { loadCheckpoint } from "../../lib/runner/checkpoint.ts";
import { type PthTensor, type PthTensorRef, readPth } from "../../lib/utils/pth/pth.ts";
import { decodeSafetensors } from "../../lib/utils/safetensors.ts";
import { assert } from "../_assert.ts";

const FX = new URL("../fixtures/pth/", import.meta.url);
const fx = (n: string) => new URL(n, FX).pathname;

async function tensorsOf(path: string): Promise<Map<string, PthTensor>> {
  const f = await readPth(await Deno.readFile(path), path);
  const top = f.value as Map<string, unknown>;
  const sd = (top.has("state_dict") ? top.get("state_dict") : top) as Map<string, PthTensorRef>;
  return new Map([...sd].map(([k, v]) => [k, f.tensor(v)]));
}

function bits(t: PthTensor): string[] {
  return [...new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)].map(String);
}

for (const name of ["state_dict_zip.pth", "state_dict_legacy.pth", "mmdet_ckpt.pth"]) {
  Deno.test(`convert ${name} → .safetensors → .pth: equal tensor by tensor`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const st = join(dir, "a.safetensors"), back = join(dir, "b.pth");
      const r1 = await convertCheckpoint(fx(name), st);
      const r2 = await convertCheckpoint(st, back);
      const want = await tensorsOf(fx(name));
      assert.equal(r1.tensors, want.size);
      assert.equal(r2.tensors, want.size);
      const mid = decodeSafetensors(await Deno.readFile(st)).tensors;
      const got = await tensorsOf(back);
      assert.deepEqual([...got.keys()], [...want.keys()]);
      for (const [k, w] of want) {
        for (const t of [got.get(k)!, mid[k] as PthTensor]) {
          assert.equal(t.dtype, w.dtype, k);
          assert.deepEqual(t.shape, w.shape, k);
          assert.deepEqual(bits(t), bits(w), k);
        }
      }
      if (name === "mmdet_ckpt.pth") {
        assert.match(r1.notes[0], /optimizer state .* is not converted/);
        const ck = await loadCheckpoint(back);
        assert.equal(ck.meta.epoch, 3);
        assert.deepEqual(ck.meta.CLASSES, ["cat", "dog"]);
        assert.equal((await loadCheckpoint(st)).meta.mmdet_version, "2.25.0");
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("convert --help, wrong arguments and wrong extensions", async () => {
  const log = console.log, err = console.error;
  const out: string[] = [];
  console.log = (s: string) => out.push(s);
  console.error = (s: string) => out.push(s);
  try {
    assert.equal(await convertMain(["--help"]), 0);
    assert.equal(out[0], CONVERT_HELP);
    assert.equal(await convertMain(["only-one"]), 2);
    assert.equal(await convertMain(["a.pth", "b.pth"]), 1);
    assert.match(out.at(-1)!, /convert \.pth .* to \.safetensors or \.safetensors to \.pth/);
    assert.equal(await convertMain([fx("evil_os_system.pth"), "/tmp/never.safetensors"]), 1);
    assert.match(out.at(-1)!, /refusing to load evil_os_system\.pth: it calls posix\.system/);
  } finally {
    console.log = log;
    console.error = err;
  }
});
