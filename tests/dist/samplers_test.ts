import { decodeResults, distParams, encodeResults } from "../../lib/apis/distributed.ts";
import { Config } from "../../lib/config/config.ts";
import {
  collectInterleaved,
  distributedGroupSamplerIndices,
  distributedGroupSamplerLength,
  distributedSamplerIndices,
} from "../../lib/datasets/dist_samplers.ts";
import { DataLoader } from "../../lib/datasets/loader.ts";
import type { DetDataset } from "../../lib/datasets/dataset_wrappers.ts";
import { ConfigError } from "../../lib/utils/errors.ts";
import { hashSeed, Rng } from "../../lib/utils/rng.ts";
import { assert } from "../_assert.ts";

const flag = [0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1]; // group 0: 5 images, group 1: 6

Deno.test("DistributedGroupSampler: per-rank shards of one global order, one group per batch", () => {
  for (const [b, w] of [[2, 2], [1, 3], [3, 2], [2, 4]]) {
    const len = distributedGroupSamplerLength(flag, b, w);
    // each group rounded up to a multiple of b·w, shared by w ranks
    assert.equal(len, (Math.ceil(5 / (b * w)) + Math.ceil(6 / (b * w))) * b);
    const shards = Array.from(
      { length: w },
      (_, r) => distributedGroupSamplerIndices(flag, b, w, r, new Rng(hashSeed(7, 3))),
    );
    const seen = new Set<number>();
    for (const s of shards) {
      assert.equal(s.length, len);
      for (let i = 0; i < s.length; i += b) {
        const g = flag[s[i]];
        for (let j = i; j < i + b; j++) assert.equal(flag[s[j]], g, `batch at ${i} mixes groups`);
      }
      for (const i of s) seen.add(i);
    }
    assert.equal(seen.size, flag.length, "the ranks together cover every image");
    // padding repeats a group's shuffled order from its start: each image at most ceil(.) times
    const counts = new Map<number, number>();
    for (const s of shards) for (const i of s) counts.set(i, (counts.get(i) ?? 0) + 1);
    for (const [i, c] of counts) {
      const size = flag.filter((f) => f === flag[i]).length;
      assert.ok(c <= Math.ceil(Math.ceil(size / (b * w)) * b * w / size), `image ${i} x${c}`);
    }
  }
  const e0 = distributedGroupSamplerIndices(flag, 2, 2, 0, new Rng(hashSeed(0, 0)));
  const e0b = distributedGroupSamplerIndices(flag, 2, 2, 0, new Rng(hashSeed(0, 0)));
  const e1 = distributedGroupSamplerIndices(flag, 2, 2, 0, new Rng(hashSeed(0, 1)));
  assert.deepStrictEqual(e0, e0b, "seeded");
  assert.notDeepStrictEqual(e0, e1, "reshuffled per epoch");
  assert.throws(() => distributedGroupSamplerIndices(flag, 2, 2, 2, new Rng(0)), RangeError);
});

Deno.test("DistributedSampler (test): interleaved shards, wrap-around padding, collected in order", () => {
  assert.deepStrictEqual(distributedSamplerIndices(5, 2, 0), [0, 2, 4]);
  assert.deepStrictEqual(distributedSamplerIndices(5, 2, 1), [1, 3, 0]);
  assert.deepStrictEqual(distributedSamplerIndices(2, 3, 2), [0]);
  for (const [n, w] of [[5, 2], [7, 3], [2, 4], [6, 3]]) {
    const parts = Array.from({ length: w }, (_, r) => distributedSamplerIndices(n, w, r));
    assert.deepStrictEqual(collectInterleaved(parts, n), Array.from({ length: n }, (_, i) => i));
  }
});

Deno.test("DataLoader with dist: length and batches of this rank's shard", () => {
  const ds = {
    flag: Uint8Array.from(flag),
    length: flag.length,
    getItem: () => ({}),
  } as unknown as DetDataset;
  const dl = new DataLoader(ds, { samples_per_gpu: 2, seed: 5, dist: { rank: 1, world_size: 2 } });
  assert.equal(dl.len(), distributedGroupSamplerLength(flag, 2, 2) / 2);
  assert.deepStrictEqual(
    dl.batchIndices(0).flat(),
    distributedGroupSamplerIndices(flag, 2, 2, 1, new Rng(hashSeed(5, 0, 0x5a4))),
  );
  const test = new DataLoader(ds, {
    samples_per_gpu: 2,
    shuffle: false,
    dist: { rank: 0, world_size: 2 },
  });
  assert.deepStrictEqual(test.batchIndices(0), [[0, 2], [4, 6], [8, 10]]);
  assert.equal(test.len(), 3);
});

Deno.test("results survive the byte encoding of the gather", () => {
  const r = [
    [
      Float32Array.from([1, 2, 3, 4, 0.5]),
      new Float32Array(0),
      Float32Array.from([0, 0, 1, 1, 0.1, 2, 2, 3, 3, 0.2]),
    ],
    [new Float32Array(0), new Float32Array(0), new Float32Array(0)],
  ];
  assert.deepStrictEqual(decodeResults(encodeResults(r)), r);
  assert.deepStrictEqual(decodeResults(encodeResults([])), []);
});

Deno.test("dist_params: backend, timeout and bucket_cap_mb are read; other keys are refused", () => {
  const cfg = (d: unknown) => new Config({ dist_params: d } as never, "x.ts");
  assert.deepStrictEqual(distParams(cfg({ backend: "nccl" })), {
    backend: "nccl",
    timeout: undefined,
    bucketCapMb: undefined,
  });
  assert.equal(distParams(cfg({ backend: "mpi", timeout: 30, bucket_cap_mb: 4 })).bucketCapMb, 4);
  assert.throws(() => distParams(cfg({ port: 29500 })), ConfigError);
  assert.throws(() => distParams(cfg({ backend: "tcp" })), ConfigError);
  assert.throws(() => distParams(cfg({ timeout: -1 })), ConfigError);
});
