/**
 * `testDetector`: mmdetection's `tools/test.py` — run a checkpoint over the test split, evaluate,
 * save results and drawings.
 *
 * @module
 */
import { join } from "../utils/path.ts";
import type { Config } from "../config/config.ts";
import { readImage } from "../datasets/image_io.ts";
import { buildDataloader } from "../datasets/loader.ts";
import type { DetDataset } from "../datasets/dataset_wrappers.ts";
import { initGpu } from "../gpu/runtime.ts";
import type { BboxResult } from "../models/detectors/base.ts";
import { buildModel, buildSplit, loaderSettings, loadWeights } from "./common.ts";
import { drawDetections } from "./visualize.ts";
import { prepareRun } from "./runtime_keys.ts";
import { createProgress } from "./progress.ts";
import { checkTestOptions, writeResults } from "./results_io.ts";
import { isDict } from "../config/config.ts";
import { ConfigError } from "../utils/errors.ts";
import { resultsToCocoJson } from "../evaluation/coco_eval.ts";
import { broadcastBytes, getDistInfo } from "../dist/dist.ts";
import { multiGpuTest } from "./distributed.ts";
import { platform } from "../platform/mod.ts";

import { singleGpuTest } from "./single_gpu_test.ts";

export { singleGpuTest, type SingleGpuTestOptions } from "./single_gpu_test.ts";

/** Options of {@linkcode testDetector} (the CLI flags). */
export interface TestDetectorOptions {
  /** Metrics, e.g. `["bbox"]` or `["mAP"]`. */
  eval?: string[];
  /** Write the detections here: `.pkl`/`.pickle` (mmdet's results.pkl) or `.json`. */
  out?: string;
  /** mmdet's `--format-only`: write COCO results JSON (`jsonfile_prefix`) without evaluating. */
  formatOnly?: boolean;
  /**
   * mmdet's `--eval-options`: passed to `evaluate` (over `cfg.evaluation`'s keys, e.g.
   * `classwise`, `iou_thrs`); `jsonfile_prefix` writes `<prefix>.bbox.json` (COCO datasets).
   */
  evalOptions?: Record<string, unknown>;
  /** Draw detections on every test image into this folder. */
  showDir?: string;
  /** Score threshold for the drawings (default 0.3). */
  showScoreThr?: number;
  /** Progress over the images: bar on a terminal, periodic lines otherwise (default), or none. */
  progress?: "bar" | "lines" | "none";
  /** Receives printed lines (default console.log). */
  log?: (line: string) => void;
}

/** Keys of `cfg.evaluation` that belong to EvalHook, not to `evaluate` (mmdet's tools/test.py). */
const EVAL_HOOK_KEYS = [
  "interval",
  "tmpdir",
  "start",
  "gpu_collect",
  "save_best",
  "rule",
  "dynamic_intervals",
  "by_epoch",
  "greater_keys",
  "less_keys",
  "out_dir",
  "file_client_args",
  "broadcast_bn_buffer",
];

/**
 * mmdet's `format_results` for COCO datasets: writes the detections as COCO results JSON to
 * `<prefix>.bbox.json` (`[{image_id, bbox: [x, y, w, h], score, category_id}]`).
 *
 * @returns The file written.
 */
export async function formatCocoResults(
  dataset: DetDataset,
  results: BboxResult[],
  prefix: string,
): Promise<string> {
  const ds = dataset as unknown as { imgIds?: number[]; catIds?: number[] };
  if (!Array.isArray(ds.imgIds) || !Array.isArray(ds.catIds)) {
    throw new ConfigError(
      `Cannot write COCO results JSON: the test dataset is a ${dataset.constructor.name}, not a CocoDataset (use --out results.pkl)`,
    );
  }
  const file = `${prefix}.bbox.json`;
  await platform().writeTextFile(
    file,
    JSON.stringify(resultsToCocoJson(results, ds.imgIds, ds.catIds)),
  );
  return file;
}

/**
 * Evaluates a checkpoint on `data.test`; returns the metrics (empty without `eval`). Outputs are
 * checked before inference; when writing one fails, the metrics are still computed and printed,
 * then the write error is thrown.
 */
export async function testDetector(
  cfg: Config,
  checkpoint: string,
  opts: TestDetectorOptions = {},
): Promise<Record<string, number | string>> {
  // under a launcher each rank tests its shard; rank 0 evaluates and writes (multi_gpu_test)
  const dist = getDistInfo();
  const distributed = dist.worldSize > 1;
  const log = dist.rank !== 0 ? () => {} : opts.log ?? ((l: string) => console.log(l));
  await checkTestOptions(opts);
  await prepareRun(cfg, { worldSize: dist.worldSize, isMain: dist.rank === 0, log });
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
    const progress = createProgress(dataset.length, {
      mode: dist.rank !== 0 ? "none" : opts.progress,
    });
    const onProgress = (done: number) => progress.update(Math.min(dataset.length, done));
    let results: BboxResult[];
    try {
      results = distributed
        ? await multiGpuTest(det, loader, { onProgress: (d) => onProgress(d * dist.worldSize) })
        : await singleGpuTest(det, loader, { onProgress });
    } finally {
      progress.end();
    }
    if (distributed) return await shareMetrics(dist.rank === 0 ? await finish(results) : null);
    return await finish(results);
  } finally {
    det.dispose();
  }

  async function finish(results: BboxResult[]): Promise<Record<string, number | string>> {
    // write every output; a failed write is reported after the metrics (which are not lost)
    const errors: Error[] = [];
    const attempt = async (f: () => Promise<void>) => {
      try {
        await f();
      } catch (e) {
        errors.push(e as Error);
        log(`error: ${(e as Error).message}`);
      }
    };
    if (opts.out) {
      const out = opts.out;
      await attempt(async () => {
        log(`\nwriting results to ${out}`);
        await writeResults(results, out);
      });
    }
    const evalOptions = { ...(opts.evalOptions ?? {}) };
    const prefix = evalOptions.jsonfile_prefix as string | undefined;
    delete evalOptions.jsonfile_prefix;
    if (prefix) {
      await attempt(async () => {
        const file = await formatCocoResults(dataset, results, prefix);
        log(`COCO results JSON: ${file}`);
      });
    }
    if (opts.showDir) {
      const dir = opts.showDir;
      await attempt(() => showResults(dataset, results, dir, opts.showScoreThr ?? 0.3));
    }
    let metrics: Record<string, number | string> = {};
    if (opts.eval?.length) {
      if (!dataset.evaluate) {
        throw new RangeError("Cannot evaluate: the test dataset has no evaluate()");
      }
      const kwargs: Record<string, unknown> = {
        ...(isDict(cfg.dict.evaluation) ? cfg.dict.evaluation : {}),
      };
      for (const k of EVAL_HOOK_KEYS) delete kwargs[k];
      Object.assign(kwargs, evalOptions);
      metrics = dataset.evaluate(results, {
        ...kwargs,
        metric: opts.eval.length === 1 ? opts.eval[0] : opts.eval,
        logger: log,
      });
      log(
        Object.entries(metrics).map(([k, v]) => `${k}: ${typeof v === "number" ? v.toFixed(4) : v}`)
          .join(", "),
      );
    }
    if (errors.length) throw errors[0];
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
  await platform().mkdir(dir, { recursive: true });
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
    await platform().writeFile(join(dir, `${name}.png`), raster.toPng());
  }
}
