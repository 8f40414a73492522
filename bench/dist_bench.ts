/**
 * Data-parallel figures under `mpirun` (skipped without it): the all-reduce throughput of 1-100 MB
 * float32 buffers over 2 ranks on this machine (algorithm bandwidth: bytes reduced per second;
 * the ring's bus bandwidth is 2(n-1)/n times that), and the step time of the tiny RetinaNet
 * (`tests/dist/_data.ts`: 64×64 images, batch 2 per rank) with 2 ranks against 1 process on the
 * same per-rank batch — the overhead of the gradient all-reduce, and on a small CPU machine of
 * the two ranks sharing its cores.
 */
import { join } from "node:path";
import { distCfgOptions, ensureDistData } from "../tests/dist/_data.ts";
import { findMpirun, mpirunArgs } from "../tests/dist/_mpirun.ts";
import type { BenchRecord } from "./_types.ts";

const CLI = new URL("../lib/cli/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../configs/retinanet/retinanet_tiny_shapes.ts", import.meta.url).pathname;
const DATA = new URL("../.cache/wgdet-tests/dist-data", import.meta.url).pathname;

async function exec(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (out.code !== 0) {
    throw new Error(
      `${cmd} ${args.slice(0, 6).join(" ")} failed:\n${dec.decode(out.stderr).slice(-2000)}`,
    );
  }
  return dec.decode(out.stdout);
}

/** Mean `time` of the train records after the first `skip` iterations of a work dir's JSON log. */
async function stepTime(workDir: string, skip: number): Promise<number> {
  const ts: number[] = [];
  for await (const e of Deno.readDir(workDir)) {
    if (!e.name.endsWith(".log.json")) continue;
    for (const l of (await Deno.readTextFile(join(workDir, e.name))).split("\n")) {
      if (!l.trim()) continue;
      const r = JSON.parse(l);
      if (r.mode === "train") ts.push(r.time);
    }
  }
  const rest = ts.slice(skip);
  return rest.reduce((a, b) => a + b, 0) / rest.length;
}

/** Runs the distributed benchmark. */
export async function run(_opts: { fallback: boolean }): Promise<BenchRecord[]> {
  const mpirun = findMpirun();
  if (!mpirun) {
    console.log(
      "dist_bench: mpirun not found (apt-get install -y openmpi-bin libopenmpi-dev); skipped",
    );
    return [];
  }
  const m = mpirunArgs(2);
  const records: BenchRecord[] = [];
  const ar = await exec(mpirun, [
    ...m.args,
    Deno.execPath(),
    "run",
    "-A",
    new URL("./_allreduce_main.ts", import.meta.url).pathname,
  ], m.env);
  for (const l of ar.split("\n").filter((x) => x.startsWith("{"))) {
    const r = JSON.parse(l) as { mb: number; worldSize: number; seconds: number };
    records.push({
      name: `allReduce ${r.mb} MB, ${r.worldSize} ranks`,
      value: (r.mb * 1024 * 1024) / r.seconds / 1e9,
      unit: "GB/s",
      notes: `${(r.seconds * 1000).toFixed(2)} ms, Open MPI shared memory`,
    });
  }

  const root = await ensureDistData(DATA);
  const dir = await Deno.makeTempDir({ prefix: "wgdet-dist-bench-" });
  try {
    const epochs = 10, skip = 3; // 2 ranks: 1 iteration per epoch, 1 process: 2; skip compiles
    const common = [
      "--no-validate",
      "--cfg-options",
      ...distCfgOptions(root, 2, epochs),
      "checkpoint_config.interval=100",
    ];
    await exec(Deno.execPath(), [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      CLI,
      "train",
      CONFIG,
      "--work-dir",
      join(dir, "one"),
      ...common,
    ]);
    await exec(mpirun, [
      ...m.args,
      Deno.execPath(),
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      CLI,
      "train",
      CONFIG,
      "--launcher",
      "mpi",
      "--work-dir",
      join(dir, "two"),
      ...common,
    ], m.env);
    const t1 = await stepTime(join(dir, "one"), skip), t2 = await stepTime(join(dir, "two"), skip);
    records.push({
      name: "tiny RetinaNet step, batch 2 per rank: 2 ranks",
      value: t2 * 1000,
      unit: "ms",
      peer: "1 process",
      peerValue: t1 * 1000,
      ratio: t2 / t1,
      notes: `overhead ${
        ((t2 / t1 - 1) * 100).toFixed(0)
      }%: all-reduce and ranks sharing ${navigator.hardwareConcurrency} cores`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return records;
}
