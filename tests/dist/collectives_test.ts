import { assert } from "../_assert.ts";

import { DistUnavailableError, getDistInfo, initDist } from "../../lib/dist/mod.ts";
import { allReduce } from "../../lib/dist/mod.ts";
import { jsonLines, MPI_SKIP, mpirunDeno } from "./_mpirun.ts";
import { hasAdapter } from "../_gpu.ts";

Deno.test("dist: without a launcher the collectives are those of a world of one", async () => {
  const info = await initDist({ launcher: "none" });
  assert.deepStrictEqual([info.rank, info.worldSize, info.launcher], [0, 1, "none"]);
  const a = new Float32Array([1, 2]);
  assert.deepStrictEqual(Array.from(await allReduce(a, "mean")), [1, 2]);
  assert.deepStrictEqual(getDistInfo().worldSize, 1);
});

Deno.test("dist: a missing MPI library names the packages to install", async () => {
  let err: unknown = null;
  try {
    await initDist({ launcher: "mpi", libPath: "/nonexistent/libmpi.so.40" });
  } catch (e) {
    err = e;
  }
  assert(err instanceof DistUnavailableError, `expected DistUnavailableError, got ${err}`);
  assert(/openmpi-bin libopenmpi-dev/.test((err as Error).message), (err as Error).message);
  assert(/\/nonexistent\/libmpi\.so\.40/.test((err as Error).message), (err as Error).message);
});

interface Out {
  rank: number;
  worldSize: number;
  localRank: number;
  localSize: number;
  a: number[];
  m: number[];
  b: number[];
  bb: string;
  g: number[][];
  j: { rank: number; tag: string }[];
}

Deno.test({
  name: "dist: mpirun -n 3 runs allReduce, broadcast, barrier and allGather across ranks",
  ignore: MPI_SKIP !== null,
  fn: async () => {
    const r = await mpirunDeno(3, new URL("./_collectives_main.ts", import.meta.url).pathname);
    assert.deepStrictEqual(r.code, 0, r.stderr);
    const outs = jsonLines<Out>(r.stdout).sort((a, b) => a.rank - b.rank);
    assert.deepStrictEqual(outs.map((o) => o.rank), [0, 1, 2]);
    for (const o of outs) {
      assert.deepStrictEqual([o.worldSize, o.localSize], [3, 3]);
      assert.deepStrictEqual(o.localRank, o.rank);
      // sum over ranks of rank*1000 + i = 3000 + 3i
      assert.deepStrictEqual(o.a, [3000, 3003, 3000 + 3 * 999]);
      assert.deepStrictEqual(o.m, [2, 2]); // mean of 1,2,3 and of 0,2,4
      assert.deepStrictEqual(o.b, [7, 8, 9]);
      assert.deepStrictEqual(o.bb, "hello from 0");
      assert.deepStrictEqual(o.g, [[10], [11, 11], [12, 12, 12]]);
      assert.deepStrictEqual(o.j.map((x) => x.tag), ["r0", "r1", "r2"]);
    }
  },
});

Deno.test({
  name: "dist: a collective that outlives the timeout aborts the whole job, naming it",
  ignore: MPI_SKIP !== null,
  fn: async () => {
    const t0 = Date.now();
    const r = await mpirunDeno(2, new URL("./_stall_main.ts", import.meta.url).pathname, [], {
      timeoutMs: 30_000,
    });
    const took = (Date.now() - t0) / 1000;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /rank 0: barrier did not complete within 1 s/, r.stderr);
    assert.doesNotMatch(r.stdout, /unreachable/);
    assert.ok(took < 20, `the job ended after ${took} s`);
  },
});

interface ReducerOut {
  rank: number;
  buckets: number[];
  readbacks: number;
  frozenGrad: boolean;
  grads: number[][];
}

Deno.test({
  name: "dist: GradientAllReducer averages gradients in buckets, one readback per bucket",
  ignore: MPI_SKIP !== null || !hasAdapter,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "wgdet-reducer-" });
    const r = await mpirunDeno(2, new URL("./_reducer_main.ts", import.meta.url).pathname, [dir]);
    assert.equal(r.code, 0, r.stderr);
    const outs: ReducerOut[] = [0, 1].map((k) =>
      JSON.parse(Deno.readTextFileSync(`${dir}/rank${k}.json`))
    );
    await Deno.remove(dir, { recursive: true });
    assert.equal(outs.length, 2);
    const sizes = [3, 700, 64, 1, 1500, 33];
    for (const o of outs) {
      // last parameters first, at most 1000 floats a bucket unless one is larger:
      // [33], [1500], [1, 64, 700, 3]
      assert.deepStrictEqual(o.buckets, [33, 1500, 768]);
      assert.equal(o.readbacks, 3);
      assert.ok(o.frozenGrad, "parameters without requiresGrad are left alone");
      sizes.forEach((n, k) => {
        const want = Array.from({ length: n }, (_, i) =>
          // mean over ranks 1 and 2 of (r+1)(k+1)(i+1); parameter 2 is zero on rank 1
          k === 2 ? (k + 1) * (i + 1) / 2 : 1.5 * (k + 1) * (i + 1));
        assert.deepStrictEqual(o.grads[k], want, `parameter ${k} on rank ${o.rank}`);
      });
    }
  },
});
