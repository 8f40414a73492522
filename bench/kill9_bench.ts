/**
 * kill -9 bench: a child process saves checkpoints in a loop exactly as the runner does
 * (`saveCheckpoint` then `updateLatest`, 4 MiB of weights plus optimizer state per
 * checkpoint) and is killed with SIGKILL at a random moment; afterwards the work dir is
 * checked as `--auto-resume` sees it: `cleanTempFiles` removes the interrupted write's temp
 * files, `findLatestCheckpoint` picks a checkpoint, that checkpoint loads with its meta and
 * optimizer state, its weights belong to the epoch its meta names, it is the newest complete
 * one, and every other complete checkpoint loads too.
 *
 * Usage: deno run -A bench/kill9_bench.ts [--trials 30] [--seed 1] [--out FILE]
 */
import { join } from "node:path";
import {
  cleanTempFiles,
  findLatestCheckpoint,
  findTempFiles,
  incompleteReason,
  loadCheckpoint,
} from "../lib/runner/checkpoint.ts";
import { Rng } from "../lib/utils/rng.ts";
import { parseCli } from "../tools/_args.ts";

const { values } = await parseCli({
  usage: "Usage: deno run -A bench/kill9_bench.ts [--trials 30] [--seed 1] [--out FILE]",
  // imported by bench/main.ts: its arguments are not ours
  args: import.meta.main ? Deno.args : [],
  options: {
    trials: { type: "string", default: "30" },
    seed: { type: "string", default: "1" },
    out: { type: "string" },
  },
});
const trials = Number(values.trials), rng = new Rng(Number(values.seed));
const writer = new URL("../tests/runner/_crash_writer.ts", import.meta.url).pathname;
let ok = 0, tempLeft = 0, midWrite = 0;
const failures: string[] = [];
for (let t = 0; t < trials; t++) {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-kill9-" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", writer, dir, "loop"],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("saved 1")) seen += (await reader.read()).value ?? "";
    await new Promise((r) => setTimeout(r, rng.uniform(0, 400)));
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel().catch(() => {});
    const temps = await findTempFiles(dir);
    if (temps.length > 0) {
      tempLeft++;
      midWrite++;
    }
    const removed = await cleanTempFiles(dir);
    const chosen = await findLatestCheckpoint(dir);
    if (!chosen) throw new Error("no checkpoint chosen");
    const ck = await loadCheckpoint(chosen, { requireMeta: true });
    const epoch = ck.meta.epoch!;
    const w = ck.stateDict["backbone.w"].data as Float32Array;
    if (!w.every((x) => x === epoch)) {
      throw new Error(`weights of ${chosen} are not epoch ${epoch}`);
    }
    if (!ck.optimizer!.state["backbone.w.momentum_buffer"].data.every((x) => x === -epoch)) {
      throw new Error(`optimizer state of ${chosen} is not epoch ${epoch}`);
    }
    // newest complete, and every complete checkpoint loads
    for (const e of Deno.readDirSync(dir)) {
      const m = /^epoch_(\d+)\.safetensors$/.exec(e.name);
      if (!m) continue;
      const p = join(dir, e.name);
      if (await incompleteReason(p)) continue;
      if (Number(m[1]) > epoch) throw new Error(`${p} is newer than the chosen epoch ${epoch}`);
      await loadCheckpoint(p, { requireMeta: true });
    }
    if ((await findTempFiles(dir)).length !== 0 || removed.length !== temps.length) {
      throw new Error("temp files left after cleanTempFiles");
    }
    ok++;
  } catch (e) {
    failures.push(`trial ${t}: ${(e as Error).message}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
const result = {
  bench: "kill9_checkpoint_writes",
  trials,
  ok,
  killed_mid_write_left_temp_files: midWrite,
  temp_files_removed_by_next_start: tempLeft,
  failures,
};
console.log(JSON.stringify(result, null, 1));
if (values.out) await Deno.writeTextFile(values.out, JSON.stringify(result, null, 1) + "\n");
if (ok !== trials) Deno.exit(1);
