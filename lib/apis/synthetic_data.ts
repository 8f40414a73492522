/**
 * The synthetic data a config asks for with the wgdet key `data.synthetic` (the default config,
 * `configs/retinanet/retinanet_tiny_shapes.ts`): generated before the datasets are built, by the
 * train/test APIs as by the CLI, so the default config runs from the library too.
 *
 * @module
 */
import type { CfgDict, Config } from "../config/config.ts";
import { isDict } from "../config/config.ts";
import { ensureShapesDataset, type ShapesOptions } from "../datasets/synthetic.ts";
import { ConfigError } from "../utils/errors.ts";

/** Whether `cfg` has `data.synthetic` and a split whose `data_root` is still to be filled in. */
export function needsSyntheticData(cfg: Config): boolean {
  const data = cfg.dict.data;
  if (!isDict(data) || data.synthetic === undefined || data.synthetic === null) return false;
  return ["train", "val", "test"].some((s) =>
    isDict(data[s]) && ((data[s] as CfgDict).data_root ?? null) === null
  );
}

/**
 * Generates the synthetic shapes dataset when the config has `data.synthetic` (see
 * `configs/retinanet/retinanet_tiny_shapes.ts`) and points the `data_root` of `data.train`,
 * `data.val` and `data.test` (where null) at it; a no-op otherwise.
 *
 * `data.synthetic` keys: `type: "shapes"`, `cache_dir` (default `.cache/wgdet`), `num_train`,
 * `num_val`, `img_size`, `seed`, `objects_per_image`, `object_size`, `min_visible`, and `classes`
 * (default: `data.train.classes`).
 *
 * @returns The generated folder, or undefined when the config has no synthetic data.
 */
export async function ensureSyntheticData(
  cfg: Config,
  log: (m: string) => void = () => {},
): Promise<string | undefined> {
  const data = cfg.dict.data;
  const syn = isDict(data) ? data.synthetic : undefined;
  if (syn === undefined || syn === null) return undefined;
  if (!isDict(syn) || syn.type !== "shapes") {
    throw new ConfigError(
      `Invalid data.synthetic in "${cfg.filename}": expected {type: "shapes", num_train, num_val, img_size, seed}, got ${
        JSON.stringify(syn)
      }`,
    );
  }
  const dataDict = data as CfgDict;
  const trainClasses = isDict(dataDict.train) ? dataDict.train.classes : undefined;
  const opts: Record<string, unknown> = {};
  const keys: [string, string][] = [
    ["num_train", "numTrain"],
    ["num_val", "numVal"],
    ["img_size", "imgSize"],
    ["seed", "seed"],
    ["objects_per_image", "objectsPerImage"],
    ["object_size", "objectSize"],
    ["min_visible", "minVisible"],
    ["classes", "classes"],
  ];
  for (const k of Object.keys(syn)) {
    if (k !== "type" && k !== "cache_dir" && !keys.some(([snake]) => snake === k)) {
      throw new ConfigError(
        `Unknown key "data.synthetic.${k}" in "${cfg.filename}": data.synthetic has type, cache_dir, ${
          keys.map(([snake]) => snake).join(", ")
        }`,
      );
    }
  }
  for (const [snake, camel] of keys) {
    if (syn[snake] !== undefined && syn[snake] !== null) opts[camel] = syn[snake];
  }
  if (opts.classes === undefined && Array.isArray(trainClasses)) opts.classes = trainClasses;
  const cacheDir = typeof syn.cache_dir === "string" ? syn.cache_dir : ".cache/wgdet";
  log(`Preparing the synthetic shapes data in ${cacheDir} (generated once per set of options)`);
  const { root } = await ensureShapesDataset(cacheDir, opts as ShapesOptions);
  for (const split of ["train", "val", "test"]) {
    const d = dataDict[split];
    if (isDict(d) && (d.data_root === undefined || d.data_root === null)) d.data_root = root;
  }
  log(`Synthetic shapes data: ${root}`);
  return root;
}
