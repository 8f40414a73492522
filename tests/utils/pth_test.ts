/**
 * The `.pth` reader against files written by PyTorch 1.13 (`tools/gen_pth_fixtures.py`): values of
 * every dtype and view kind in the zip, deflated-zip and legacy formats; every malicious file
 * refused with a named error; a seeded mutation fuzz; the writer's output read back.
 */
import {
  PthError,
  type PthFile,
  type PthTensor,
  PthTensorRef,
  pthToFloat32,
  readPth,
  writePth,
} from "../../lib/utils/pth/pth.ts";
import { unpickle } from "../../lib/utils/pth/unpickle.ts";
import { assert } from "../_assert.ts";

const FX = new URL("../fixtures/pth/", import.meta.url);
const read = (name: string) => Deno.readFile(new URL(name, FX));

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
}

function entries(f: PthFile): Map<string, PthTensor> {
  assert.ok(f.value instanceof Map, "a state dict is an OrderedDict");
  const out = new Map<string, PthTensor>();
  for (const [k, v] of f.value as Map<string, unknown>) {
    assert.ok(v instanceof PthTensorRef, `${k} is a tensor`);
    out.set(k, f.tensor(v));
  }
  return out;
}

function checkValues(got: Map<string, PthTensor>, exp: Record<string, Expected>) {
  assert.deepEqual([...got.keys()], Object.keys(exp));
  for (const [k, e] of Object.entries(exp)) {
    const t = got.get(k)!;
    assert.equal(t.dtype, e.dtype, `${k} dtype`);
    assert.deepEqual(t.shape, e.shape, `${k} shape`);
    if (t.dtype === "I64") {
      assert.deepEqual([...(t.data as BigInt64Array)].map(String), e.values, k);
    } else if (t.dtype === "F64") {
      assert.deepEqual([...(t.data as Float64Array)], e.values, k);
    } else if (t.dtype === "F32" || t.dtype === "F16" || t.dtype === "BF16") {
      assert.deepEqual([...pthToFloat32(t)], e.values, k); // exact: every value is an f32
    } else {
      assert.deepEqual([...(t.data as Iterable<number>)], e.values, k);
    }
  }
}

const expected = JSON.parse(await Deno.readTextFile(new URL("expected.json", FX)));

for (
  const [file, format] of [
    ["state_dict_zip.pth", "zip"],
    ["state_dict_zip_deflate.pth", "zip"],
    ["state_dict_legacy.pth", "legacy"],
  ] as const
) {
  Deno.test(`readPth: ${file} (${format}) equals PyTorch's tensors, views and dtypes`, async () => {
    const f = await readPth(await read(file), file);
    assert.equal(f.format, format);
    checkValues(entries(f), expected);
  });
}

Deno.test("readPth: a tied weight is one tensor; views of one storage keep their own values", async () => {
  const f = await readPth(await read("state_dict_zip.pth"), "state_dict_zip.pth");
  const m = f.value as Map<string, PthTensorRef>;
  assert.equal(m.get("tied.a"), m.get("tied.b"), "the memo returns the same tensor object");
  assert.equal(m.get("offset.view")!.storage, m.get("offset.base")!.storage, "shared storage");
  assert.equal(m.get("offset.view")!.offset, 8);
  assert.deepEqual(m.get("strided.t")!.stride, [1, 6]);
});

Deno.test("readPth: an mmdetection checkpoint dict gives meta, state_dict and optimizer", async () => {
  const f = await readPth(await read("mmdet_ckpt.pth"), "mmdet_ckpt.pth");
  const ck = f.value as Map<string, unknown>;
  assert.deepEqual([...ck.keys()], ["meta", "state_dict", "optimizer"]);
  const meta = ck.get("meta") as Map<string, unknown>;
  assert.equal(meta.get("epoch"), 3);
  assert.deepEqual((meta.get("CLASSES") as { items: unknown[] }).items, ["cat", "dog"]);
  const sd = ck.get("state_dict") as Map<string, PthTensorRef>;
  assert.ok([...sd.keys()].every((k) => k.startsWith("module.")));
  const exp = JSON.parse(await Deno.readTextFile(new URL("mmdet_ckpt_expected.json", FX)));
  const got = new Map([...sd].map(([k, v]) => [k.slice(7), f.tensor(v)]));
  checkValues(got, exp);
  const opt = ck.get("optimizer") as Map<string, unknown>;
  const state = opt.get("state") as Map<number, Map<string, PthTensorRef>>;
  assert.deepEqual([...state.keys()], [0, 1, 2, 3]);
  assert.ok(state.get(0)!.get("momentum_buffer") instanceof PthTensorRef);
});

const MALICIOUS: [string, RegExp][] = [
  ["evil_os_system.pth", /^refusing to load evil_os_system\.pth: it calls posix\.system/],
  ["evil_eval.pth", /^refusing to load evil_eval\.pth: it calls builtins\.eval/],
  ["evil_popen.pth", /^refusing to load evil_popen\.pth: it calls subprocess\.Popen/],
  ["evil_unknown_module.pth", /it calls wgdet_no_such_module\.make_weights/],
  ["evil_legacy_system.pth", /^refusing to load evil_legacy_system\.pth: it calls posix\.system/],
  ["evil_missing_storage.pth", /storage "7" has no record "archive\/data\/7" in the archive/],
  ["evil_storage_path.pth", /storage "\.\.\/\.\.\/\.\.\/etc\/passwd" has no record/],
  [
    "evil_size.pth",
    /declares 1000000 F32 elements \(4000000 bytes\) but its record .* has 16 bytes/,
  ],
  ["evil_view.pth", /reads element 8 of storage "0", which has 4/],
  ["evil_broadcast.pth", /broadcast view/],
  ["evil_truncated.pth", /no end-of-central-directory record/],
  ["evil_bomb_laughs.pth", /./],
  ["evil_bomb_deep.pth", /./],
];

/** Reads a file and touches every tensor, as a loader does. */
async function readAll(bytes: Uint8Array, name: string): Promise<void> {
  const f = await readPth(bytes, name);
  const seen = new Set<unknown>();
  const walk = (v: unknown, depth: number) => {
    if (depth > 100) throw new PthError(`${name}: nested more than 100 levels`);
    if (v === null || typeof v !== "object" || seen.has(v)) return;
    seen.add(v);
    if (v instanceof PthTensorRef) f.tensor(v);
    else if (v instanceof Map) { for (const x of v.values()) walk(x, depth + 1); }
    else if (Array.isArray(v)) { for (const x of v) walk(x, depth + 1); }
    else if ("items" in v && Array.isArray(v.items)) {
      for (const x of v.items) {
        walk(x, depth + 1);
      }
    }
  };
  walk(f.value, 0);
  // a state dict must hold tensors: the bombs' containers hold none
  if (f.value instanceof Map && ![...f.value.values()].some((x) => x instanceof PthTensorRef)) {
    const sd = f.value.get("state_dict");
    if (!(sd instanceof Map) || ![...sd.values()].some((x) => x instanceof PthTensorRef)) {
      throw new PthError(`${name}: no tensors`);
    }
  }
}

for (const [file, why] of MALICIOUS) {
  Deno.test(`readPth refuses ${file} with a named error, quickly, running nothing`, async () => {
    const t0 = performance.now();
    let err: unknown = null;
    try {
      await readAll(await read(file), file);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof PthError, `${file}: ${err}`);
    assert.match((err as Error).message, why);
    assert.ok(performance.now() - t0 < 3000, `${file} took ${performance.now() - t0} ms`);
    assert.equal(await Deno.stat("/tmp/wgdet_pth_pwned").then(() => true, () => false), false);
  });
}

/** mulberry32 */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(src: Uint8Array, r: () => number, lo = 0, hi = src.length): Uint8Array {
  const b = src.slice();
  const kind = Math.floor(r() * 4);
  const n = 1 + Math.floor(r() * 4);
  const at = () => lo + Math.floor(r() * (hi - lo));
  if (kind === 0) { for (let i = 0; i < n; i++) b[at()] = Math.floor(r() * 256); }
  else if (kind === 1) { for (let i = 0; i < n; i++) b[at()] ^= 1 << Math.floor(r() * 8); }
  else if (kind === 2) return b.subarray(0, at()); // truncation
  else {
    const interesting = [0, 1, 0x7f, 0x80, 0xff, 0x2e, 0x28, 0x52, 0x51, 0x63, 0x71, 0x68];
    for (let i = 0; i < n; i++) b[at()] = interesting[Math.floor(r() * interesting.length)];
  }
  return b;
}

Deno.test("fuzz: 1,000 mutants of a zip .pth, 1,000 of its pickle, 500 of a legacy file: only PthErrors, no hangs", async () => {
  const src = await read("state_dict_zip.pth");
  const r = rng(15);
  const bad: string[] = [];
  let refused = 0, loaded = 0;
  let slowest = 0;
  const run = async (bytes: Uint8Array, label: string) => {
    const t0 = performance.now();
    try {
      await readAll(bytes, "fuzz.pth");
      loaded++;
    } catch (e) {
      if (e instanceof PthError) refused++;
      else bad.push(`${label}: ${(e as Error)?.name}: ${(e as Error)?.message}`);
    }
    slowest = Math.max(slowest, performance.now() - t0);
  };
  for (let i = 0; i < 1000; i++) await run(mutate(src, r), `file mutant ${i}`);
  // mutate data.pkl itself and re-zip, so the CRC passes and the unpickler sees the damage
  const { ZipReader, writeZip } = await import("../../lib/utils/pth/zip.ts");
  const z = new ZipReader(src, "src");
  const files: [string, Uint8Array][] = [];
  for (const name of z.entries.keys()) files.push([name, (await z.read(name)).slice()]);
  const pi = files.findIndex(([n]) => n.endsWith("/data.pkl"));
  for (let i = 0; i < 1000; i++) {
    const f2 = files.slice();
    f2[pi] = [files[pi][0], mutate(files[pi][1], r)];
    await run(writeZip(f2), `pickle mutant ${i}`);
  }
  const legacy = await read("state_dict_legacy.pth");
  for (let i = 0; i < 500; i++) await run(mutate(legacy, r), `legacy mutant ${i}`);
  assert.deepEqual(bad.slice(0, 10), [], `${bad.length} mutants threw errors other than PthError`);
  assert.ok(refused > 500, `${refused} refused, ${loaded} loaded`);
  assert.ok(slowest < 2000, `slowest mutant took ${slowest} ms`);
});

Deno.test("unpickle: protocol-2 to -5 pickles of plain containers and numbers", () => {
  // pickle.dumps({"a": [1, -2, 3.5, None, True], "b": (2**70, "é"), "c": {1, 2}}, protocol=5)
  const p5 = Uint8Array.from(
    atob(
      "gAWVQQAAAAAAAAB9lCiMAWGUXZQoSwFK/v///0dADAAAAAAAAE6IZYwBYpSKCQAAAAAAAAAAQIwCw6mUhpSMAWOUj5QoSwFLApB1Lg==",
    ),
    (c) => c.charCodeAt(0),
  );
  const v = unpickle(p5, { file: "p5" }).value as Map<string, unknown>;
  assert.deepEqual(v.get("a"), [1, -2, 3.5, null, true]);
  const b = v.get("b") as { items: unknown[] };
  assert.deepEqual(b.items, [2n ** 70n, "é"]);
  assert.deepEqual([...(v.get("c") as Set<number>)], [1, 2]);
});

Deno.test("writePth output reads back tensor by tensor (zip layout of torch.save)", async () => {
  const sd = new Map<string, PthTensor>([
    ["w", { dtype: "F32", shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6.5]) }],
    ["n", { dtype: "I64", shape: [], data: new BigInt64Array([123n]) }],
    ["h", { dtype: "F16", shape: [2], data: new Uint16Array([0x3c00, 0xc000]) }],
    ["e", { dtype: "F32", shape: [0, 4], data: new Float32Array(0) }],
  ]);
  const bytes = writePth(
    new Map<string, unknown>([["state_dict", sd], ["meta", { epoch: 2, lr: 0.01 }]]) as never,
  );
  const f = await readPth(bytes, "written.pth");
  const top = f.value as Map<string, unknown>;
  assert.deepEqual(top.get("meta"), new Map<string, unknown>([["epoch", 2], ["lr", 0.01]]));
  for (const [k, t] of top.get("state_dict") as Map<string, PthTensorRef>) {
    const got = f.tensor(t);
    const want = sd.get(k)!;
    assert.equal(got.dtype, want.dtype);
    assert.deepEqual(got.shape, want.shape);
    assert.deepEqual([...got.data as Iterable<number>], [...want.data as Iterable<number>]);
  }
});
