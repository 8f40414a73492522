import { assert } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { getGpu } from "../../lib/gpu/runtime.ts";
import type { RawTensor } from "../../lib/gpu/raw_tensor.ts";
import { binary, reluGrad } from "../../lib/ops/elementwise.ts";
import { sumMulti, sumSlots } from "../../lib/ops/sum_multi.ts";
import { randArray, rng } from "../_reference/rng.ts";

// mixed sizes (1 element, not a multiple of 256, several workgroups at 16 per thread) and part
// counts 1-4, more groups of 3 parts than one dispatch holds: chunking and offsets are exercised
const SIZES = [1, 3, 255, 256, 257, 700, 1500, 9000];

gpuTest(
  "sumMulti() equals a chain of adds bit for bit, in ⌈groups / slots⌉ dispatches per part count",
  async () => {
    const gpu = getGpu();
    const r = rng(7);
    const n3 = sumSlots(3) + 2;
    const counts = [1, 2, 4, ...Array.from({ length: n3 }, () => 3)];
    const groups: RawTensor[][] = counts.map((m, i) => {
      const size = SIZES[i % SIZES.length] + i;
      return Array.from({ length: m }, () => gpu.upload(randArray(r, size, -1, 1), [size]));
    });
    const chained = groups.map((g) => g.slice(1).reduce((acc, t) => binary(acc, t, "add"), g[0]));
    const d0 = gpu.stats().dispatches;
    const sums = sumMulti(groups);
    const used = gpu.stats().dispatches - d0;
    const expected = 1 + 1 + Math.ceil(n3 / sumSlots(3)); // 2 parts, 4 parts, the 3-part groups
    assert(used === expected, `expected ${expected} dispatches, got ${used}`);
    const a = await gpu.readMany(chained), b = await gpu.readMany(sums);
    for (let i = 0; i < a.length; i++) {
      const ua = new Uint32Array(a[i].buffer), ub = new Uint32Array(b[i].buffer);
      assert(ua.length === ub.length, `group ${i}: sizes differ`);
      for (let j = 0; j < ua.length; j++) {
        assert(ua[j] === ub[j], `group ${i} element ${j}: ${a[i][j]} (adds) vs ${b[i][j]}`);
      }
    }
    for (const t of [...groups.flat(), ...chained.filter((_, i) => counts[i] > 1), ...sums]) {
      t.release();
    }
  },
);

gpuTest("sumMulti() with masks equals reluGrad of the chained adds bit for bit", async () => {
  const gpu = getGpu();
  const r = rng(11);
  const groups: RawTensor[][] = [[700, 2], [9000, 3], [1, 1], [257, 2]].map(([size, m]) =>
    Array.from({ length: m }, () => gpu.upload(randArray(r, size, -1, 1), [size]))
  );
  const masks = groups.map((g) => gpu.upload(randArray(r, g[0].size, -1, 1), g[0].shape));
  const want = groups.map((g, i) =>
    reluGrad(g.slice(1).reduce((acc, t) => binary(acc, t, "add"), g[0]), masks[i])
  );
  const got = sumMulti(groups, masks);
  const a = await gpu.readMany(want), b = await gpu.readMany(got);
  for (let i = 0; i < a.length; i++) {
    const ua = new Uint32Array(a[i].buffer), ub = new Uint32Array(b[i].buffer);
    for (let j = 0; j < ua.length; j++) {
      assert(ua[j] === ub[j], `group ${i} element ${j}: ${a[i][j]} vs ${b[i][j]}`);
    }
  }
});
