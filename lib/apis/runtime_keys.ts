/**
 * The runtime keys of an mmdetection config that are not a component (`fp16`, `gpu_ids`,
 * `deterministic`, `auto_scale_lr`, `device`, `dist_params`, `opencv_num_threads`,
 * `mp_start_method`): each is honoured, or refused / warned about with a message naming the key
 * and what to do — never accepted and silently ignored.
 *
 * {@linkcode TOP_LEVEL_KEY_HANDLING} says, for every top-level key of mmdetection v2.25's configs,
 * what wgdet does with it; `tests/apis/runtime_keys_test.ts` checks each entry.
 *
 * @module
 */
import type { Config } from "../config/config.ts";
import { isDict } from "../config/config.ts";
import { importCustomModules } from "../config/custom_imports.ts";
import { barrier } from "../dist/dist.ts";
import { ConfigError } from "../utils/errors.ts";
import { ensureSyntheticData, needsSyntheticData } from "./synthetic_data.ts";

/** What wgdet does with a top-level key of an mmdetection config. */
export type KeyHandling =
  /** read and acted on as mmdetection does */
  | "honoured"
  /** a helper variable of mmdetection's configs (`img_norm_cfg`, …): only referenced by others */
  | "helper"
  /** honoured for the values wgdet can honour, an error naming the key for the others */
  | "partly"
  /** accepted with a warning naming the key: it has no effect in wgdet */
  | "warned"
  /** any value other than null is an error naming the key */
  | "refused";

/**
 * Every top-level key of mmdetection v2.25's configs and `tools/train.py` (which sets `gpu_ids`,
 * `seed`, `device`, `work_dir`, …) and what wgdet does with it.
 */
export const TOP_LEVEL_KEY_HANDLING: Readonly<
  Record<string, { handling: KeyHandling; note: string }>
> = {
  model: { handling: "honoured", note: "built from the MODELS registries" },
  data: { handling: "honoured", note: "datasets, loaders (samples/workers_per_gpu)" },
  evaluation: { handling: "honoured", note: "EvalHook: interval, metric, save_best, …" },
  optimizer: { handling: "honoured", note: "SGD/Adam/AdamW with paramwise_cfg" },
  optimizer_config: { handling: "honoured", note: "OptimizerHook (grad_clip)" },
  lr_config: { handling: "honoured", note: "LR updater hooks" },
  momentum_config: { handling: "honoured", note: "momentum updater hooks" },
  runner: { handling: "honoured", note: "EpochBasedRunner / IterBasedRunner" },
  total_epochs: { handling: "honoured", note: "old form of runner.max_epochs" },
  checkpoint_config: { handling: "honoured", note: "CheckpointHook" },
  log_config: { handling: "honoured", note: "logger hooks" },
  custom_hooks: { handling: "honoured", note: "extra hooks with priorities" },
  custom_imports: {
    handling: "honoured",
    note: "imports: module paths (cwd-relative) or URLs imported before building",
  },
  dist_params: {
    handling: "honoured",
    note: "read under --launcher mpi (backend, timeout, bucket_cap_mb); checked always",
  },
  log_level: { handling: "honoured", note: "console/file log level" },
  load_from: { handling: "honoured", note: "weights loaded before epoch 0" },
  resume_from: { handling: "honoured", note: "weights, optimizer and counters" },
  auto_resume: { handling: "honoured", note: "newest checkpoint of the work dir" },
  workflow: { handling: "honoured", note: "train (and val) phases" },
  work_dir: { handling: "honoured", note: "logs and checkpoints" },
  seed: { handling: "honoured", note: "weight init, sampling, augmentation" },
  train_cfg: { handling: "honoured", note: "deprecated top-level form of model.train_cfg" },
  test_cfg: { handling: "honoured", note: "deprecated top-level form of model.test_cfg" },
  auto_scale_lr: {
    handling: "honoured",
    note: "enable: optimizer.lr scaled by (ranks × samples_per_gpu) / base_batch_size",
  },
  gpu_ids: {
    handling: "partly",
    note: "one device per process: [0] (or one id without a launcher); several need --launcher mpi",
  },
  device: {
    handling: "partly",
    note: '"cuda"/"gpu"/"webgpu" run on the WebGPU adapter; "cpu", "mlu", … are errors',
  },
  fp16: { handling: "refused", note: "wgdet trains and tests in float32 only" },
  deterministic: {
    handling: "warned",
    note: "true: warning, the gather gradient sums with atomics in varying order",
  },
  opencv_num_threads: { handling: "warned", note: "no OpenCV: images decode in TS" },
  mp_start_method: { handling: "warned", note: "data workers are Deno Web Workers" },
  dataset_type: { handling: "helper", note: "used through data.*.type" },
  data_root: { handling: "helper", note: "used through data.*.ann_file/img_prefix" },
  img_norm_cfg: { handling: "helper", note: "used through the pipelines" },
  train_pipeline: { handling: "helper", note: "used through data.train.pipeline" },
  test_pipeline: { handling: "helper", note: "used through data.val/test.pipeline" },
  classes: { handling: "helper", note: "used through data.*.classes" },
};

/** Options of {@linkcode checkRuntimeKeys}. */
export interface CheckRuntimeKeysOptions {
  /** Processes of the job (1 without a launcher). */
  worldSize?: number;
  /** Receives the warnings (default console.warn). */
  warn?: (message: string) => void;
}

const GPU_DEVICES = ["cuda", "gpu", "webgpu"];

/**
 * Checks the runtime keys of `cfg` before a run: `fp16` is an error (float32 only), `gpu_ids`
 * with more ids than processes or a nonzero id without a launcher is an error, `device` other than a GPU is
 * an error, `deterministic: true`, `opencv_num_threads` and `mp_start_method` warn, `dist_params`
 * and `auto_scale_lr` are validated.
 *
 * @throws {ConfigError} Naming the key, its value and what to do.
 */
export function checkRuntimeKeys(cfg: Config, opts: CheckRuntimeKeysOptions = {}): void {
  const warn = opts.warn ?? ((m: string) => console.warn(`warning: ${m}`));
  const worldSize = opts.worldSize ?? 1;
  const d = cfg.dict;
  const file = cfg.filename;
  const given = (k: string) => d[k] !== undefined && d[k] !== null;
  if (given("fp16")) {
    throw new ConfigError(
      `Config "${file}" sets fp16=${
        JSON.stringify(d.fp16)
      }: wgdet has no mixed-precision training (it trains and tests in float32): remove fp16 from the config (or --cfg-options fp16=None)`,
    );
  }
  if (given("gpu_ids")) {
    const ids = d.gpu_ids;
    if (!Array.isArray(ids) || !ids.every((i) => Number.isInteger(i) && (i as number) >= 0)) {
      throw new ConfigError(
        `Invalid gpu_ids ${
          JSON.stringify(ids)
        } in "${file}": expected a list of GPU indices, e.g. [0]`,
      );
    }
    if (ids.length > 1 && ids.length !== worldSize) {
      throw new ConfigError(
        `Config "${file}" sets gpu_ids=${
          JSON.stringify(ids)
        }: one process uses one WebGPU adapter: for ${ids.length} GPUs run ${ids.length} processes with --launcher mpi (mpirun -n ${ids.length}), and set gpu_ids=[0]`,
      );
    }
    if (ids.length === 1 && ids[0] !== 0 && worldSize === 1) {
      throw new ConfigError(
        `Config "${file}" sets gpu_ids=${
          JSON.stringify(ids)
        }: WebGPU does not let wgdet pick an adapter by index (it uses the one the browser API gives, see DENO_WEBGPU_BACKEND): set gpu_ids=[0]`,
      );
    }
  }
  if (given("device")) {
    if (typeof d.device !== "string" || !GPU_DEVICES.includes(d.device)) {
      throw new ConfigError(
        `Config "${file}" sets device=${
          JSON.stringify(d.device)
        }: wgdet runs every op on the WebGPU adapter: use device="webgpu" (or "cuda"/"gpu", which mean the same) or remove the key`,
      );
    }
  }
  if (given("deterministic")) {
    if (typeof d.deterministic !== "boolean") {
      throw new ConfigError(
        `Invalid deterministic ${
          JSON.stringify(d.deterministic)
        } in "${file}": expected true or false`,
      );
    }
    if (d.deterministic) {
      warn(
        `Config "${file}" sets deterministic=true, which wgdet cannot fully honour: every random draw is seeded (seed), but the gradient of gather (kernels/scatter_add.wgsl) adds repeated indices with atomics in varying order, so the last bits of a run may differ; there is no slower deterministic mode to switch on`,
      );
    }
  }
  for (const k of ["opencv_num_threads", "mp_start_method"]) {
    if (given(k)) {
      warn(
        `Config "${file}" sets ${k}=${JSON.stringify(d[k])}, which has no effect in wgdet (${
          TOP_LEVEL_KEY_HANDLING[k].note
        }): remove the key; data.workers_per_gpu sets the number of workers`,
      );
    }
  }
  autoScaleLrSettings(cfg);
}

/** `auto_scale_lr` checked: `{enable, base_batch_size}` (mmdet v2.25). */
export function autoScaleLrSettings(cfg: Config): { enable: boolean; baseBatchSize?: number } {
  const raw = cfg.dict.auto_scale_lr;
  if (raw === undefined || raw === null) return { enable: false };
  if (!isDict(raw)) {
    throw new ConfigError(
      `Invalid auto_scale_lr ${
        JSON.stringify(raw)
      } in "${cfg.filename}": expected dict(enable=..., base_batch_size=...)`,
    );
  }
  for (const k of Object.keys(raw)) {
    if (k !== "enable" && k !== "base_batch_size") {
      throw new ConfigError(
        `Unknown key "auto_scale_lr.${k}" in "${cfg.filename}": auto_scale_lr has enable and base_batch_size`,
      );
    }
  }
  const enable = raw.enable ?? false;
  if (typeof enable !== "boolean") {
    throw new ConfigError(
      `Invalid auto_scale_lr.enable ${
        JSON.stringify(enable)
      } in "${cfg.filename}": expected true or false`,
    );
  }
  const b = raw.base_batch_size;
  if (b !== undefined && b !== null && !(Number.isInteger(b) && (b as number) > 0)) {
    throw new ConfigError(
      `Invalid auto_scale_lr.base_batch_size ${
        JSON.stringify(b)
      } in "${cfg.filename}": expected a positive integer (GPUs × samples per GPU of the original schedule)`,
    );
  }
  return { enable, baseBatchSize: typeof b === "number" ? b : undefined };
}

/**
 * mmdet v2.25's `auto_scale_lr`: with `auto_scale_lr.enable`, `optimizer.lr` becomes
 * `lr × (worldSize × samplesPerGpu) / base_batch_size` (the linear scaling rule). Mutates `cfg`;
 * returns the lr used.
 */
export function applyAutoScaleLr(
  cfg: Config,
  worldSize: number,
  samplesPerGpu: number,
  log: (m: string) => void = () => {},
): number | undefined {
  const opt = cfg.dict.optimizer;
  const lr = isDict(opt) && typeof opt.lr === "number" ? opt.lr : undefined;
  const { enable, baseBatchSize } = autoScaleLrSettings(cfg);
  if (!enable) {
    log("Automatic scaling of learning rate (LR) has been disabled.");
    return lr;
  }
  if (baseBatchSize === undefined || lr === undefined || !isDict(opt)) {
    throw new ConfigError(
      `Cannot apply auto_scale_lr in "${cfg.filename}": it needs auto_scale_lr.base_batch_size and optimizer.lr`,
    );
  }
  const batch = worldSize * samplesPerGpu;
  log(
    `Training with ${worldSize} GPU(s) with ${samplesPerGpu} samples per GPU. The total batch size is ${batch}.`,
  );
  if (batch === baseBatchSize) {
    log(
      `The batch size match the base batch size: ${baseBatchSize}, will not scaling the LR (${lr}).`,
    );
    return lr;
  }
  const scaled = (batch / baseBatchSize) * lr;
  log(`LR has been automatically scaled from ${lr} to ${scaled}`);
  opt.lr = scaled;
  return scaled;
}

/** Options of {@linkcode prepareRun}. */
export interface PrepareRunOptions {
  /** Processes of the job (1 without a launcher). */
  worldSize?: number;
  /** Whether this process is rank 0 (generates shared data first). */
  isMain?: boolean;
  /** Receives progress lines. */
  log?: (m: string) => void;
  /** Receives warnings (default console.warn). */
  warn?: (m: string) => void;
}

/**
 * What every API does with a config before building anything: import `custom_imports`, check the
 * runtime keys ({@linkcode checkRuntimeKeys}), and generate `data.synthetic` where a `data_root`
 * is still to be filled in (rank 0 first under a launcher).
 */
export async function prepareRun(cfg: Config, opts: PrepareRunOptions = {}): Promise<void> {
  const worldSize = opts.worldSize ?? 1;
  await importCustomModules(cfg, opts.warn);
  checkRuntimeKeys(cfg, { worldSize, warn: opts.warn });
  if (!needsSyntheticData(cfg)) return;
  const make = () => ensureSyntheticData(cfg, opts.log);
  if (worldSize === 1) {
    await make();
    return;
  }
  if (opts.isMain ?? true) await make();
  await barrier();
  if (!(opts.isMain ?? true)) await make();
}
