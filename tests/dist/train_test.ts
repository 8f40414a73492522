/**
 * Data-parallel training and testing under `mpirun -n 2` on one machine (each rank on the
 * software adapter), through the CLI exactly as a user runs it:
 *
 * - two ranks with batch 2 each end, after 3 SGD steps, with the parameters of one process with
 *   batch 4 on the same 4 images (1e-5), and only rank 0 wrote logs and checkpoints;
 * - a 2-process evaluation gives the detections and COCO numbers of a 1-process one exactly;
 * - kill -9 of one rank ends the job within a bounded time with a clear message, the last
 *   checkpoint is intact, and both ranks resume from it.
 *
 * Skipped with a message when `mpirun` is missing (`apt-get install -y openmpi-bin
 * libopenmpi-dev`) or there is no WebGPU adapter.
 */
import { join } from "node:path";
import { loadCheckpoint } from "../../lib/runner/checkpoint.ts";
import { assert } from "../_assert.ts";
import { hasAdapter } from "../_gpu.ts";
import { distCfgOptions, ensureDistData } from "./_data.ts";
import { findMpirun, MPI_SKIP, mpirunArgs, mpirunDeno, type MpiRunResult } from "./_mpirun.ts";

const CLI = new URL("../../lib/cli/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../../configs/retinanet/retinanet_tiny_shapes.ts", import.meta.url)
  .pathname;
const DATA = new URL("../../.cache/wgdet-tests/dist-data", import.meta.url).pathname;

async function single(args: string[]): Promise<MpiRunResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", CLI, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function report(r: MpiRunResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${
    r.stderr.slice(-3000)
  }`;
}

/** The COCO line `bbox_mAP: ..., ...` a test run prints. */
function metricsLine(out: string): string {
  const l = out.split("\n").find((x) => x.startsWith("bbox_mAP:"));
  assert.ok(l, `no metrics line in\n${out}`);
  return l!;
}

const SKIP = MPI_SKIP ?? (hasAdapter ? null : "no WebGPU adapter");

Deno.test({
  name: "mpirun -n 2: batch 2 per rank equals batch 4 in one process; test shards gather exactly",
  ignore: SKIP !== null,
  sanitizeResources: false,
  fn: async () => {
    const root = await ensureDistData(DATA);
    const dir = await Deno.makeTempDir({ prefix: "wgdet-dist-" });
    try {
      const a = join(dir, "single"), b = join(dir, "dist");
      const one = await single([
        "train",
        CONFIG,
        "--no-validate",
        "--work-dir",
        a,
        "--cfg-options",
        ...distCfgOptions(root, 4, 3),
      ]);
      assert.equal(one.code, 0, report(one));
      const two = await mpirunDeno(2, CLI, [
        "train",
        CONFIG,
        "--launcher",
        "mpi",
        "--no-validate",
        "--work-dir",
        b,
        "--cfg-options",
        ...distCfgOptions(root, 2, 3),
      ]);
      assert.equal(two.code, 0, report(two));
      assert.match(two.stdout, /Distributed: rank 0 of 2/);
      assert.doesNotMatch(two.stdout, /Distributed: rank 1 of 2/, "rank 1 logs nothing");
      const logs = [...Deno.readDirSync(b)].filter((e) => e.name.endsWith(".log.json"));
      assert.equal(logs.length, 1, "one JSON log, written by rank 0");
      const sa = (await loadCheckpoint(join(a, "epoch_3.safetensors"))).stateDict;
      const sb = (await loadCheckpoint(join(b, "epoch_3.safetensors"))).stateDict;
      const s0 = (await loadCheckpoint(join(a, "epoch_1.safetensors"))).stateDict;
      let maxDiff = 0, moved = 0, worst = "";
      for (const k of Object.keys(sa)) {
        const x = sa[k].data, y = sb[k].data, z = s0[k].data;
        assert.equal(y.length, x.length, k);
        for (let i = 0; i < x.length; i++) {
          const d = Math.abs(Number(x[i]) - Number(y[i])) / (1 + Math.abs(Number(x[i])));
          if (d > maxDiff) [maxDiff, worst] = [d, `${k}[${i}]: ${x[i]} vs ${y[i]}`];
          moved = Math.max(moved, Math.abs(Number(x[i]) - Number(z[i])));
        }
      }
      assert.ok(moved > 1e-4, `steps 2-3 changed the weights (max change ${moved})`);
      assert.ok(maxDiff <= 1e-5, `2 ranks × batch 2 vs 1 × batch 4 after 3 steps: ${worst}`);

      // evaluation of the trained weights: 5 images, 1 vs 2 processes
      const ckpt = join(a, "epoch_3.safetensors");
      const cfgOpts = ["--cfg-options", ...distCfgOptions(root, 4, 3)];
      const ra = join(dir, "single.json"), rb = join(dir, "dist.json");
      const ta = await single(["test", CONFIG, ckpt, "--eval", "bbox", "--out", ra, ...cfgOpts]);
      assert.equal(ta.code, 0, report(ta));
      const tb = await mpirunDeno(2, CLI, [
        "test",
        CONFIG,
        ckpt,
        "--launcher",
        "mpi",
        "--eval",
        "bbox",
        "--out",
        rb,
        ...cfgOpts,
      ]);
      assert.equal(tb.code, 0, report(tb));
      const ja = JSON.parse(await Deno.readTextFile(ra)),
        jb = JSON.parse(await Deno.readTextFile(rb));
      assert.equal(ja.length, 5);
      assert.deepStrictEqual(jb, ja, "the gathered detections equal one process's");
      const dets = ja.flat().reduce((n: number, c: number[][]) => n + c.length, 0);
      assert.ok(dets > 0, "the model detects something");
      assert.equal(metricsLine(tb.stdout), metricsLine(ta.stdout));
      assert.equal(tb.stdout.split("\n").filter((l) => l.startsWith("bbox_mAP:")).length, 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "mpirun -n 2: kill -9 of a rank ends the job with a clear error; the checkpoint resumes",
  ignore: SKIP !== null,
  sanitizeResources: false,
  fn: async () => {
    const root = await ensureDistData(DATA);
    const dir = await Deno.makeTempDir({ prefix: "wgdet-dist-kill-" });
    try {
      const m = mpirunArgs(2);
      const args = [
        "train",
        CONFIG,
        "--launcher",
        "mpi",
        "--no-validate",
        "--work-dir",
        dir,
        "--cfg-options",
        ...distCfgOptions(root, 2, 500),
        "+dist_params.timeout=60",
      ];
      const child = new Deno.Command(findMpirun()!, {
        args: [...m.args, Deno.execPath(), "run", "-A", "--v8-flags=--expose-gc", CLI, ...args],
        env: { ...m.env, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const dec = new TextDecoder();
      let stderr = "";
      const errDone = (async () => {
        for await (const c of child.stderr) stderr += dec.decode(c);
      })();
      const outDone = (async () => {
        for await (const _ of child.stdout) { /* drain */ }
      })();
      // wait for the second checkpoint, then kill rank 1
      const t0 = Date.now();
      while (!(await Deno.stat(join(dir, "epoch_2.json")).then(() => true, () => false))) {
        assert.ok(Date.now() - t0 < 120_000, `no checkpoint after 120 s:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const rank1 = rankPid(child.pid, 1);
      assert.ok(rank1, "found the process of rank 1");
      Deno.kill(rank1!, "SIGKILL");
      const killed = Date.now();
      const status = await child.status;
      await errDone;
      await outDone;
      const took = (Date.now() - killed) / 1000;
      assert.notEqual(status.code, 0, "the job fails");
      assert.ok(took < 30, `the job ended ${took} s after the kill`);
      assert.match(
        stderr,
        /exited on signal 9|terminated by the MPI launcher|did not complete within/,
        `a clear error:\n${stderr}`,
      );
      // the newest checkpoint loads, and both ranks resume from it
      const latest = (await Deno.readTextFile(join(dir, "latest"))).trim();
      const n = Number(latest.match(/epoch_(\d+)/)![1]);
      assert.ok(n >= 2, latest);
      await loadCheckpoint(join(dir, latest));
      // (with the sharded evaluation of training: its numbers are those of one process)
      const resumed = await mpirunDeno(2, CLI, [
        ...args.slice(0, 4),
        ...args.slice(5, 7),
        "--auto-resume",
        "--cfg-options",
        ...distCfgOptions(root, 2, n + 1),
        "evaluation.interval=1",
      ]);
      assert.equal(resumed.code, 0, report(resumed));
      assert.match(resumed.stdout, new RegExp(`resumed epoch ${n}`));
      const last = join(dir, `epoch_${n + 1}.safetensors`);
      await loadCheckpoint(last);
      const copypaste = (out: string) => {
        const m = out.match(/bbox_mAP_copypaste: ([-\d. ]+)/);
        assert.ok(m, `no COCO numbers in\n${out.slice(-2000)}`);
        return m![1].trim();
      };
      const one = await single([
        "test",
        CONFIG,
        last,
        "--eval",
        "bbox",
        "--cfg-options",
        ...distCfgOptions(root, 2, n + 1),
      ]);
      assert.equal(one.code, 0, report(one));
      assert.equal(copypaste(resumed.stdout), copypaste(one.stdout));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** The pid of the child of `mpirun` (`parent`) whose OMPI_COMM_WORLD_RANK is `rank`. */
function rankPid(parent: number, rank: number): number | null {
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== parent) continue;
      const env = Deno.readTextFileSync(`/proc/${e.name}/environ`).split("\0");
      if (env.includes(`OMPI_COMM_WORLD_RANK=${rank}`)) return Number(e.name);
    } catch { /* gone */ }
  }
  return null;
}
