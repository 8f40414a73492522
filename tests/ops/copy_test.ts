import { assert } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { getGpu } from "../../lib/gpu/runtime.ts";
import { broadcastTo, mergeDims, permute, slice } from "../../lib/ops/copy.ts";

Deno.test("mergeDims drops size-1 dimensions and merges those contiguous on both sides", () => {
  // a slice [:, 1:3, :] of [4, 5, 6] into a dense [4, 2, 6]: the two selected rows of each plane
  // are contiguous on both sides and merge; the planes (30 apart in the source) do not
  assert.deepEqual(mergeDims([4, 2, 6], [30, 6, 1], [12, 6, 1]), {
    shape: [4, 12],
    src: [30, 1],
    dst: [12, 1],
  });
  assert.deepEqual(mergeDims([2, 3, 4], [12, 4, 1], [12, 4, 1]), {
    shape: [24],
    src: [1],
    dst: [1],
  });
  assert.deepEqual(mergeDims([2, 1, 3], [3, 3, 1], [1, 2, 2]), {
    shape: [2, 3],
    src: [3, 1],
    dst: [1, 2],
  });
  assert.deepEqual(mergeDims([1, 1], [5, 1], [1, 1]), { shape: [1], src: [0], dst: [0] });
  assert.deepEqual(mergeDims([3, 4], [0, 1], [4, 1]), { shape: [3, 4], src: [0, 1], dst: [4, 1] });
});

gpuTest("permute, slice and broadcastTo of large tensors agree with JS", async () => {
  const gpu = getGpu();
  const [a, b, c, d] = [3, 40, 7, 90];
  const n = a * b * c * d;
  const host = Float32Array.from({ length: n }, (_, i) => i);
  const x = gpu.upload(host, [a, b, c, d], "f32");
  const p = permute(x, [0, 2, 1, 3]);
  const s = slice(x, [1, 5, 0, 10], [3, 35, 7, 80]);
  const one = gpu.upload(Float32Array.of(2.5), [1, 1], "f32");
  const bc = broadcastTo(one, [300, 70]);
  const [pr, sr, br] = await gpu.readMany([p, s, bc]) as Float32Array[];
  const at = (i: number, j: number, k: number, l: number) => ((i * b + j) * c + k) * d + l;
  let q = 0;
  for (let i = 0; i < a; i++) {
    for (let k = 0; k < c; k++) {
      for (let j = 0; j < b; j++) {
        for (let l = 0; l < d; l++, q++) {
          if (pr[q] !== host[at(i, j, k, l)]) assert.fail(`permute at ${q}`);
        }
      }
    }
  }
  q = 0;
  for (let i = 1; i < 3; i++) {
    for (let j = 5; j < 35; j++) {
      for (let k = 0; k < 7; k++) {
        for (let l = 10; l < 80; l++, q++) {
          if (sr[q] !== host[at(i, j, k, l)]) assert.fail(`slice at ${q}`);
        }
      }
    }
  }
  assert.equal(sr.length, q);
  assert.ok(br.length === 21000 && br.every((v) => v === 2.5), "broadcast of one value");
  for (const t of [x, p, s, one, bc]) t.release();
});
