import { assert } from "../_assert.ts";
import { NdArray, pickleDumps, pickleLoads, PyTuple } from "../../lib/utils/pickle.ts";
import { encodeResults, readResults } from "../../lib/apis/results_io.ts";

const dir = new URL("../fixtures/pickle/", import.meta.url);
const nested = JSON.parse(await Deno.readTextFile(new URL("results.json", dir))) as number[][][][];
const results = nested.map((im) => im.map((c) => Float32Array.from(c.flat())));

Deno.test("results.pkl: wgdet's writer gives the bytes Python's pickle.load read as float32 [k, 5] numpy arrays (tools/gen_pickle_fixtures.py)", async () => {
  const expected = await Deno.readFile(new URL("wgdet_results.pkl", dir));
  assert.deepEqual(encodeResults(results, "results.pkl"), expected);
  const check = await Deno.readTextFile(new URL("wgdet_results_check.txt", dir));
  assert.match(check, /equal to results\.json/);
  assert.equal(check.trim().split("\n").length, 1 + 9);
});

Deno.test("pickleLoads reads mmdetection's results.pkl as Python writes it (protocol 2 as mmcv.dump, 4, and 5 with numpy's _frombuffer)", async () => {
  for (const name of ["mmdet_p2.pkl", "mmdet_p4.pkl", "mmdet_p5.pkl", "wgdet_results.pkl"]) {
    const path = new URL(name, dir).pathname;
    const got = await readResults(path);
    assert.equal(got.length, results.length, name);
    got.forEach((im, i) =>
      im.forEach((c, k) =>
        assert.deepEqual(Array.from(c), Array.from(results[i][k]), `${name} ${i} ${k}`)
      )
    );
    const raw = pickleLoads(await Deno.readFile(path)) as NdArray[][];
    assert.deepEqual(raw[0][0].shape, [2, 5]);
    assert.deepEqual(raw[0][1].shape, [0, 5]);
    assert.ok(raw[0][0].data instanceof Float32Array);
  }
});

Deno.test("pickle round trip of plain values, and errors naming what is not supported", () => {
  const v = {
    a: [1, -2, 3.5, 2 ** 40, "héllo", null, true, false],
    t: new PyTuple([1, "x"]),
    b: new Uint8Array([0, 255]),
    m: new NdArray(Float64Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
  };
  const back = pickleLoads(pickleDumps(v)) as Record<string, unknown>;
  assert.deepEqual(back.a, v.a);
  assert.deepEqual((back.t as PyTuple).items, [1, "x"]);
  assert.deepEqual(back.b, v.b);
  assert.deepEqual((back.m as NdArray).shape, [2, 3]);
  assert.deepEqual(Array.from((back.m as NdArray).data), [1, 2, 3, 4, 5, 6]);
  // a pickled Python object of another class
  const obj = new Uint8Array([
    0x80,
    2,
    0x63,
    ...new TextEncoder().encode("os\nsystem\n"),
    0x29,
    0x52,
    0x2e,
  ]);
  assert.throws(
    () => pickleLoads(obj, "x.pkl"),
    /refusing to load x\.pkl: it calls os\.system, which is not a list, dict, number, string or numpy array/,
  );
  assert.throws(() => pickleLoads(new Uint8Array([0x80, 2, 0x5d])), /truncated/);
  assert.throws(() => new NdArray(new Float32Array(3), [2, 2]), /shape \[2,2\] from 3 values/);
});
