/**
 * What the CLI commands do before and after the training/testing APIs: load the config, apply
 * `--cfg-options`, resolve and fill the work dir (merged config, log file), generate the synthetic
 * data a config asks for, then call `lib/apis/{train,test,infer}.ts` — imported dynamically, so
 * config errors are reported even where those modules cannot load.
 *
 * @module
 */
import { basename, join } from "node:path";
import {
  applyCfgOptions,
  checkConfigKeys,
  type Config,
  ConfigError,
  dumpConfig,
  isDict,
  loadConfig,
  MMDET_TOP_LEVEL_KEYS,
  parseCfgOptionValue,
} from "../config/mod.ts";
import { importCustomModules } from "../config/custom_imports.ts";
import { checkTestOptions } from "../apis/results_io.ts";
import { formatTimestamp, RunnerLogger } from "../runner/logger.ts";
import { plotWorkDir } from "../runner/plot.ts";
import { VERSION } from "../utils/version.ts";
import type { TrainDetectorOptions } from "../apis/train.ts";
import type { TestDetectorOptions } from "../apis/test.ts";
import type { InferOptions } from "../apis/infer.ts";

/** Options of `train` (the CLI flags). */
export interface TrainCliOptions {
  workDir?: string;
  resumeFrom?: string;
  /** Resume from the newest complete checkpoint in the work dir (mmdet's `--auto-resume`). */
  autoResume?: boolean;
  loadFrom?: string;
  /** `--allow-nonfinite`: load checkpoints holding NaN/Inf (sets `allow_nonfinite`). */
  allowNonfinite?: boolean;
  cfgOptions?: string[];
  seed?: number;
  /** False with `--no-validate`. */
  validate?: boolean;
  /** `--launcher`: `"mpi"` joins a data-parallel job (lib/dist); default `"none"`. */
  launcher?: "none" | "mpi";
  /** `--auto-scale-lr`: sets `auto_scale_lr.enable` (mmdet v2.25). */
  autoScaleLr?: boolean;
}

// The options of the API calls are defined once, in lib/apis/ (type-only imports: the modules
// themselves load lazily through the ApiLoader).
export type { TrainDetectorOptions } from "../apis/train.ts";

/** The API modules the CLI calls (implemented in `lib/apis/`). */
export interface Apis {
  train: { trainDetector(cfg: Config, opts: TrainDetectorOptions): Promise<unknown> };
  test: {
    testDetector(
      cfg: Config,
      checkpoint: string,
      opts: TestDetectorOptions,
    ): Promise<unknown>;
  };
  infer: {
    inferImages(
      cfg: Config,
      checkpoint: string,
      images: string[],
      opts: InferOptions,
    ): Promise<unknown>;
  };
}

/** Loads an API module; the default imports `lib/apis/NAME.ts`. */
export type ApiLoader = <K extends keyof Apis>(name: K) => Promise<Apis[K]>;

/** Imports a module of this package, with a clear error when the file itself is missing. */
async function importModule<T>(url: URL, what: string): Promise<T> {
  try {
    return await import(url.href) as T;
  } catch (e) {
    if (e instanceof TypeError && e.message.includes(url.href)) {
      const rel = url.pathname.slice(url.pathname.lastIndexOf("/lib/") + 1);
      throw new RangeError(`${what} is not available in this build: ${rel} is missing`);
    }
    throw e;
  }
}

/** The default loader: a dynamic import of `../apis/{name}.ts`. */
export const defaultApiLoader: ApiLoader = async <K extends keyof Apis>(name: K) =>
  await importModule<Apis[K]>(new URL(`../apis/${name}.ts`, import.meta.url), `The ${name} API`);

/** The default config of `train` with no argument: the tiny RetinaNet on synthetic shapes. */
export const DEFAULT_TRAIN_CONFIG = new URL(
  "../../configs/retinanet/retinanet_tiny_shapes.ts",
  import.meta.url,
);

/**
 * Loads a config for a command: merge, `--cfg-options`, and the top-level key check (a near miss of
 * an mmdetection key is an error; any other extra key is kept with a warning).
 */
export async function loadCommandConfig(
  path: string | URL,
  cfgOptions: string[] = [],
  warn: (m: string) => void = (m) => console.warn(m),
): Promise<Config> {
  const cfg = await loadConfig(path);
  applyCfgOptions(cfg, cfgOptions, { warn });
  // mmcv imports custom_imports when the config is loaded: its components can be named anywhere
  await importCustomModules(cfg, (m) => warn(`warning: ${m}`));
  const added = new Set(
    cfgOptions.filter((o) => o.startsWith("+")).map((o) => o.slice(1).split(/[.=]/)[0]),
  );
  for (
    const key of checkConfigKeys(cfg, [...MMDET_TOP_LEVEL_KEYS, ...added], { onlyTypos: true })
  ) {
    if (!added.has(key)) {
      warn(
        `Config "${cfg.filename}" has the key "${key}", which wgdet does not use`,
      );
    }
  }
  return cfg;
}

/** `--work-dir`, else `cfg.work_dir`, else `work_dirs/<config name>`. */
export function resolveWorkDir(cfg: Config, cliWorkDir?: string): string {
  if (cliWorkDir) return cliWorkDir;
  const fromCfg = cfg.dict.work_dir;
  if (typeof fromCfg === "string" && fromCfg) return fromCfg;
  return join("work_dirs", cfg.name);
}

/**
 * Generates the synthetic data of `data.synthetic` and fills in `data_root` (see
 * `lib/apis/synthetic_data.ts`, imported on first use); a no-op without `data.synthetic`.
 *
 * @returns The generated folder, or undefined when the config has no synthetic data.
 */
export async function ensureSyntheticData(
  cfg: Config,
  log: (m: string) => void = () => {},
): Promise<string | undefined> {
  const mod = await importModule<typeof import("../apis/synthetic_data.ts")>(
    new URL("../apis/synthetic_data.ts", import.meta.url),
    "The synthetic data generator",
  );
  return await mod.ensureSyntheticData(cfg, log);
}

/** `train`: prepare the work dir, then `trainDetector`, then the plot. */
export async function trainCommand(
  configPath: string | undefined,
  opts: TrainCliOptions,
  apis: ApiLoader = defaultApiLoader,
): Promise<void> {
  const cfg = await loadCommandConfig(configPath ?? DEFAULT_TRAIN_CONFIG, opts.cfgOptions ?? []);
  const isMain = await joinLauncher(cfg, opts.launcher);
  const workDir = resolveWorkDir(cfg, opts.workDir);
  cfg.dict.work_dir = workDir;
  if (opts.resumeFrom) cfg.dict.resume_from = opts.resumeFrom;
  if (opts.autoResume) cfg.dict.auto_resume = true;
  if (opts.loadFrom) cfg.dict.load_from = opts.loadFrom;
  if (opts.allowNonfinite) cfg.dict.allow_nonfinite = true;
  if (opts.seed !== undefined) cfg.dict.seed = opts.seed;
  if (opts.autoScaleLr) {
    // mmdet's --auto-scale-lr: needs the config's auto_scale_lr.base_batch_size
    const a = isDict(cfg.dict.auto_scale_lr) ? cfg.dict.auto_scale_lr : null;
    if (!a || typeof a.base_batch_size !== "number") {
      throw new ConfigError(
        `Cannot use --auto-scale-lr with "${cfg.filename}": it has no auto_scale_lr.base_batch_size (the batch size its lr was tuned for): add auto_scale_lr = {enable: false, base_batch_size: 16}`,
      );
    }
    a.enable = true;
  }
  // fail on refused keys (fp16, gpu_ids, …) before anything is written; the API warns
  await checkConfigEarly(cfg);
  await Deno.mkdir(workDir, { recursive: true });
  const timestamp = formatTimestamp();
  const logFile = join(workDir, `${timestamp}.log`);
  // ranks other than 0 log errors only, to the console (mmdet's get_root_logger)
  const logger = isMain
    ? new RunnerLogger({ logFile, level: String(cfg.dict.log_level ?? "INFO") })
    : new RunnerLogger({ level: "ERROR" });
  const envInfo =
    `wgdet ${VERSION}, Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${Deno.build.os}-${Deno.build.arch}`;
  logger.info(`Environment info: ${envInfo}`);
  await mainFirst(isMain, () => ensureSyntheticData(cfg, (m) => logger.info(m)));
  // the dumped config is complete (work_dir, seed, synthetic data_root) and reloads as is
  const text = dumpConfig(cfg);
  if (isMain) {
    await Deno.writeTextFile(join(workDir, `${cfg.name}.ts`), text);
    await Deno.writeTextFile(logFile, `Config:\n${text}\n`, { append: true });
  }
  const train = await apis("train");
  const meta = {
    env_info: envInfo,
    config: text,
    seed: opts.seed ?? (typeof cfg.dict.seed === "number" ? cfg.dict.seed : 0), // as trainDetector
    exp_name: basename(cfg.filename),
  };
  let failed = true;
  try {
    await train.trainDetector(cfg, {
      workDir,
      timestamp,
      validate: opts.validate ?? true,
      seed: opts.seed,
      logger,
      meta,
    });
    failed = false;
  } finally {
    // the curves are drawn from what was logged, also when the run failed
    if (isMain) {
      const plot = await plotWorkDir(workDir).catch((e) => {
        logger.warn(`Cannot draw the training plot: ${(e as Error).message}`);
        return undefined;
      });
      if (!failed) {
        const latest = await Deno.readTextFile(join(workDir, "latest")).then(
          (t) => join(workDir, t.trim()),
          () => undefined,
        );
        if (latest) logger.info(`Checkpoint: ${latest}`);
      }
      if (plot) {
        logger.info(
          `Plot of losses, learning rate and mAP: ${plot} (and ${plot.replace(/\.png$/, ".svg")})`,
        );
      }
    }
  }
}

/** Options of `test` (the CLI flags). */
export interface TestCliOptions {
  eval?: string[];
  out?: string;
  formatOnly?: boolean;
  /** `--eval-options k=v ...` (values parsed as `--cfg-options` values). */
  evalOptions?: string[];
  showDir?: string;
  showScoreThr?: number;
  cfgOptions?: string[];
  launcher?: "none" | "mpi";
}

/** Parses `--eval-options k=v ...` as mmcv's DictAction does. */
export function parseEvalOptions(list: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of list) {
    const i = item.indexOf("=");
    if (i <= 0) {
      throw new ConfigError(`Invalid --eval-options "${item}": expected key=value`);
    }
    out[item.slice(0, i)] = parseCfgOptionValue(item.slice(i + 1));
  }
  return out;
}

/** `test`: evaluate a checkpoint; every output is checked before the config is even loaded. */
export async function testCommand(
  configPath: string,
  checkpoint: string,
  opts: TestCliOptions,
  apis: ApiLoader = defaultApiLoader,
): Promise<void> {
  const evalOptions = parseEvalOptions(opts.evalOptions);
  const apiOpts = {
    eval: opts.eval,
    out: opts.out,
    formatOnly: opts.formatOnly,
    evalOptions: opts.evalOptions ? evalOptions : undefined,
    showDir: opts.showDir,
    showScoreThr: opts.showScoreThr,
  };
  await checkTestOptions(apiOpts);
  const cfg = await loadCommandConfig(configPath, opts.cfgOptions ?? []);
  const isMain = await joinLauncher(cfg, opts.launcher);
  await mainFirst(isMain, () => ensureSyntheticData(cfg));
  const test = await apis("test");
  await test.testDetector(cfg, checkpoint, apiOpts);
}

/** `infer`: run a checkpoint on image files and write PNGs with boxes. */
export async function inferCommand(
  configPath: string,
  checkpoint: string,
  images: string[],
  opts: { outDir?: string; scoreThr?: number; cfgOptions?: string[] },
  apis: ApiLoader = defaultApiLoader,
): Promise<void> {
  const cfg = await loadCommandConfig(configPath, opts.cfgOptions ?? []);
  for (const img of images) {
    const st = await Deno.stat(img).catch(() => null);
    if (!st?.isFile) throw new Deno.errors.NotFound(`Cannot read image "${img}": file not found`);
  }
  const outDir = opts.outDir ?? join(resolveWorkDir(cfg), "infer");
  await Deno.mkdir(outDir, { recursive: true });
  const infer = await apis("infer");
  await infer.inferImages(cfg, checkpoint, images, { outDir, scoreThr: opts.scoreThr ?? 0.3 });
}

/**
 * `--launcher mpi`: joins the MPI job (`dist_params` is read only then: `timeout`, `backend`,
 * `bucket_cap_mb`). Returns whether this process is rank 0 (always true without a launcher).
 */
async function joinLauncher(cfg: Config, launcher: "none" | "mpi" | undefined): Promise<boolean> {
  if (!launcher || launcher === "none") return true;
  const { initDist } = await import("../dist/dist.ts");
  const { distParams } = await import("../apis/distributed.ts");
  const info = await initDist({ launcher, timeout: distParams(cfg).timeout });
  return info.rank === 0;
}

/** The runtime-key errors (fp16, gpu_ids, device, auto_scale_lr) before any file is written. */
async function checkConfigEarly(cfg: Config): Promise<void> {
  const { checkRuntimeKeys } = await importModule<typeof import("../apis/runtime_keys.ts")>(
    new URL("../apis/runtime_keys.ts", import.meta.url),
    "The config checks",
  );
  const { getDistInfo } = await import("../dist/dist.ts");
  checkRuntimeKeys(cfg, { worldSize: getDistInfo().worldSize, warn: () => {} });
}

/** Runs `f` on rank 0 first, then (after a barrier) on the other ranks (shared data caches). */
async function mainFirst(isMain: boolean, f: () => Promise<unknown>): Promise<void> {
  const { barrier } = await import("../dist/dist.ts");
  if (isMain) await f();
  await barrier();
  if (!isMain) await f();
}
