/**
 * `testDetector`: mmdetection's `tools/test.py` — run a checkpoint over the test split, evaluate,
 * save results and drawings.
 *
 * @module
 */
import { join } from "node:path";
import { Tensor, tidy } from "../autograd/tensor.ts";
import type { Config } from "../config/config.ts";
import { readImage } from "../datasets/image_io.ts";
import { buildDataloader, type DataLoader } from "../datasets/loader.ts";
import type { DetDataset } from "../datasets/dataset_wrappers.ts";
import type { Batch } from "../datasets/types.ts";
import { initGpu } from "../gpu/runtime.ts";
import type { BaseDetector, BboxResult, ImgMeta } from "../models/detectors/base.ts";
import { buildModel, buildSplit, loaderSettings, loadWeights } from "./common.ts";
import { drawDetections } from "./visualize.ts";
import { broadcastBytes, getDistInfo } from "../dist/dist.ts";
import { multiGpuTest } from "./distributed.ts";

/** Options of {@linkcode singleGpuTest}. */
export interface SingleGpuTestOptions {
  /** Boxes in original-image pixels (default true, as mmdet's test). */
  rescale?: boolean;
  /** Called after each batch with the number of images done. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Runs the detector over every batch of `loader` (mmdet `single_gpu_test`): per image, per class
 * `[m, 5]` detections. One readback per image (the final detections).
 */
export async function singleGpuTest(
  det: BaseDetector,
  loader: DataLoader,
  opts: SingleGpuTestOptions = {},
): Promise<BboxResult[]> {
  det.eval();
  const results: BboxResult[] = [];
  let done = 0;
  for await (const batch of loader as AsyncIterable<Batch>) {
    const imgs = Array.isArray(batch.img) ? batch.img : [batch.img];
    const metas =
      (Array.isArray(batch.img_metas[0]) ? batch.img_metas : [batch.img_metas]) as ImgMeta[][];
    const ts = tidy(() => imgs.map((h) => Tensor.from(h.data, h.shape, { label: "img" })));
    try {
      const res = await det.forwardTest(ts, metas, { rescale: opts.rescale ?? true });
      results.push(...res);
    } finally {
      for (const t of ts) t.dispose();
    }
    done += metas[0].length;
    opts.onProgress?.(done, loader.dataset.length);
  }
  return results;
}

/** Options of {@linkcode testDetector} (the CLI flags). */
export interface TestDetectorOptions {
  /** Metrics, e.g. `["bbox"]` or `["mAP"]`. */
  eval?: string[];
  /** Write the detections as JSON here. */
  out?: string;
  /** Draw detections on every test image into this folder. */
  showDir?: string;
  /** Score threshold for the drawings (default 0.3). */
  showScoreThr?: number;
  /** Receives printed lines (default console.log). */
  log?: (line: string) => void;
}

/** Evaluates a checkpoint on `data.test`; returns the metrics (empty without `eval`). */
export async function testDetector(
  cfg: Config,
  checkpoint: string,
  opts: TestDetectorOptions = {},
): Promise<Record<string, number | string>> {
  // under a launcher each rank tests its shard; rank 0 evaluates and writes (multi_gpu_test)
  const dist = getDistInfo();
  const distributed = dist.worldSize > 1;
  const log = dist.rank !== 0 ? () => {} : opts.log ?? ((l: string) => console.log(l));
  await initGpu();
  const dataset: DetDataset = buildSplit(cfg, "test");
  const det = buildModel(cfg);
  try {
    await loadWeights(det, checkpoint, true, {
      allowNonFinite: cfg.dict.allow_nonfinite === true,
    });
    const { samples, workers } = loaderSettings(cfg, "test");
    const loader = buildDataloader(dataset, {
      samples_per_gpu: samples,
      workers_per_gpu: workers,
      shuffle: false,
      dist: distributed ? { rank: dist.rank, world_size: dist.worldSize } : undefined,
    });
    const results = distributed
      ? await multiGpuTest(det, loader)
      : await singleGpuTest(det, loader);
    if (distributed) return await shareMetrics(dist.rank === 0 ? await finish(results) : null);
    return await finish(results);
  } finally {
    det.dispose();
  }

  async function finish(results: BboxResult[]): Promise<Record<string, number | string>> {
    if (opts.out) {
      const json = results.map((perClass) => perClass.map((a) => Array.from(a)));
      await Deno.writeTextFile(
        opts.out,
        JSON.stringify({ classes: dataset.CLASSES, results: json }),
      );
      log(`writing results to ${opts.out}`);
    }
    if (opts.showDir) await showResults(dataset, results, opts.showDir, opts.showScoreThr ?? 0.3);
    if (!opts.eval?.length) return {};
    if (!dataset.evaluate) {
      throw new RangeError("Cannot evaluate: the test dataset has no evaluate()");
    }
    const metrics = dataset.evaluate(results, {
      metric: opts.eval.length === 1 ? opts.eval[0] : opts.eval,
      logger: log,
    });
    log(
      Object.entries(metrics).map(([k, v]) => `${k}: ${typeof v === "number" ? v.toFixed(4) : v}`)
        .join(", "),
    );
    return metrics;
  }
}

/** Rank 0's metrics on every rank. */
async function shareMetrics(
  mine: Record<string, number | string> | null,
): Promise<Record<string, number | string>> {
  const bytes = await broadcastBytes(
    mine ? new TextEncoder().encode(JSON.stringify(mine)) : null,
    0,
  );
  return JSON.parse(new TextDecoder().decode(bytes));
}

async function showResults(
  dataset: DetDataset,
  results: BboxResult[],
  dir: string,
  thr: number,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (let i = 0; i < results.length; i++) {
    const info = dataset as unknown as {
      dataInfos?: { filename: string }[];
      imgPrefix?: string;
      img_prefix?: string;
    };
    const fn = info.dataInfos?.[i]?.filename;
    if (!fn) continue;
    const prefix = info.imgPrefix ?? info.img_prefix ?? "";
    const path = fn.startsWith("/") || !prefix ? fn : join(prefix, fn);
    const img = readImage(path);
    const raster = drawDetections(img, results[i], { classes: dataset.CLASSES, scoreThr: thr });
    const name = fn.split("/").pop()!.replace(/\.[^.]+$/, "");
    await Deno.writeFile(join(dir, `${name}.png`), raster.toPng());
  }
}
