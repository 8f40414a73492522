/**
 * `deno task browse-dataset CONFIG --output-dir DIR`: draws what the model is trained on — the
 * training pipeline's output (resized, flipped, padded image and its ground-truth boxes) — as
 * PNGs, as mmdetection's `tools/misc/browse_dataset.py` (without the `--show` window).
 * `--skip-type` drops the transforms that turn the image into a tensor (default
 * `DefaultFormatBundle Normalize Collect`).
 */
import { join } from "node:path";
import { int, loadToolConfig, runTool, toolArgs } from "./_common.ts";
import { usageError } from "../_args.ts";
import { buildSplit } from "../../lib/apis/common.ts";
import { drawDetections } from "../../lib/apis/visualize.ts";
import { isDict } from "../../lib/config/mod.ts";
import type { HwcImage } from "../../lib/datasets/image_io.ts";
import { ConfigError } from "../../lib/utils/errors.ts";

const HELP = `Usage: deno task browse-dataset [options] <config>

Draw the training pipeline's images with their ground-truth boxes

Arguments:
  config                        config file

Options:
  --output-dir <dir>            folder for the PNGs (created; required)
  --skip-type <types...>        pipeline transforms to skip (default:
                                DefaultFormatBundle Normalize Collect)
  --max-images <int>            draw at most N images (default: all)
  --cfg-options <key=value...>  override config keys
  -h, --help                    print this help and exit`;

await runTool(async () => {
  const { values: v, positionals } = await toolArgs({
    usage: HELP,
    options: {
      "output-dir": { type: "string" },
      "skip-type": { type: "string", variadic: true },
      "max-images": { type: "string" },
      "cfg-options": { type: "string", variadic: true },
    },
  }, ["config"]);
  const [config] = positionals;
  if (v["output-dir"] === undefined) {
    usageError("required option '--output-dir <dir>' not specified");
  }
  const o = {
    outputDir: v["output-dir"],
    skipType: v["skip-type"] ?? ["DefaultFormatBundle", "Normalize", "Collect"],
    maxImages: v["max-images"] === undefined ? undefined : int("max-images", v["max-images"]),
    cfgOptions: v["cfg-options"],
  };
  const cfg = await loadToolConfig(config, o.cfgOptions);
  const data = cfg.dict.data;
  const train = isDict(data) ? data.train : undefined;
  const target = isDict(train) && train.type === "RepeatDataset" && isDict(train.dataset)
    ? train.dataset
    : train;
  if (!isDict(target) || !Array.isArray(target.pipeline)) {
    throw new ConfigError(`Config "${cfg.filename}" has no data.train.pipeline to browse`);
  }
  target.pipeline = target.pipeline.filter((t) =>
    !(isDict(t) && o.skipType.includes(String(t.type)))
  );
  const dataset = buildSplit(cfg, "train") as unknown as {
    length: number;
    CLASSES: string[];
    getItem(i: number): Record<string, unknown>;
  };
  await Deno.mkdir(o.outputDir, { recursive: true });
  const n = Math.min(dataset.length, o.maxImages ?? dataset.length);
  for (let i = 0; i < n; i++) {
    const r = dataset.getItem(i);
    const img = r.img as HwcImage;
    if (!img || typeof img !== "object" || !("width" in img)) {
      throw new ConfigError(
        `Cannot draw image ${i}: the pipeline output "img" is not an image; skip the transforms that make it a tensor with --skip-type`,
      );
    }
    const boxes = r.gt_bboxes as Float32Array | { data: Float32Array } | undefined;
    const flat = boxes instanceof Float32Array ? boxes : boxes?.data ?? new Float32Array(0);
    const labels = r.gt_labels as Int32Array | { data: Int32Array } | undefined;
    const lab = labels instanceof Int32Array ? labels : labels?.data ?? new Int32Array(0);
    const perClass: number[][] = dataset.CLASSES.map(() => []);
    for (let k = 0; k < lab.length; k++) {
      perClass[lab[k]]?.push(...flat.subarray(4 * k, 4 * k + 4), 1);
    }
    const raster = drawDetections(img, perClass.map((a) => Float32Array.from(a)), {
      classes: dataset.CLASSES,
      scoreThr: 0,
      showScore: false,
    });
    const info = r.img_info as { filename?: string } | undefined;
    const name = (info?.filename ?? `image_${i}`).split("/").pop()!.replace(/\.[^.]+$/, "");
    await Deno.writeFile(join(o.outputDir, `${name}.png`), raster.toPng());
    console.log(
      `${join(o.outputDir, `${name}.png`)}: ${lab.length} boxes, ${img.width}×${img.height}`,
    );
  }
});
