import { assert } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { getGpu } from "../../lib/gpu/runtime.ts";
import { broadcastTo, mergeDims, permute, slice, splitRows } from "../../lib/ops/copy.ts";

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

gpuTest(
  "splitRows() cuts [N, A(, W)] into per-level tensors equal to slices, any dtype",
  async () => {
    const gpu = getGpu();
    for (
      const [n, a, w, starts] of [
        [2, 13, 4, [0, 8, 11, 12]],
        [3, 7, 1, [0, 3]],
        [2, 20, 1, [0, 2, 5, 9, 14, 17, 19]], // more than 5 parts: split in two dispatches
        [1, 6, 4, [0]],
      ] as [number, number, number, number[]][]
    ) {
      const shape = w === 1 ? [n, a] : [n, a, w];
      const data = Int32Array.from({ length: n * a * w }, (_, i) => i * 7 - 50);
      const x = gpu.upload(data, shape, "i32");
      const parts = splitRows(x, starts);
      const got = await gpu.readMany(parts);
      starts.forEach((s, l) => {
        const e = starts[l + 1] ?? a;
        const want: number[] = [];
        for (let b = 0; b < n; b++) {
          for (let j = s; j < e; j++) {
            for (let k = 0; k < w; k++) want.push(data[(b * a + j) * w + k]);
          }
        }
        assert(parts[l].shape[1] === e - s && parts[l].dtype === "i32", `part ${l} shape`);
        assert(
          JSON.stringify([...got[l]]) === JSON.stringify(want),
          `${JSON.stringify(shape)} part ${l}: ${[...got[l]]} vs ${want}`,
        );
      });
      for (const t of [x, ...parts]) t.release();
    }
  },
);
