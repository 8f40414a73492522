import { assert } from "../../_assert.ts";
import { argsortDesc, multiApply, unmap } from "../../../lib/core/mod.ts";

Deno.test("multiApply() maps a function over lists and regroups its outputs", () => {
  const [sums, prods] = multiApply((a: number, b: number) => [a + b, a * b] as const, [1, 2, 3], [
    4,
    5,
    6,
  ]);
  assert.deepEqual([sums, prods], [[5, 7, 9], [4, 10, 18]]);
  const [names] = multiApply((s: string) => [s.toUpperCase()] as const, ["p3", "p4"]);
  assert.deepEqual(names, ["P3", "P4"]);
  assert.deepEqual(multiApply((a: number) => [a] as const, []), []);
});

Deno.test("unmap() scatters rows back to all anchors and fills the rest", () => {
  const flags = Uint8Array.of(1, 0, 1, 0);
  assert.deepEqual(Array.from(unmap(Int32Array.of(7, 8), flags, { fill: 80 })), [7, 80, 8, 80]);
  assert.deepEqual(
    Array.from(unmap(Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8), flags, { width: 4 })),
    [
      1,
      2,
      3,
      4,
      0,
      0,
      0,
      0,
      5,
      6,
      7,
      8,
      0,
      0,
      0,
      0,
    ],
  );
  assert.throws(() => unmap(Int32Array.of(1, 2, 3), flags), /3 rows onto 2 set flags/);
});

Deno.test("argsortDesc() sorts descending and keeps ties in index order", () => {
  assert.deepEqual(Array.from(argsortDesc([0.5, 0.9, 0.5, 0.9, 0.1])), [1, 3, 0, 2, 4]);
});
