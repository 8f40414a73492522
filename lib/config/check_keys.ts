/**
 * Rejecting unknown top-level config keys with a "did you mean".
 *
 * @module
 */
import { ConfigError } from "../utils/errors.ts";
import { closestMatch } from "../utils/suggest.ts";
import type { CfgDict, Config } from "./config.ts";

/**
 * The top-level keys an mmdetection v2 config may have (mmdet 2.0–2.2x spellings, including the
 * helper variables that mmcv's Python configs expose as keys).
 */
export const MMDET_TOP_LEVEL_KEYS: readonly string[] = [
  "model",
  "data",
  "evaluation",
  "optimizer",
  "optimizer_config",
  "lr_config",
  "momentum_config",
  "runner",
  "total_epochs",
  "checkpoint_config",
  "log_config",
  "custom_hooks",
  "dist_params",
  "log_level",
  "load_from",
  "resume_from",
  "auto_resume",
  "workflow",
  "work_dir",
  "gpu_ids",
  "seed",
  "deterministic",
  "fp16",
  "opencv_num_threads",
  "mp_start_method",
  "auto_scale_lr",
  "train_cfg",
  "test_cfg",
  "dataset_type",
  "data_root",
  "img_norm_cfg",
  "train_pipeline",
  "test_pipeline",
  "classes",
  "device",
  "custom_imports",
  // wgdet: load checkpoints holding NaN/Inf (--allow-nonfinite)
  "allow_nonfinite",
];

/**
 * Throws when `cfg` has a top-level key outside `allowed`, naming the key and the file and suggesting
 * the closest allowed key. With `onlyTypos`, only keys close to an allowed one are errors; the other
 * unknown keys are returned (mmcv configs may carry extra keys of their own).
 *
 * @param cfg A loaded config or its plain object.
 * @param allowed The allowed keys, e.g. {@linkcode MMDET_TOP_LEVEL_KEYS}.
 * @returns The unknown keys that were accepted (always empty without `onlyTypos`).
 * @throws {ConfigError} `Unknown key "optimzer" in config "x.ts"; did you mean "optimizer"?`
 */
export function checkConfigKeys(
  cfg: Config | CfgDict,
  allowed: readonly string[],
  opts: { onlyTypos?: boolean } = {},
): string[] {
  const dict = "dict" in cfg && "filename" in cfg ? (cfg as Config).dict : cfg as CfgDict;
  const file = "filename" in cfg ? String((cfg as Config).filename) : "<dict>";
  const known = new Set(allowed);
  const accepted: string[] = [];
  for (const key of Object.keys(dict)) {
    if (known.has(key)) continue;
    const hint = closestMatch(key, allowed);
    if (opts.onlyTypos && hint === undefined) {
      accepted.push(key);
      continue;
    }
    throw new ConfigError(
      `Unknown key "${key}" in config "${file}"` +
        (hint ? `; did you mean "${hint}"?` : `; allowed keys: ${allowed.join(", ")}`),
    );
  }
  return accepted;
}
