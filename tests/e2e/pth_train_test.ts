/**
 * PyTorch `.pth` checkpoints through `trainDetector` (GPU): a wgdet checkpoint converted to mmcv's
 * `.pth` layout is honoured by `load_from`, by `backbone.init_cfg` Pretrained with a prefix, and by
 * `resume_from` (epoch and iteration counters continue).
 */
import { join } from "node:path";
import { assert } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import type { Config } from "../../lib/config/mod.ts";
import { trainDetector } from "../../lib/apis/train.ts";
import { loadCheckpoint } from "../../lib/runner/checkpoint.ts";
import { convertCheckpoint } from "../../lib/runner/convert.ts";
import { quietLogger, tinyConfig, trainLogs } from "./_tiny.ts";

async function run(cfg: Config, workDir: string) {
  await Deno.mkdir(workDir, { recursive: true });
  const r = await trainDetector(cfg, {
    workDir,
    timestamp: "20260101_000000",
    validate: false,
    seed: 0,
    logger: quietLogger(workDir, "20260101_000000"),
  });
  r.model.dispose();
}

const CONV = "backbone.layer2.0.conv1.weight";
const NECK = "neck.fpn_convs.0.conv.weight";

gpuTest("load_from, init_cfg Pretrained (prefix) and resume_from accept an mmcv .pth", async () => {
  const root = await Deno.makeTempDir({ prefix: "wgdet-pth-e2e-" });
  try {
    const a = join(root, "a");
    await run(await tinyConfig(["runner.max_epochs=1"]), a);
    const pth = join(root, "a_epoch_1.pth");
    await convertCheckpoint(join(a, "epoch_1.safetensors"), pth);
    const trained = (await loadCheckpoint(join(a, "epoch_1.safetensors"))).stateDict;

    // load_from with lr 0: the conv weights stay those of the .pth
    const b = join(root, "b");
    await run(await tinyConfig(["runner.max_epochs=1", "optimizer.lr=0", `+load_from=${pth}`]), b);
    const wb = (await loadCheckpoint(join(b, "epoch_1.safetensors"))).stateDict;
    assert.deepEqual(wb[CONV].data, trained[CONV].data, "load_from loaded the .pth");
    assert.deepEqual(wb[NECK].data, trained[NECK].data);

    // backbone init_cfg Pretrained with prefix: the backbone comes from the .pth, the neck does not
    const c = join(root, "c");
    const cfg = await tinyConfig(["runner.max_epochs=1", "optimizer.lr=0"]);
    (cfg.dict.model as { backbone: Record<string, unknown> }).backbone.init_cfg = {
      type: "Pretrained",
      checkpoint: pth,
      prefix: "backbone.",
    };
    await run(cfg, c);
    const wc = (await loadCheckpoint(join(c, "epoch_1.safetensors"))).stateDict;
    assert.deepEqual(wc[CONV].data, trained[CONV].data, "Pretrained loaded the backbone");
    assert.notDeepEqual(wc[NECK].data, trained[NECK].data, "the neck keeps its own init");

    // resume_from: epoch 1 is done, only epoch 2 trains
    const d = join(root, "d");
    await run(await tinyConfig(["runner.max_epochs=2", `+resume_from=${pth}`]), d);
    const logs = await trainLogs(d);
    assert.equal(logs.length, 2);
    assert.ok(logs.every((l) => l.epoch === 2));
    assert.equal((await loadCheckpoint(join(d, "epoch_2.safetensors"))).meta.iter, 4);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
