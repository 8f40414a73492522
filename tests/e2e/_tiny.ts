/**
 * A tiny RetinaNet training setup for end-to-end tests: the real `retinanet_tiny_shapes` config,
 * narrowed (ResNet-18 at width 8, 16-channel FPN and head) on 64×64 synthetic shapes, in-process
 * data loading, and a temporary work dir.
 */
import { applyCfgOptions, type Config, loadConfig } from "../../lib/config/mod.ts";
import { ensureShapesDataset } from "../../lib/datasets/synthetic.ts";
import { RunnerLogger } from "../../lib/runner/logger.ts";

export const CACHE = new URL("../../.cache/wgdet-tests/", import.meta.url).pathname;

/** The tiny config with its synthetic data generated (once) and `extra` cfg-options applied. */
export async function tinyConfig(extra: string[] = []): Promise<Config> {
  const cfg = await loadConfig(
    new URL("../../configs/retinanet/retinanet_tiny_shapes.ts", import.meta.url),
  );
  const info = await ensureShapesDataset(CACHE, {
    numTrain: 8,
    numVal: 4,
    imgSize: 64,
    seed: 3,
    objectSize: [14, 32],
    objectsPerImage: [1, 3],
  });
  applyCfgOptions(cfg, [
    "model.backbone.base_channels=8",
    "model.neck.in_channels=[8,16,32,64]",
    "model.neck.out_channels=16",
    "model.bbox_head.in_channels=16",
    "model.bbox_head.feat_channels=16",
    "model.bbox_head.norm_cfg.num_groups=8",
    "data.samples_per_gpu=4",
    "data.workers_per_gpu=0",
    "+data.synthetic=None",
    ...["train", "val", "test"].map((s) => `data.${s}.data_root=${info.root}/`),
    "data.train.pipeline.2.img_scale=[64,64]",
    "data.val.pipeline.1.img_scale=[64,64]",
    "data.test.pipeline.1.img_scale=[64,64]",
    "lr_config.warmup_iters=4",
    "log_config.interval=1",
    "checkpoint_config.max_keep_ckpts=-1",
    "evaluation.save_best=None",
    ...extra,
  ], { warn: () => {} });
  return cfg;
}

/** A logger that keeps its lines in memory (and writes the usual files into the work dir). */
export function quietLogger(workDir: string, timestamp: string): RunnerLogger {
  return new RunnerLogger({ logFile: `${workDir}/${timestamp}.log`, console: false });
}

/** The `mode: "train"` records of the work dir's JSON log, in order. */
export async function trainLogs(workDir: string): Promise<Record<string, number>[]> {
  const out: Record<string, number>[] = [];
  for await (const e of Deno.readDir(workDir)) {
    if (!e.name.endsWith(".log.json")) continue;
    for (const line of (await Deno.readTextFile(`${workDir}/${e.name}`)).split("\n")) {
      if (!line.trim()) continue;
      const r = JSON.parse(line);
      if (r.mode === "train") out.push(r);
    }
  }
  return out.sort((a, b) => a.epoch - b.epoch || a.iter - b.iter);
}
