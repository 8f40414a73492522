/**
 * `deno task benchmark CONFIG CHECKPOINT [--max-iter N] [--num-warmup W] [--log-interval L]`:
 * inference speed in images/s over the test set after `W` warm-up images (whose pipelines are
 * compiled and cached), as mmdetection's `tools/analysis_tools/benchmark.py`. Each image is timed
 * from the host batch to its detections read back (so the GPU work is finished); the data
 * pipeline runs before the clock starts, as mmdet times only the model.
 */
import { int, loadToolConfig, runTool, toolArgs } from "./_common.ts";
import { buildModel, buildSplit, loadWeights } from "../../lib/apis/common.ts";
import { Tensor, tidy } from "../../lib/autograd/tensor.ts";
import { buildDataloader } from "../../lib/datasets/loader.ts";
import type { Batch } from "../../lib/datasets/types.ts";
import { initGpu } from "../../lib/gpu/runtime.ts";
import type { ImgMeta } from "../../lib/models/detectors/base.ts";

const HELP = `Usage: deno task benchmark [options] <config> <checkpoint>

Inference speed (images/s) of a checkpoint on the test set

Arguments:
  config                        config file
  checkpoint                    checkpoint (.safetensors, a work dir, or its latest pointer)

Options:
  --max-iter <int>              images to time, warm-up included (default: 2000)
  --num-warmup <int>            images run before timing (default: 5)
  --log-interval <int>          print the speed every N images (default: 50)
  --repeat-num <int>            repeat the measurement N times (default: 1)
  --cfg-options <key=value...>  override config keys
  -h, --help                    print this help and exit`;

await runTool(async () => {
  const { values: v, positionals } = await toolArgs({
    usage: HELP,
    options: {
      "max-iter": { type: "string", default: "2000" },
      "num-warmup": { type: "string", default: "5" },
      "log-interval": { type: "string", default: "50" },
      "repeat-num": { type: "string", default: "1" },
      "cfg-options": { type: "string", variadic: true },
    },
  }, ["config", "checkpoint"]);
  const [config, checkpoint] = positionals;
  const o = {
    maxIter: int("max-iter", v["max-iter"]),
    numWarmup: int("num-warmup", v["num-warmup"]),
    logInterval: int("log-interval", v["log-interval"]),
    repeatNum: int("repeat-num", v["repeat-num"]),
    cfgOptions: v["cfg-options"],
  };
  const cfg = await loadToolConfig(config, o.cfgOptions);
  const gpu = await initGpu();
  console.log(
    `GPU adapter: ${gpu.info.adapterName}${gpu.info.isFallbackAdapter ? " (software)" : ""}`,
  );
  const dataset = buildSplit(cfg, "test");
  const det = buildModel(cfg);
  const fpsAll: number[] = [];
  try {
    await loadWeights(det, checkpoint);
    det.eval();
    for (let rep = 0; rep < o.repeatNum; rep++) {
      const loader = buildDataloader(dataset, {
        samples_per_gpu: 1,
        workers_per_gpu: 0,
        shuffle: false,
      });
      let i = 0, pure = 0, timed = 0;
      const total = Math.min(o.maxIter, dataset.length);
      if (total <= o.numWarmup) {
        throw new RangeError(
          `Cannot benchmark: ${total} images for ${o.numWarmup} warm-up images: lower --num-warmup or use a larger test set`,
        );
      }
      for await (const batch of loader as AsyncIterable<Batch>) {
        if (i >= total) break;
        const imgs = Array.isArray(batch.img) ? batch.img : [batch.img];
        const metas =
          (Array.isArray(batch.img_metas[0]) ? batch.img_metas : [batch.img_metas]) as ImgMeta[][];
        const t0 = performance.now();
        const ts = tidy(() => imgs.map((h) => Tensor.from(h.data, h.shape, { label: "img" })));
        try {
          await det.forwardTest(ts, metas, { rescale: true });
        } finally {
          for (const t of ts) t.dispose();
        }
        const dt = (performance.now() - t0) / 1000;
        i++;
        if (i > o.numWarmup) {
          pure += dt;
          timed++;
          if (i % o.logInterval === 0) {
            console.log(`Done image [${i}/${total}], fps: ${(timed / pure).toFixed(2)} img / s`);
          }
        }
        if (i === total) break;
      }
      await loader.close();
      const fps = timed / pure;
      fpsAll.push(fps);
      console.log(
        `Overall fps: ${fps.toFixed(2)} img / s, times per image: ${
          (1000 / fps).toFixed(1)
        } ms / img (${timed} images after ${o.numWarmup} warm-up)`,
      );
    }
    if (o.repeatNum > 1) {
      const mean = fpsAll.reduce((a, b) => a + b, 0) / fpsAll.length;
      console.log(
        `Overall fps: [${fpsAll.map((f) => f.toFixed(2)).join(", ")}] img / s, mean: ${
          mean.toFixed(2)
        } img / s`,
      );
    }
  } finally {
    det.dispose();
  }
});
