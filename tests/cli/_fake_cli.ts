// Helper for cli_test.ts: the real CLI with fake training/testing APIs. FAKE_API selects a
// behaviour: "ok" (build the model from a fake registry, write a log and a checkpoint pointer),
// "crash" (write the log, then fail),
// "gpu" (no adapter), "nodata" (missing dataset folder).
import { join } from "node:path";
import type { Apis } from "../../lib/cli/actions.ts";
import { main } from "../../lib/cli/main.ts";
import { GpuUnavailableError } from "../../lib/utils/errors.ts";
import { Registry } from "../../lib/utils/registry.ts";

class RetinaNet {
  readonly cfg: unknown;
  // copies (reads) every key, as a real component reads its keys (Registry.build refuses unread ones)
  constructor(cfg: unknown) {
    this.cfg = { ...(cfg as object) };
  }
}
const DETECTORS = new Registry<RetinaNet>("DETECTORS");
DETECTORS.register("RetinaNet", RetinaNet);

const mode = Deno.env.get("FAKE_API") ?? "ok";
const fail = () => {
  if (mode === "gpu") throw new GpuUnavailableError();
  if (mode === "nodata") {
    throw new Deno.errors.NotFound(
      'Cannot read annotations "data/coco/annotations/instances_train2017.json": folder "data/coco" does not exist',
    );
  }
};

const apis: Apis = {
  train: {
    async trainDetector(cfg, opts) {
      fail();
      DETECTORS.build(cfg.dict.model as { type: string });
      const log = [{ exp_name: opts.meta?.exp_name }, {
        mode: "train",
        epoch: 1,
        iter: 2,
        lr: 0.01,
        loss: 1.5,
      }, { mode: "val", epoch: 1, iter: 1, bbox_mAP: 0.5 }];
      await Deno.writeTextFile(
        join(opts.workDir, `${opts.timestamp}.log.json`),
        log.map((r) => JSON.stringify(r)).join("\n") + "\n",
      );
      if (mode === "crash") throw new Error("Loss is not finite at epoch 1, iter 2");
      await Deno.writeTextFile(join(opts.workDir, "latest"), "epoch_1.safetensors\n");
      console.log(
        `fake train: validate=${opts.validate} seed=${opts.seed} lr=${cfg.get("optimizer.lr")}`,
      );
    },
  },
  test: {
    async testDetector(cfg, checkpoint, opts) {
      fail();
      console.log(`fake test: ${cfg.name} ${checkpoint} ${JSON.stringify(opts)}`);
    },
  },
  infer: {
    async inferImages(_cfg, _checkpoint, images, opts) {
      fail();
      console.log(`fake infer: ${images.length} images to ${opts.outDir} at ${opts.scoreThr}`);
    },
  },
};

Deno.exit(await main(Deno.args, { apis: async (name) => apis[name] }));
