/**
 * What the train, test and infer APIs share: building the detector and datasets from a config,
 * loading weights, and the data batch/loader settings.
 *
 * @module
 */
import type { Config } from "../config/config.ts";
import { isDict } from "../config/config.ts";
import { buildDataset, type DetDataset } from "../datasets/dataset_wrappers.ts";
import "../datasets/mod.ts";
import { buildDetector } from "../models/builder.ts";
import type { BaseDetector } from "../models/detectors/base.ts";
import "../models/mod.ts";
import { setSeed } from "../nn/init.ts";
import { loadStateDictReport } from "../nn/load_report.ts";
import { loadCheckpoint } from "../runner/checkpoint.ts";
import { ConfigError } from "../utils/errors.ts";
import type { TypedCfg } from "../utils/registry.ts";
import {
  checkDictKeys,
  DATA_SCHEMA,
  EVALUATION_SCHEMA,
  LOG_CONFIG_SCHEMA,
  setCfgPath,
  TEST_CFG_SCHEMA,
  TRAIN_CFG_SCHEMA,
} from "../utils/cfg_rules.ts";
import { fromCpuStateDict } from "./adapters.ts";

/** The `data` section, checked. */
export function dataSection(cfg: Config): Record<string, unknown> {
  const data = cfg.dict.data;
  if (!isDict(data)) throw new ConfigError(`Config "${cfg.filename}" has no "data" section`);
  return data;
}

/** Builds the detector of `cfg.model` (seeded init when `seed` is given). */
export function buildModel(cfg: Config, seed?: number): BaseDetector {
  const model = cfg.dict.model;
  if (!isDict(model) || typeof model.type !== "string") {
    throw new ConfigError(`Config "${cfg.filename}" has no "model" with a "type"`);
  }
  if (seed !== undefined) setSeed(seed);
  setCfgPath(model, "model");
  for (const [owner, o] of [["model", model], ["", cfg.dict]] as const) {
    const base = owner ? `${owner}.` : "";
    checkDictKeys(o.train_cfg, `${base}train_cfg`, TRAIN_CFG_SCHEMA);
    checkDictKeys(o.test_cfg, `${base}test_cfg`, TEST_CFG_SCHEMA);
  }
  const det = buildDetector(model as TypedCfg, {
    trainCfg: (cfg.dict.train_cfg ?? null) as Record<string, unknown> | null,
    testCfg: (cfg.dict.test_cfg ?? null) as Record<string, unknown> | null,
  }) as BaseDetector;
  if (typeof (det as unknown as { initWeights?: () => void }).initWeights === "function") {
    (det as unknown as { initWeights: () => void }).initWeights();
  }
  return det;
}

/** Builds `data[split]` (`train`, `val` or `test`); test splits get `test_mode: true`. */
export function buildSplit(cfg: Config, split: "train" | "val" | "test"): DetDataset {
  const data = dataSection(cfg);
  const d = data[split];
  if (!d || (typeof d !== "object")) {
    throw new ConfigError(`Config "${cfg.filename}" has no "data.${split}" dataset`);
  }
  const defaults = split === "train" ? {} : { test_mode: true };
  checkDictKeys(data, "data", DATA_SCHEMA);
  setCfgPath(d, `data.${split}`);
  const list = Array.isArray(d) ? d : [d];
  const ds = buildDataset(list.length === 1 ? list[0] as TypedCfg : list as TypedCfg[], defaults);
  checkSplitImages(ds);
  return ds;
}

/**
 * Checks the image files of every dataset inside `ds` (wrappers included) at load, unless the
 * dataset's config says `check_images: false` (see `CustomDataset.checkImages`).
 */
export function checkSplitImages(ds: unknown): void {
  const d = ds as {
    datasets?: unknown[];
    dataset?: unknown;
    checkImages?: () => void;
    cfg?: Record<string, unknown>;
  };
  if (Array.isArray(d.datasets)) d.datasets.forEach(checkSplitImages);
  else if (d.dataset) checkSplitImages(d.dataset);
  else if (typeof d.checkImages === "function" && d.cfg?.check_images !== false) {
    if (d.cfg?.check_images !== true) d.checkImages(); // true: already checked in the constructor
  }
}

/**
 * Checks the keys of the config sections that no registry builds (`log_config`) and records
 * the paths of those that are built (`optimizer`, `runner`, hooks) for error messages.
 */
export function checkPlainSections(cfg: Config): void {
  checkDictKeys(cfg.dict.log_config, "log_config", LOG_CONFIG_SCHEMA);
  checkDictKeys(cfg.dict.evaluation, "evaluation", EVALUATION_SCHEMA);
  for (const k of ["optimizer", "runner", "optimizer_config", "checkpoint_config", "lr_config"]) {
    setCfgPath(cfg.dict[k], k);
  }
}

/**
 * Loads checkpoint weights into `det`; returns the meta. Non-strict loading reports missing and
 * unexpected keys as mmcv does (to `warn`, default `console.warn`) and refuses a checkpoint of
 * which no key matches; non-finite tensors are refused unless `allowNonFinite`.
 */
export async function loadWeights(
  det: BaseDetector,
  path: string,
  strict = true,
  opts: { warn?: (msg: string) => void; allowNonFinite?: boolean } = {},
): Promise<Record<string, unknown>> {
  const ck = await loadCheckpoint(path, { optimizer: false, allowNonFinite: opts.allowNonFinite });
  // mmcv's load_state_dict: mismatches reported (a warning, an error when strict), not a crash
  loadStateDictReport(det, fromCpuStateDict(ck.stateDict), {
    strict,
    source: path,
    warn: opts.warn,
  });
  return ck.meta;
}

/** `samples_per_gpu`/`workers_per_gpu` of a split (its own keys win over `data.*`). */
export function loaderSettings(
  cfg: Config,
  split: "train" | "val" | "test",
): { samples: number; workers: number } {
  const data = dataSection(cfg);
  const own = isDict(data[split]) ? data[split] as Record<string, unknown> : {};
  const samples = Number(
    own.samples_per_gpu ?? (split === "train" ? data.samples_per_gpu ?? 2 : 1),
  );
  const workers = Number(own.workers_per_gpu ?? data.workers_per_gpu ?? 0);
  return { samples, workers };
}
