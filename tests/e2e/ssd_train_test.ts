/**
 * The small SSD config (configs/ssd/ssd_tiny_shapes.ts), narrowed, trains on synthetic shapes in
 * the test suite: the loss falls, training does not read back, and validation runs the SSD
 * inference path (softmax scores, per-level anchor counts) to a COCO evaluation.
 */
import { assert } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { trainDetector } from "../../lib/apis/train.ts";
import { applyCfgOptions, loadConfig } from "../../lib/config/mod.ts";
import { ensureShapesDataset } from "../../lib/datasets/synthetic.ts";
import { CACHE, quietLogger, trainLogs } from "./_tiny.ts";

async function ssdTinyConfig(extra: string[]) {
  const cfg = await loadConfig(new URL("../../configs/ssd/ssd_tiny_shapes.ts", import.meta.url));
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
    "model.neck.in_channels=[16,32]",
    "model.neck.out_channels=[16,32,32,32]",
    "model.bbox_head.in_channels=[16,32,32,32]",
    "data.samples_per_gpu=4",
    "data.workers_per_gpu=0",
    "+data.synthetic=None",
    ...["train", "val", "test"].map((s) => `data.${s}.data_root=${info.root}/`),
    "data.train.pipeline.5.img_scale=[64,64]",
    "data.val.pipeline.1.img_scale=[64,64]",
    "data.test.pipeline.1.img_scale=[64,64]",
    "lr_config.warmup_iters=4",
    "log_config.interval=1",
    "checkpoint_config.interval=100",
    "evaluation.save_best=None",
    ...extra,
  ], { warn: () => {} });
  return cfg;
}

gpuTest(
  "the tiny SSD trains on synthetic shapes (loss falls ≥ 10% in 30 iterations) and validates with COCO bbox mAP",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "wgdet-ssd-" });
    try {
      // 8 images, batch 4: 2 iterations per epoch, 15 epochs, validation after the last
      const cfg = await ssdTinyConfig([
        "runner.max_epochs=15",
        "lr_config.step=[100]",
        "evaluation.interval=15",
      ]);
      const timestamp = "20260101_000000";
      const r = await trainDetector(cfg, {
        workDir: dir,
        timestamp,
        validate: true,
        seed: 0,
        logger: quietLogger(dir, timestamp),
      });
      r.model.dispose();
      const logs = await trainLogs(dir);
      assert.equal(logs.length, 30);
      for (const l of logs) {
        assert.ok(Number.isFinite(l.loss_cls) && Number.isFinite(l.loss_bbox), JSON.stringify(l));
      }
      const first = (logs[0].loss + logs[1].loss + logs[2].loss) / 3;
      const last = (logs[27].loss + logs[28].loss + logs[29].loss) / 3;
      assert.ok(
        last < 0.9 * first,
        `loss fell from ${first.toFixed(4)} to ${last.toFixed(4)}, less than 10%`,
      );
      const val: Record<string, number>[] = [];
      for await (const e of Deno.readDir(dir)) {
        if (!e.name.endsWith(".log.json")) continue;
        for (const line of (await Deno.readTextFile(`${dir}/${e.name}`)).split("\n")) {
          if (line.trim() && JSON.parse(line).mode === "val") val.push(JSON.parse(line));
        }
      }
      assert.equal(val.length, 1, "one validation");
      const m = val[0].bbox_mAP;
      assert.ok(Number.isFinite(m) && m >= 0 && m <= 1, `bbox_mAP ${m}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
