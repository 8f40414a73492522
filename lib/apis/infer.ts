/**
 * `inferImages`: run a checkpoint on image files (mmdet's `inference_detector` + `show_result`) and
 * write PNGs with boxes, class names and scores.
 *
 * @module
 */
import { basename, join } from "../utils/path.ts";
import { Tensor, tidy } from "../autograd/tensor.ts";
import type { Config } from "../config/config.ts";
import { isDict } from "../config/config.ts";
import { collate } from "../datasets/collate.ts";
import { readImage, readImageSize } from "../datasets/image_io.ts";
import { Compose } from "../datasets/pipelines/mod.ts";
import type { ImgMeta } from "../datasets/types.ts";
import { initGpu } from "../gpu/runtime.ts";
import type { BboxResult } from "../models/detectors/base.ts";
import { ConfigError } from "../utils/errors.ts";
import type { TypedCfg } from "../utils/registry.ts";
import { buildModel, dataSection, loadWeights } from "./common.ts";
import { drawDetections } from "./visualize.ts";
import { prepareRun } from "./runtime_keys.ts";
import { platform } from "../platform/mod.ts";

/** Options of {@linkcode inferImages}. */
export interface InferOptions {
  /** Folder for the drawn PNGs (created). */
  outDir: string;
  /** Draw detections scoring at least this (default 0.3). */
  scoreThr?: number;
  /** Receives printed lines (default console.log). */
  log?: (line: string) => void;
}

/** Detections of one image. */
export interface ImageDetections {
  /** Path of the input image, as given. */
  image: string;
  /** Where the drawing was written. */
  output: string;
  /** Per class `[m, 5]` rows `x1, y1, x2, y2, score` in the image's pixels. */
  result: BboxResult;
}

/** Runs the detector of `cfg` with the weights of `checkpoint` on each image. */
export async function inferImages(
  cfg: Config,
  checkpoint: string,
  images: string[],
  opts: InferOptions,
): Promise<ImageDetections[]> {
  const log = opts.log ?? ((l: string) => console.log(l));
  await prepareRun(cfg, { log });
  await initGpu();
  const det = buildModel(cfg);
  const out: ImageDetections[] = [];
  try {
    const meta = await loadWeights(det, checkpoint, true, {
      allowNonFinite: cfg.dict.allow_nonfinite === true,
    });
    const data = dataSection(cfg);
    const test = isDict(data.test) ? data.test as Record<string, unknown> : null;
    const pipelineCfg = test?.pipeline;
    if (!Array.isArray(pipelineCfg)) {
      throw new ConfigError(`Config "${cfg.filename}" has no data.test.pipeline`);
    }
    const classes = (meta.CLASSES as string[] | undefined) ??
      (test?.classes as string[] | undefined) ?? [];
    const pipeline = new Compose(pipelineCfg as TypedCfg[]);
    await platform().mkdir(opts.outDir, { recursive: true });
    det.eval();
    for (const path of images) {
      const bytes = await platform().readFile(path);
      const size = readImageSize(bytes) ?? { width: 0, height: 0 };
      const res = pipeline.call({
        img_info: { filename: path, width: size.width, height: size.height },
        img_prefix: null,
      });
      if (!res) {
        throw new RangeError(`Cannot prepare image "${path}": the test pipeline dropped it`);
      }
      const batch = collate([res], [0]);
      const imgs = Array.isArray(batch.img) ? batch.img : [batch.img];
      const metas =
        (Array.isArray(batch.img_metas[0]) ? batch.img_metas : [batch.img_metas]) as ImgMeta[][];
      const ts = tidy(() => imgs.map((h) => Tensor.from(h.data, h.shape, { label: "img" })));
      let result: BboxResult;
      try {
        result = (await det.forwardTest(ts, metas as never, { rescale: true }))[0];
      } finally {
        for (const t of ts) t.dispose();
      }
      const raster = drawDetections(readImage(path), result, {
        classes,
        scoreThr: opts.scoreThr ?? 0.3,
      });
      const output = join(opts.outDir, `${basename(path).replace(/\.[^.]+$/, "")}.png`);
      await platform().writeFile(output, raster.toPng());
      const n = result.reduce((s, a) => s + a.length / 5, 0);
      const shown = result.reduce(
        (s, a) => s + a.filter((_, i) => i % 5 === 4 && a[i] >= (opts.scoreThr ?? 0.3)).length,
        0,
      );
      log(`${path}: ${n} detections, ${shown} drawn (score ≥ ${opts.scoreThr ?? 0.3}) → ${output}`);
      out.push({ image: path, output, result });
    }
  } finally {
    det.dispose();
  }
  return out;
}
