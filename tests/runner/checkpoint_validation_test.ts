/**
 * Checkpoint validation: safetensors layout (no overlap, no hole), F16/BF16/F64 converted to
 * F32 against PyTorch's `.float()` (tools/gen_half_safetensors_fixture.py), non-finite weights
 * refused naming the tensor, meta fields validated, `latest` confined to the work dir,
 * auto-resume choosing the newest complete checkpoint, temporary files cleaned, and the
 * mmcv-style missing/unexpected key report.
 */
import { join } from "node:path";
import { assert } from "../_assert.ts";
import {
  cleanTempFiles,
  findLatestCheckpoint,
  loadCheckpoint,
  matchStateDictKeys,
  saveCheckpoint,
  updateLatest,
  validateMeta,
} from "../../lib/runner/checkpoint.ts";
import { decodeSafetensors, encodeSafetensors } from "../../lib/utils/safetensors.ts";
import { DataError } from "../../lib/utils/errors.ts";

const fixture = (n: string) => new URL(`../fixtures/utils/${n}`, import.meta.url);

async function inTmp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-ckpt-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const w = (vals: number[]) => ({
  dtype: "F32" as const,
  shape: [vals.length],
  data: Float32Array.from(vals),
});

/** A safetensors file with a hand-written header over `data`. */
function rawFile(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const len = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + len + data.length).fill(0x20, 8, 8 + len);
  new DataView(out.buffer).setBigUint64(0, BigInt(len), true);
  out.set(json, 8);
  out.set(data, 8 + len);
  return out;
}

Deno.test("decodeSafetensors refuses overlapping tensors, holes and trailing bytes", () => {
  const data = new Uint8Array(16);
  const t = (a: number, b: number) => ({
    dtype: "F32",
    shape: [(b - a) / 4],
    data_offsets: [a, b],
  });
  assert.throws(
    () => decodeSafetensors(rawFile({ a: t(0, 8), b: t(4, 12), c: t(12, 16) }, data), "o.st"),
    (e: Error) => /"o\.st".*overlap/.test(e.message),
  );
  assert.throws(
    () => decodeSafetensors(rawFile({ a: t(0, 4), b: t(8, 16) }, data), "h.st"),
    (e: Error) => /bytes 4\.\.8.*belong to no tensor/.test(e.message),
  );
  assert.throws(
    () => decodeSafetensors(rawFile({ a: t(0, 8) }, data), "t.st"),
    (e: Error) => /bytes 8\.\.16 at the end/.test(e.message),
  );
  assert.throws(
    () =>
      decodeSafetensors(
        rawFile({ a: { dtype: "F32", shape: [1.5], data_offsets: [0, 16] } }, data),
      ),
    (e: Error) => /shape/.test(e.message),
  );
  assert.equal(
    Object.keys(decodeSafetensors(rawFile({ a: t(0, 8), b: t(8, 16) }, data)).tensors).length,
    2,
  );
});

Deno.test("loadCheckpoint converts F16, BF16 and F64 weights to F32 exactly as PyTorch's .float()", async () => {
  const expected = JSON.parse(await Deno.readTextFile(fixture("half_weights_expected.json")));
  const ck = await loadCheckpoint(fixture("half_weights.safetensors").pathname);
  assert.deepEqual(Object.keys(ck.stateDict).sort(), Object.keys(expected).sort());
  for (const [k, vals] of Object.entries(expected as Record<string, number[]>)) {
    const t = ck.stateDict[k];
    assert.equal(t.dtype, "F32", k);
    assert.deepEqual([...(t.data as Float32Array)], vals.map(Math.fround), k);
  }
  assert.equal((ck.stateDict["backbone.conv1.weight"].data as Float32Array)[0], 1); // not 15360
});

Deno.test("non-finite weights are refused naming the tensor unless allowNonFinite", async () => {
  await inTmp(async (dir) => {
    const p = join(dir, "epoch_1.safetensors");
    await saveCheckpoint(p, { stateDict: { "a.weight": w([1, 2]), "b.bias": w([0, NaN, NaN]) } });
    await assert.rejects(
      () => loadCheckpoint(p),
      (e: Error) =>
        e instanceof DataError && e.message.includes('"b.bias"') &&
        e.message.includes("2 non-finite") && e.message.includes("--allow-nonfinite"),
    );
    const ck = await loadCheckpoint(p, { allowNonFinite: true });
    assert.ok(Number.isNaN((ck.stateDict["b.bias"].data as Float32Array)[1]));
    // F64 beyond float32 becomes Infinity, which is refused too
    await Deno.writeFile(
      p,
      encodeSafetensors({ big: { dtype: "F64", shape: [1], data: new Float64Array([1e39]) } }),
    );
    await Deno.remove(join(dir, "epoch_1.json"));
    await assert.rejects(() => loadCheckpoint(p), (e: Error) => /"big" \(F64\)/.test(e.message));
  });
});

Deno.test('checkpoint meta is validated (epoch "abc", -3, 1e9; CLASSES; hook_msgs)', async () => {
  for (
    const bad of [{ epoch: "abc" }, { epoch: -3 }, { epoch: 1e9 }, { iter: 1.5 }, {
      CLASSES: "cat",
    }, { hook_msgs: [] }]
  ) {
    assert.throws(
      () => validateMeta(bad as Record<string, unknown>, "m.json"),
      (e: Error) => e instanceof DataError && e.message.includes("m.json"),
      JSON.stringify(bad),
    );
  }
  validateMeta({ epoch: 3, iter: 120, CLASSES: ["a"], config: "x", hook_msgs: {} }, "m.json");
  await inTmp(async (dir) => {
    const p = join(dir, "epoch_1.safetensors");
    await saveCheckpoint(p, {
      stateDict: { a: w([1]) },
      meta: { epoch: "abc" as unknown as number },
    });
    await assert.rejects(() => loadCheckpoint(p), (e: Error) => /"epoch".*"abc"/.test(e.message));
  });
});

Deno.test("a latest pointer may only name a file beside it", async () => {
  await inTmp(async (dir) => {
    await Deno.writeTextFile(join(dir, "latest"), "../../../../etc/passwd.safetensors\n");
    await assert.rejects(
      () => loadCheckpoint(dir),
      (e: Error) => e instanceof DataError && e.message.includes("not a file name"),
    );
    assert.equal(await findLatestCheckpoint(dir), null);
  });
});

Deno.test("findLatestCheckpoint takes the newest complete checkpoint, skipping stale latest and damaged ones", async () => {
  await inTmp(async (dir) => {
    const save = async (n: number, opt = true) => {
      const p = join(dir, `epoch_${n}.safetensors`);
      await saveCheckpoint(p, {
        stateDict: { a: w([n]) },
        optimizer: opt ? { state: { m: w([n]) }, param_groups: [{ lr: 0.1 }] } : undefined,
        meta: { epoch: n, iter: n * 10 },
      });
      return p;
    };
    const tick = () => new Promise((r) => setTimeout(r, 20)); // distinct file times
    const p1 = await save(1);
    await updateLatest(dir, p1);
    await tick();
    const p2 = await save(2); // killed before `latest` moved
    const skipped: string[] = [];
    assert.equal(await findLatestCheckpoint(dir, (p) => skipped.push(p)), p2);
    await tick();
    await save(3);
    await Deno.writeTextFile(join(dir, "epoch_3.json"), '{"meta": {"epo'); // truncated meta
    assert.equal(await findLatestCheckpoint(dir, (p) => skipped.push(p)), p2);
    assert.ok(skipped.some((s) => s.endsWith("epoch_3.safetensors")));
    await save(4);
    await Deno.remove(join(dir, "epoch_4.optim.safetensors")); // optimizer file lost
    assert.equal(await findLatestCheckpoint(dir), p2);
    await save(5);
    await Deno.writeFile(join(dir, "epoch_5.safetensors"), new Uint8Array(10)); // size mismatch
    assert.equal(await findLatestCheckpoint(dir), p2);
    // a stale epoch_9 of an earlier run does not beat the current run's newer epoch_2
    const old = join(dir, "epoch_9.safetensors");
    await saveCheckpoint(old, { stateDict: { a: w([9]) }, meta: { epoch: 9, iter: 90 } });
    await Deno.utime(join(dir, "epoch_9.json"), 1000, 1000);
    assert.equal(await findLatestCheckpoint(dir), p2);
    // every checkpoint it picks loads
    const ck = await loadCheckpoint(p2, { requireMeta: true });
    assert.equal(ck.meta.epoch, 2);
  });
});

Deno.test("cleanTempFiles removes the temporary files of interrupted writes", async () => {
  await inTmp(async (dir) => {
    await Deno.writeTextFile(join(dir, ".epoch_2.safetensors.tmp-99999999-0"), "x");
    await Deno.writeTextFile(join(dir, ".latest.tmp-99999999-3"), "x");
    await Deno.writeTextFile(join(dir, "epoch_1.safetensors"), "keep");
    const removed = await cleanTempFiles(dir);
    assert.equal(removed.length, 2);
    const left = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(left, ["epoch_1.safetensors"]);
  });
});

Deno.test("matchStateDictKeys reports as mmcv and refuses a checkpoint of which nothing matches", () => {
  const own = ["backbone.conv1.weight", "backbone.bn1.weight", "head.cls.bias"];
  const m = matchStateDictKeys(
    own,
    ["backbone.conv1.weight", "backbone.bn1.weight", "extra.w"],
    "c",
  );
  assert.deepEqual(m.missing, ["head.cls.bias"]);
  assert.deepEqual(m.unexpected, ["extra.w"]);
  assert.equal(
    m.message,
    "The model and loaded state dict do not match exactly\n\n" +
      "unexpected key in source state_dict: extra.w\n\n" +
      "missing keys in source state_dict: head.cls.bias\n",
  );
  assert.equal(matchStateDictKeys(own, own, "c").message, "");
  assert.throws(
    () => matchStateDictKeys(own, own.map((k) => `model.${k}`), "ck.safetensors"),
    (e: Error) =>
      e instanceof DataError && e.message.includes("ck.safetensors") &&
      e.message.includes('prefix "model."'),
  );
});
