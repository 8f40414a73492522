/**
 * `configs/rpn/rpn_tiny_shapes.ts` trains end to end on the software adapter: RPN losses under
 * mmdetection's names, validation with `proposal_fast` (AR@100/300/1000 in the JSON log), a
 * checkpoint, and `testDetector` on it with `proposal_fast` and `proposal`.
 */
import { assert } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { testDetector } from "../../lib/apis/test.ts";
import { trainDetector } from "../../lib/apis/train.ts";
import { applyCfgOptions, loadConfig } from "../../lib/config/mod.ts";
import { ensureShapesDataset } from "../../lib/datasets/synthetic.ts";
import { CACHE, quietLogger } from "./_tiny.ts";

gpuTest(
  "rpn_tiny_shapes trains, validates with proposal_fast and tests with proposal",
  async () => {
    const cfg = await loadConfig(new URL("../../configs/rpn/rpn_tiny_shapes.ts", import.meta.url));
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
      "model.rpn_head.in_channels=16",
      "model.rpn_head.feat_channels=16",
      "data.samples_per_gpu=4",
      "data.workers_per_gpu=0",
      "+data.synthetic=None",
      ...["train", "val", "test"].map((s) => `data.${s}.data_root=${info.root}/`),
      "data.train.pipeline.2.img_scale=[64,64]",
      "data.val.pipeline.1.img_scale=[64,64]",
      "data.test.pipeline.1.img_scale=[64,64]",
      "lr_config.warmup_iters=2",
      "log_config.interval=1",
      "runner.max_epochs=2",
      "evaluation.interval=2",
    ], { warn: () => {} });
    const dir = await Deno.makeTempDir({ prefix: "wgdet-rpn-" });
    try {
      const ts = "20260101_000000";
      const r = await trainDetector(cfg, {
        workDir: dir,
        timestamp: ts,
        validate: true,
        seed: 0,
        logger: quietLogger(dir, ts),
      });
      r.model.dispose();
      const recs = (await Deno.readTextFile(`${dir}/${ts}.log.json`)).split("\n").filter((l) =>
        l.trim()
      ).map((l) => JSON.parse(l));
      const train = recs.filter((x) => x.mode === "train");
      assert.equal(train.length, 4, "2 epochs of 2 iterations");
      for (const t of train) {
        for (const k of ["loss_rpn_cls", "loss_rpn_bbox", "loss"]) {
          assert.ok(Number.isFinite(t[k]) && t[k] >= 0, `${k} = ${t[k]}`);
        }
      }
      const val = recs.filter((x) => x.mode === "val");
      assert.equal(val.length, 1);
      for (const k of ["AR@100", "AR@300", "AR@1000"]) {
        assert.ok(val[0][k] >= 0 && val[0][k] <= 1, `${k} = ${val[0][k]}`);
      }
      const m = await testDetector(cfg, `${dir}/epoch_2.safetensors`, {
        eval: ["proposal_fast", "proposal"],
        log: () => {},
      });
      for (const k of ["AR@100", "AR@300", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000"]) {
        const v = (m as Record<string, number>)[k];
        // pycocotools' -1: no gt in that area range (64×64 images have no medium/large objects)
        assert.ok(typeof v === "number" && (v === -1 || (v >= 0 && v <= 1)), `${k} = ${v}`);
      }
      assert.ok((m as Record<string, number>)["AR@1000"] >= 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
