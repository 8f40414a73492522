/**
 * Unknown config keys at any depth: `Registry.build` hands each component a read-tracking view
 * of its config, and after the constructor returns every key the component never read is an
 * error with a "did you mean" (mmcv passes them as keyword arguments, where Python refuses
 * an unexpected one). Values (`max_epochs`, `interval`, `lr`, …) get type and range checks
 * here too, used where the components read them.
 *
 * @module
 */
import { ConfigError } from "./errors.ts";
import { editDistance } from "./suggest.ts";

const PATHS = new WeakMap<object, string>();

/** Records the config path of a dict (e.g. `model.backbone`) for error messages. */
export function setCfgPath(obj: unknown, path: string): void {
  if (obj !== null && typeof obj === "object") {
    PATHS.set(obj, path);
    if (Array.isArray(obj)) obj.forEach((v, i) => setCfgPath(v, `${path}[${i}]`));
  }
}

/** The recorded config path of `obj`, or undefined. */
export function cfgPathOf(obj: unknown): string | undefined {
  return obj !== null && typeof obj === "object" ? PATHS.get(obj) : undefined;
}

/**
 * Keys a component's config may carry that other code reads (not its constructor): per
 * registered type, plus `"*"` for every type.
 */
const READ_ELSEWHERE: Record<string, readonly string[]> = {
  // data.<split>.samples_per_gpu / workers_per_gpu are read by the loader settings; every
  // mmcv BaseModule takes init_cfg (the detector acts on it); detectors hand train_cfg /
  // test_cfg to their heads, which may not need them
  "*": [
    "type",
    "_delete_",
    "samples_per_gpu",
    "workers_per_gpu",
    "init_cfg",
    "train_cfg",
    "test_cfg",
  ],
};

/** Declares keys of `type`'s config that code other than its constructor reads. */
export function allowReadElsewhere(type: string, keys: readonly string[]): void {
  READ_ELSEWHERE[type] = [...(READ_ELSEWHERE[type] ?? []), ...keys];
}

let strict = true;

/**
 * Turns the unknown-key check of `Registry.build` on or off (on by default); returns the
 * previous setting.
 */
export function setStrictConfigKeys(on: boolean): boolean {
  const prev = strict;
  strict = on;
  return prev;
}

/** The candidate within typo distance of `name` (max(2, ⌊len/4⌋)), or undefined. */
export function suggestKey(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined, bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

/**
 * A view of `args` that records which keys are read (`get`, `in`), and the nested dicts'
 * paths under `path`.
 */
export function trackReads(
  args: Record<string, unknown>,
  path: string | undefined,
): { view: Record<string, unknown>; read: Set<string> } {
  const read = new Set<string>();
  const view = new Proxy(args, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (typeof key === "string") {
        read.add(key);
        if (path !== undefined && v !== null && typeof v === "object" && !PATHS.has(v)) {
          setCfgPath(v, `${path}.${key}`);
        }
      }
      return v;
    },
    has(target, key) {
      if (typeof key === "string") read.add(key);
      return Reflect.has(target, key);
    },
  });
  return { view, read };
}

/**
 * Throws a {@link ConfigError} for the first key of `given` that the component of `type` did
 * not read, suggesting the closest key it did read.
 */
export function checkUnread(
  registry: string,
  type: string,
  given: readonly string[],
  read: Set<string>,
  path: string | undefined,
): void {
  if (!strict) return;
  const ok = new Set([...(READ_ELSEWHERE["*"] ?? []), ...(READ_ELSEWHERE[type] ?? [])]);
  for (const key of given) {
    if (read.has(key) || ok.has(key)) continue;
    const known = [...read].filter((k) => !k.startsWith("_") && k !== "constructor");
    const hint = suggestKey(key, known);
    const where = path ? `${path}.${key}` : `"${key}" of ${type}`;
    throw new ConfigError(
      `Unknown config key ${where} (${type} in ${registry} does not use it)` +
        (hint
          ? `; did you mean "${hint}"?`
          : known.length > 0
          ? `; ${type} reads: ${known.sort().join(", ")}`
          : ""),
    );
  }
}

/** Where a value check failed: the config path (or key) for messages. */
function at(where: string): string {
  return where;
}

/** Checks an integer ≥ `min` (for `max_epochs`, `interval`, …); returns it. */
export function checkInt(v: unknown, where: string, min = 1): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
    throw new ConfigError(
      `Config value ${at(where)} must be an integer >= ${min}, got ${
        JSON.stringify(v) ?? String(v)
      }`,
    );
  }
  return v;
}

/** Checks a finite number in `[min, max]` (`lr`, `momentum`, …); returns it. */
export function checkNumber(
  v: unknown,
  where: string,
  opts: { min?: number; max?: number; minExclusive?: boolean } = {},
): number {
  const min = opts.min ?? -Infinity, max = opts.max ?? Infinity;
  if (
    typeof v !== "number" || !Number.isFinite(v) || v > max ||
    (opts.minExclusive ? v <= min : v < min)
  ) {
    const range = `${opts.minExclusive ? ">" : ">="} ${min}${
      max < Infinity ? ` and <= ${max}` : ""
    }`;
    throw new ConfigError(
      `Config value ${at(where)} must be a finite number ${range}, got ${
        JSON.stringify(v) ?? String(v)
      }`,
    );
  }
  return v;
}

/** A schema of plain (non-registry) config dicts: allowed keys, nested schemas by key. */
export interface DictSchema {
  [key: string]: true | DictSchema;
}

/**
 * Throws a {@link ConfigError} for a key of `obj` not in `schema` (with a suggestion), and
 * recurses into nested dicts the schema describes. Non-dict values are left to the readers.
 */
export function checkDictKeys(obj: unknown, path: string, schema: DictSchema): void {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return;
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const rule = schema[k];
    if (rule === undefined) {
      if (k === "_delete_") continue;
      const known = Object.keys(schema);
      const hint = suggestKey(k, known);
      throw new ConfigError(
        `Unknown config key ${path}.${k}` +
          (hint ? `; did you mean "${hint}"?` : `; known keys: ${known.join(", ")}`),
      );
    }
    if (rule !== true) checkDictKeys(v, `${path}.${k}`, rule);
  }
}

const NMS: DictSchema = {
  type: true,
  iou_threshold: true,
  iou_thr: true,
  split_thr: true,
  class_agnostic: true,
};
const PROPOSAL: DictSchema = {
  nms_pre: true,
  nms_post: true,
  max_per_img: true,
  max_num: true,
  nms_thr: true,
  nms: NMS,
  min_bbox_size: true,
  nms_across_levels: true,
  score_thr: true,
  // wgdet: which mmdetection version's pre-NMS top-k rule the dense heads follow
  topk_rule: true,
};
const DENSE_TRAIN: DictSchema = {
  assigner: true,
  sampler: true,
  allowed_border: true,
  pos_weight: true,
  debug: true,
  // SSDHead's online hard negative mining and smooth L1 (mmdet v2.25 ssd300 train_cfg)
  neg_pos_ratio: true,
  smoothl1_beta: true,
};

/** `train_cfg` keys of mmdet v2 one- and two-stage detectors (assigner/sampler are built). */
export const TRAIN_CFG_SCHEMA: DictSchema = {
  ...DENSE_TRAIN,
  rpn: DENSE_TRAIN,
  rpn_proposal: PROPOSAL,
  rcnn: { ...DENSE_TRAIN, mask_size: true },
};

/** `test_cfg` keys of mmdet v2 one- and two-stage detectors. */
export const TEST_CFG_SCHEMA: DictSchema = {
  ...PROPOSAL,
  rpn: PROPOSAL,
  rcnn: { score_thr: true, nms: NMS, max_per_img: true, mask_thr_binary: true },
};

/** Keys of the top-level `data` section (splits are datasets, built and checked on their own). */
export const DATA_SCHEMA: DictSchema = {
  train: true,
  val: true,
  test: true,
  samples_per_gpu: true,
  workers_per_gpu: true,
  persistent_workers: true,
  train_dataloader: true,
  val_dataloader: true,
  test_dataloader: true,
  // wgdet: the synthetic shapes data the tiny configs generate
  synthetic: true,
};

/** Keys of `log_config` (its hooks are built and checked on their own). */
export const LOG_CONFIG_SCHEMA: DictSchema = { interval: true, hooks: true, by_epoch: true };

/**
 * Keys of `evaluation`: EvalHook's own (mmcv) and the `evaluate()` options of the datasets
 * (mmdet), which EvalHook passes through; anything else would be silently ignored.
 */
export const EVALUATION_SCHEMA: DictSchema = Object.fromEntries(
  [
    "type",
    "interval",
    "start",
    "by_epoch",
    "save_best",
    "rule",
    "greater_keys",
    "less_keys",
    "gpu_collect",
    "tmpdir",
    "broadcast_bn_buffer",
    "efficient_test",
    "out_dir",
    "file_client_args",
    "dynamic_intervals",
    "metric",
    "iou_thr",
    "iou_thrs",
    "scale_ranges",
    "proposal_nums",
    "classwise",
    "metric_items",
    "jsonfile_prefix",
    "logger",
  ].map((k) => [k, true]),
);
