/**
 * kill -9 of a real training run: `deno task train` (the tiny RetinaNet, narrowed, on 8 synthetic
 * 64×64 images, a checkpoint every epoch of 2 iterations) is killed with SIGKILL at a random
 * moment after its first checkpoint; then, as a user would, the same command runs again with
 * `--auto-resume` for one more epoch. A trial passes when the resumed run exits 0, its log says
 * it resumed from the checkpoint `findLatestCheckpoint` chose (the newest complete one), and every
 * complete checkpoint of the work dir loads.
 *
 * Usage: deno run -A bench/kill9_train.ts [--trials 20] [--seed 7] [--out FILE]
 */
import { join } from "../lib/utils/path.ts";
import {
  findLatestCheckpoint,
  incompleteReason,
  loadCheckpoint,
} from "../lib/runner/checkpoint.ts";
import { Rng } from "../lib/utils/rng.ts";
import { int, parseCli } from "../tools/_args.ts";

const { values } = await parseCli({
  usage: "Usage: deno run -A bench/kill9_train.ts [--trials 20] [--seed 7] [--out FILE]",
  options: {
    trials: { type: "string", default: "20" },
    seed: { type: "string", default: "7" },
    out: { type: "string" },
  },
});
const trials = int("trials", values.trials);
const root = new URL("../", import.meta.url).pathname;
const rng = new Rng(int("seed", values.seed));
const NARROW = [
  "model.backbone.base_channels=8",
  "model.neck.in_channels=[8,16,32,64]",
  "model.neck.out_channels=16",
  "model.bbox_head.in_channels=16",
  "model.bbox_head.feat_channels=16",
  "model.bbox_head.norm_cfg.num_groups=8",
  "data.samples_per_gpu=4",
  "data.workers_per_gpu=0",
  "data.synthetic.num_train=8",
  "data.synthetic.num_val=4",
  "data.synthetic.img_size=64",
  "data.synthetic.cache_dir=.cache/wgdet-kill9",
  "data.train.pipeline.2.img_scale=[64,64]",
  "data.val.pipeline.1.img_scale=[64,64]",
  "data.test.pipeline.1.img_scale=[64,64]",
  "lr_config.warmup_iters=2",
  "log_config.interval=1",
  "checkpoint_config.interval=1",
  "checkpoint_config.max_keep_ckpts=-1",
];
const train = (dir: string, epochs: number, extra: string[] = []) =>
  new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "lib/cli/main.ts",
      "train",
      "configs/retinanet/retinanet_tiny_shapes.ts",
      "--work-dir",
      dir,
      "--no-validate",
      ...extra,
      "--cfg-options",
      ...NARROW,
      `runner.max_epochs=${epochs}`,
    ],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  });

let ok = 0, killedAfterEpochs = 0;
const failures: string[] = [];
for (let t = 0; t < trials; t++) {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-kill9-train-" });
  try {
    const child = train(dir, 1000).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("Saving checkpoint at 1 epochs")) {
      const r = await reader.read();
      if (r.done) throw new Error("training ended before its first checkpoint");
      seen += r.value;
    }
    // somewhere in the next few epochs: mid-iteration, mid-checkpoint-write or between
    await new Promise((r) => setTimeout(r, rng.uniform(0, 3000)));
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    const chosen = await findLatestCheckpoint(dir);
    if (!chosen) throw new Error("no checkpoint to resume from");
    const ck = await loadCheckpoint(chosen, { requireMeta: true });
    const epoch = ck.meta.epoch!;
    killedAfterEpochs += epoch;
    for (const e of Deno.readDirSync(dir)) {
      if (!/^epoch_\d+\.safetensors$/.test(e.name)) continue;
      const p = join(dir, e.name);
      if (await incompleteReason(p)) continue;
      await loadCheckpoint(p, { requireMeta: true });
    }
    const resumed = await train(dir, epoch + 1, ["--auto-resume"]).output();
    const out = new TextDecoder().decode(resumed.stdout) + new TextDecoder().decode(resumed.stderr);
    if (resumed.code !== 0) throw new Error(`resume exited ${resumed.code}: ${out.slice(-400)}`);
    if (!out.includes(`resumed epoch ${epoch},`)) {
      throw new Error(`the resumed run does not say it resumed: ${out.slice(0, 400)}`);
    }
    if (!(await Deno.stat(join(dir, `epoch_${epoch + 1}.safetensors`)).catch(() => null))) {
      throw new Error(`the resumed run did not write epoch_${epoch + 1}`);
    }
    ok++;
  } catch (e) {
    failures.push(`trial ${t}: ${(e as Error).message}`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
const result = {
  bench: "kill9_train",
  trials,
  ok,
  mean_epochs_completed_at_kill: killedAfterEpochs / Math.max(ok, 1),
  failures,
};
console.log(JSON.stringify(result, null, 1));
if (values.out) await Deno.writeTextFile(values.out, JSON.stringify(result, null, 1) + "\n");
if (ok !== trials) Deno.exit(1);
