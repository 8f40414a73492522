/**
 * `trainDetector`: mmdetection's `train_detector` — build loaders, optimizer and runner from the
 * config, register the hooks (with the GPU memory scope of each iteration and COCO/VOC
 * evaluation), resume or load, and run the workflow.
 *
 * @module
 */
import type { Config } from "../config/config.ts";
import { isDict } from "../config/config.ts";
import { buildDataloader, type DataLoader } from "../datasets/loader.ts";
import type { DetDataset } from "../datasets/dataset_wrappers.ts";
import { buildDataset } from "../datasets/dataset_wrappers.ts";
import { getGpu, initGpu } from "../gpu/runtime.ts";
import type { BaseDetector } from "../models/detectors/base.ts";
import type { BaseRunner, WorkflowEntry } from "../runner/base_runner.ts";
import type { RunnerDataLoader } from "../runner/types.ts";
import type { Batch } from "../datasets/types.ts";
import { EvalHook } from "../runner/hooks/evaluation.ts";
import { RunnerLogger } from "../runner/logger.ts";
import "../runner/mod.ts";
import { cleanTempFiles, findLatestCheckpoint } from "../runner/checkpoint.ts";
import { buildOptimizer } from "../runner/optimizers/builder.ts";
import { RUNNERS } from "../runner/registry.ts";
import { ConfigError } from "../utils/errors.ts";
import type { TypedCfg } from "../utils/registry.ts";
import {
  DetectorRunnerModel,
  DistSamplerSeedHook,
  installScalarReader,
  MemoryScopeHook,
  peakMemoryMb,
} from "./adapters.ts";
import { applyAutoScaleLr, prepareRun } from "./runtime_keys.ts";
import {
  buildModel,
  buildSplit,
  checkPlainSections,
  dataSection,
  loaderSettings,
  loadWeights,
} from "./common.ts";
import { singleGpuTest } from "./test.ts";
import { applyPretrained } from "./pretrained.ts";
import { broadcastBytes, getDistInfo } from "../dist/dist.ts";
import { broadcastModel, distParams, DistributedRunnerModel, multiGpuTest } from "./distributed.ts";

/** What `trainDetector` receives besides the config (mmdet's `train_detector` arguments). */
export interface TrainDetectorOptions {
  /** Logs and checkpoints go here (created). */
  workDir: string;
  /** `YYYYMMDD_HHMMSS`, names the `.log`/`.log.json` files. */
  timestamp?: string;
  /** Evaluate after each `evaluation.interval` epochs (default true). */
  validate?: boolean;
  /** Seed of weight init, sampling and augmentation (default `cfg.seed` or 0). */
  seed?: number;
  /** Logger for console and log file (default: a new `RunnerLogger`). */
  logger?: RunnerLogger;
  /** runner.meta (`config` text, `seed`, `exp_name`, `env_info`). */
  meta?: Record<string, unknown>;
}

/** What a finished run leaves: the trained detector and the runner (for tests and scripts). */
export interface TrainResult {
  /** The trained detector. */
  model: BaseDetector;
  /** The runner after the run (counters, hooks, log buffer). */
  runner: BaseRunner;
}

function asRecord(v: unknown): Record<string, unknown> | null {
  return isDict(v) ? v as Record<string, unknown> : null;
}

/** The runner's view of a data loader (its `length` is batches per epoch). */
export function asRunnerLoader(
  dl: DataLoader,
): RunnerDataLoader<Batch> & { setEpoch(e: number): void } {
  return {
    setEpoch: (e: number) => dl.setEpoch(e),
    get length() {
      return dl.len();
    },
    [Symbol.asyncIterator]: () => dl[Symbol.asyncIterator](),
    dataset: dl.dataset,
  };
}

/** Trains the detector described by `cfg`. */
export async function trainDetector(cfg: Config, opts: TrainDetectorOptions): Promise<TrainResult> {
  // data-parallel under a launcher (lib/cli initialised lib/dist): rank 0 logs and checkpoints
  const dist = getDistInfo();
  const distributed = dist.worldSize > 1;
  const shard = distributed ? { rank: dist.rank, world_size: dist.worldSize } : undefined;
  const logger = opts.logger ?? new RunnerLogger({});
  // custom_imports, the runtime keys (fp16, gpu_ids, …), dist_params, data.synthetic
  await prepareRun(cfg, {
    worldSize: dist.worldSize,
    isMain: dist.rank === 0,
    log: (m) => logger.info(m),
    warn: (m) => logger.warn(m),
  });
  distParams(cfg);
  const gpu = await initGpu();
  installScalarReader();
  const seed = opts.seed ?? (typeof cfg.dict.seed === "number" ? cfg.dict.seed : 0);
  if (distributed) {
    logger.info(`Distributed: rank ${dist.rank} of ${dist.worldSize} (${dist.library ?? "MPI"})`);
  }
  logger.info(
    `GPU: ${gpu.info.adapterName}${gpu.info.isFallbackAdapter ? " (software adapter)" : ""}`,
  );

  // 1. data
  checkPlainSections(cfg);
  const trainSet = buildSplit(cfg, "train");
  const { samples, workers } = loaderSettings(cfg, "train");
  const workflow = (cfg.dict.workflow ?? [["train", 1]]) as unknown as WorkflowEntry[];
  const loaders: DataLoader[] = [
    buildDataloader(trainSet, {
      samples_per_gpu: samples,
      workers_per_gpu: workers,
      shuffle: true,
      seed,
      dist: shard,
    }),
  ];
  if (workflow.length === 2 && workflow[1][0] === "val") {
    // mmdet: the val phase of a workflow uses data.val with the training pipeline
    const data = dataSection(cfg);
    const train = asRecord(data.train);
    const val = asRecord(data.val);
    if (!val || !train) {
      throw new ConfigError(`Config "${cfg.filename}" has a val workflow but no data.val`);
    }
    const valSet = buildDataset(
      { ...val, pipeline: train.pipeline, test_mode: false } as unknown as TypedCfg,
    );
    loaders.push(
      buildDataloader(valSet, {
        samples_per_gpu: samples,
        workers_per_gpu: workers,
        shuffle: true,
        seed,
        dist: shard,
      }),
    );
  }

  // 2. model and optimizer
  const det = buildModel(cfg, seed);
  await applyPretrained(det, cfg, (m) => logger.info(m)); // init_cfg Pretrained (mmcv)
  if (distributed) await broadcastModel(det);
  const optCfg = asRecord(cfg.dict.optimizer);
  if (!optCfg) throw new ConfigError(`Config "${cfg.filename}" has no "optimizer"`);
  applyAutoScaleLr(cfg, dist.worldSize, samples, (m) => logger.info(m));
  const optimizer = buildOptimizer(det, optCfg);

  // 3. runner
  let runnerCfg = asRecord(cfg.dict.runner);
  if (!runnerCfg) {
    if (typeof cfg.dict.total_epochs !== "number") {
      throw new ConfigError(`Config "${cfg.filename}" has neither "runner" nor "total_epochs"`);
    }
    runnerCfg = { type: "EpochBasedRunner", max_epochs: cfg.dict.total_epochs };
  }
  const runnerModel = new DetectorRunnerModel(det);
  runnerModel.warn = (m) => logger.warn(m);
  const runner = RUNNERS.build(runnerCfg as TypedCfg, {
    model: distributed
      ? new DistributedRunnerModel(runnerModel, det.namedParameters(), {
        bucketCapMb: distParams(cfg).bucketCapMb,
      })
      : runnerModel,
    optimizer,
    // mmcv's master_only: the other ranks write no logs and no checkpoints
    work_dir: dist.rank === 0 ? opts.workDir : undefined,
    logger,
    meta: { ...(opts.meta ?? {}), seed }, // the seed actually used
    memory_mb: peakMemoryMb,
  }) as BaseRunner;
  runner.timestamp = opts.timestamp;

  // 4. hooks: mmcv's training hooks, the GPU memory scope of each iteration, evaluation
  const ckptCfg = asRecord(cfg.dict.checkpoint_config) ?? { interval: 1 };
  runner.registerTrainingHooks({
    lr_config: asRecord(cfg.dict.lr_config),
    optimizer_config: asRecord(cfg.dict.optimizer_config) ?? {},
    checkpoint_config: dist.rank !== 0 ? null : {
      ...ckptCfg,
      meta: { ...(asRecord(ckptCfg.meta) ?? {}), CLASSES: trainSet.CLASSES },
    },
    log_config: asRecord(cfg.dict.log_config) as { interval?: number } | null,
    momentum_config: asRecord(cfg.dict.momentum_config),
    custom_hooks_config: (cfg.dict.custom_hooks ?? null) as never,
    ...(dist.rank !== 0 ? { progress_bar: false } : {}),
  });
  runner.registerHook(new MemoryScopeHook("open"), "HIGHEST");
  runner.registerHook(new MemoryScopeHook("close"), "LOWEST");
  runner.registerHook(new DistSamplerSeedHook(), "NORMAL");
  let valLoader: DataLoader | null = null;
  if (opts.validate ?? true) {
    const valSet: DetDataset = buildSplit(cfg, "val");
    const vs = loaderSettings(cfg, "val");
    valLoader = buildDataloader(valSet, {
      samples_per_gpu: vs.samples,
      workers_per_gpu: vs.workers,
      shuffle: false,
      dist: shard,
    });
    const evalCfg = { ...(asRecord(cfg.dict.evaluation) ?? { interval: 1, metric: "bbox" }) };
    if (distributed) {
      // DistEvalHook's collection options: results are always gathered over MPI (gpu_collect)
      delete evalCfg.gpu_collect;
      delete evalCfg.tmpdir;
      if (dist.rank !== 0) evalCfg.save_best = null; // rank 0 keeps the best checkpoint
    }
    const vl = valLoader;
    runner.registerHook(
      new EvalHook({
        ...evalCfg,
        by_epoch: runnerCfg.type !== "IterBasedRunner",
        eval_iter_num: vl.len(),
        evaluate: async (_r, kwargs) => {
          const results = distributed ? await multiGpuTest(det, vl) : await singleGpuTest(det, vl);
          det.train();
          if (!valSet.evaluate) {
            throw new RangeError("Cannot evaluate: the val dataset has no evaluate()");
          }
          if (!distributed) {
            return valSet.evaluate(results, { ...kwargs, logger: (l: string) => logger.info(l) });
          }
          // rank 0 evaluates the gathered results and shares the metrics (DistEvalHook)
          const mine = dist.rank === 0
            ? valSet.evaluate(results, { ...kwargs, logger: (l: string) => logger.info(l) })
            : null;
          const bytes = await broadcastBytes(
            mine ? new TextEncoder().encode(JSON.stringify(mine)) : null,
            0,
          );
          return JSON.parse(new TextDecoder().decode(bytes));
        },
      }),
      "LOW",
    );
  }

  // 5. resume or load (temporary files of interrupted checkpoint writes are removed first)
  if (dist.rank === 0) {
    const removed = await cleanTempFiles(opts.workDir);
    if (removed.length > 0) {
      logger.info(
        `removed ${removed.length} temporary file(s) of interrupted checkpoint writes: ${
          removed.join(", ")
        }`,
      );
    }
  }
  const allowNonFinite = cfg.dict.allow_nonfinite === true;
  if (cfg.dict.auto_resume && !cfg.dict.resume_from) {
    const latest = await findLatestCheckpoint(
      opts.workDir,
      (p, why) => logger.warn(`auto_resume: skipping incomplete checkpoint ${p}: ${why}`),
    );
    if (latest) cfg.dict.resume_from = latest;
    else logger.info(`auto_resume: no checkpoint in ${opts.workDir}, starting from scratch`);
  }
  if (distributed) {
    // every rank resumes from the checkpoint rank 0 chose (auto_resume may race a writer)
    const mine = typeof cfg.dict.resume_from === "string" ? cfg.dict.resume_from : "";
    const chosen = new TextDecoder().decode(
      await broadcastBytes(new TextEncoder().encode(mine), 0),
    );
    cfg.dict.resume_from = chosen || null;
  }
  if (typeof cfg.dict.resume_from === "string" && cfg.dict.resume_from) {
    await runner.resume(cfg.dict.resume_from, { allowNonFinite });
  } else if (typeof cfg.dict.load_from === "string" && cfg.dict.load_from) {
    logger.info(`load checkpoint from ${cfg.dict.load_from}`);
    await loadWeights(det, cfg.dict.load_from, false, {
      warn: (m) => logger.warn(m),
      allowNonFinite,
    });
  }

  // 6. run
  try {
    await runner.run(loaders.map(asRunnerLoader), workflow);
  } finally {
    for (const l of loaders) await l.close();
    await valLoader?.close();
    await getGpu().sync().catch(() => {});
  }
  return { model: det, runner };
}
