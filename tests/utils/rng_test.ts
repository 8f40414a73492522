import { assert } from "../_assert.ts";
import { hashSeed, Rng } from "../../lib/utils/rng.ts";

Deno.test("Rng gives equal streams for equal seeds and different streams otherwise", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const xa = Array.from({ length: 8 }, () => a.random());
  const xb = Array.from({ length: 8 }, () => b.random());
  const xc = Array.from({ length: 8 }, () => c.random());
  assert.deepEqual(xa, xb);
  assert.notDeepEqual(xa, xc);
  for (const v of xa) assert.ok(v >= 0 && v < 1);
});

Deno.test("Rng.randint() stays in [low, high) and hits every value", () => {
  const r = new Rng(1);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const v = r.randint(3, 8);
    assert.ok(Number.isInteger(v) && v >= 3 && v < 8, `randint gave ${v}`);
    seen.add(v);
  }
  assert.deepEqual([...seen].sort(), [3, 4, 5, 6, 7]);
  assert.throws(() => r.randint(2, 2), RangeError);
});

Deno.test("Rng.shuffle() and permutation() return permutations", () => {
  const r = new Rng(5);
  const p = r.permutation(50);
  assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.notDeepEqual(p, Array.from({ length: 50 }, (_, i) => i));
});

Deno.test("Rng.normal() has about zero mean and unit variance", () => {
  const r = new Rng(9);
  let s = 0, s2 = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const v = r.normal();
    s += v;
    s2 += v * v;
  }
  assert.ok(Math.abs(s / n) < 0.03, `mean ${s / n}`);
  assert.ok(Math.abs(s2 / n - 1) < 0.05, `variance ${s2 / n}`);
});

Deno.test("Rng.choice() follows the given probabilities", () => {
  const r = new Rng(3);
  const counts = { a: 0, b: 0, c: 0 };
  for (let i = 0; i < 10000; i++) counts[r.choice(["a", "b", "c"] as const, [0.2, 0, 0.8])]++;
  assert.equal(counts.b, 0);
  assert.ok(Math.abs(counts.a / 10000 - 0.2) < 0.02, JSON.stringify(counts));
});

Deno.test("hashSeed() depends on every part and their order", () => {
  assert.equal(hashSeed(1, 2, 3), hashSeed(1, 2, 3));
  assert.notEqual(hashSeed(1, 2, 3), hashSeed(1, 3, 2));
  assert.notEqual(hashSeed(1, 2, 3), hashSeed(1, 2, 4));
  assert.notEqual(hashSeed(2 ** 40), hashSeed(0));
});
