/**
 * Checkpoint files: `NAME.safetensors` (the state dict, mmdetection key names), `NAME.optim.safetensors`
 * (optimizer tensors such as momentum buffers) and `NAME.json` (meta: epoch, iter, config text,
 * CLASSES, wgdet version, hook messages, optimizer param groups). Every file is written to a
 * temporary name in the same folder and renamed into place; the meta file is renamed last and marks
 * the checkpoint complete, and the `latest` pointer moves only after that. A process killed while
 * writing therefore leaves the previous checkpoint (and `latest`) loadable.
 *
 * @module
 */
import { basename, dirname, join } from "../utils/path.ts";
import { VERSION } from "../utils/version.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsTensor,
  toFloat32,
} from "../utils/safetensors.ts";
import { DataError } from "../utils/errors.ts";
// the key report is shared with mmcv-style loading in lib/nn (one implementation)
export { type KeyMatch, matchStateDictKeys } from "../nn/load_report.ts";
import type { OptimizerState, StateDict } from "./types.ts";
import { isPthPath, loadPthAsCheckpoint } from "./pth_checkpoint.ts";
import { platform } from "../platform/mod.ts";

/** The wgdet version written into checkpoint meta. */
export const WGDET_VERSION: string = VERSION;

/** Checkpoint meta (mmcv's `checkpoint["meta"]`). */
export interface CheckpointMeta {
  /** Completed epochs (mmcv stores `runner.epoch + 1`). */
  epoch?: number;
  /** Completed iterations. */
  iter?: number;
  /** The merged config as text. */
  config?: string;
  /** Class names of the training dataset. */
  CLASSES?: readonly string[] | null;
  /** The wgdet version that wrote the checkpoint. */
  wgdet_version?: string;
  /** Time of saving, `asctime` style. */
  time?: string;
  /** Hook state to restore on resume (`last_ckpt`, `best_score`, `best_ckpt`). */
  hook_msgs?: Record<string, unknown>;
  /** runner.meta entries (`env_info`, `seed`, `exp_name`, ...). */
  [key: string]: unknown;
}

/** A loaded (or to-be-saved) checkpoint. */
export interface Checkpoint {
  /** Model parameters and buffers by mmdetection name. */
  stateDict: StateDict;
  /** Optimizer state, when saved (and requested on load). */
  optimizer?: OptimizerState;
  /** Meta; empty for bare weights. */
  meta: CheckpointMeta;
}

/** The three file paths of a checkpoint given its weights path (`.../epoch_3.safetensors`). */
export function checkpointFiles(
  weightsPath: string,
): { weights: string; optimizer: string; meta: string } {
  const stem = weightsPath.replace(/\.safetensors$/, "");
  return {
    weights: `${stem}.safetensors`,
    optimizer: `${stem}.optim.safetensors`,
    meta: `${stem}.json`,
  };
}

let tmpCounter = 0;

/** Writes `data` to `path` atomically: a temporary file in the same folder, then a rename. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${platform().pid}-${tmpCounter++}`);
  try {
    if (typeof data === "string") await platform().writeTextFile(tmp, data);
    else await platform().writeFile(tmp, data);
    await platform().rename(tmp, path);
  } catch (e) {
    await platform().remove(tmp).catch(() => {});
    throw e;
  }
}

/** Options of {@linkcode saveCheckpoint}. */
export interface SaveCheckpointOptions {
  /** Called after each file is in place (`"weights"`, `"optimizer"`, `"meta"`); used by crash tests. */
  onStage?: (stage: "weights" | "optimizer" | "meta") => void | Promise<void>;
}

/**
 * Saves a checkpoint atomically (see the module doc). `path` names the weights file; a missing
 * `.safetensors` extension is added.
 *
 * @returns The paths written.
 */
export async function saveCheckpoint(
  path: string,
  ckpt: { stateDict: StateDict; optimizer?: OptimizerState; meta?: CheckpointMeta },
  opts: SaveCheckpointOptions = {},
): Promise<string[]> {
  const files = checkpointFiles(path);
  const meta: CheckpointMeta = { ...ckpt.meta, wgdet_version: WGDET_VERSION };
  meta.time ??= new Date().toString();
  const written: string[] = [];
  const weights = encodeSafetensors(ckpt.stateDict, { format: "pt", wgdet_version: WGDET_VERSION });
  await writeFileAtomic(files.weights, weights);
  written.push(files.weights);
  await opts.onStage?.("weights");
  if (ckpt.optimizer) {
    await writeFileAtomic(
      files.optimizer,
      encodeSafetensors(ckpt.optimizer.state, { wgdet_version: WGDET_VERSION }),
    );
    written.push(files.optimizer);
    await opts.onStage?.("optimizer");
  } else {
    await platform().remove(files.optimizer).catch(() => {});
  }
  const record = {
    meta,
    optimizer: ckpt.optimizer
      ? { param_groups: ckpt.optimizer.param_groups, file: basename(files.optimizer) }
      : null,
    weights: basename(files.weights),
    weights_bytes: weights.length,
  };
  await writeFileAtomic(files.meta, JSON.stringify(record, null, 1) + "\n");
  written.push(files.meta);
  await opts.onStage?.("meta");
  return written;
}

/** Points `{dir}/latest` at `weightsPath` (atomically). */
export async function updateLatest(dir: string, weightsPath: string): Promise<void> {
  await writeFileAtomic(join(dir, "latest"), basename(checkpointFiles(weightsPath).weights) + "\n");
}

/** Deletes a checkpoint's files (missing ones are ignored). */
export async function removeCheckpoint(weightsPath: string): Promise<void> {
  const f = checkpointFiles(weightsPath);
  for (const p of [f.meta, f.optimizer, f.weights]) await platform().remove(p).catch(() => {});
}

/**
 * Resolves what a user may pass as a checkpoint to a weights path: a `.safetensors` file, its
 * `.json` meta, a work dir (its `latest`), a `latest` pointer file, or a path without extension.
 *
 * @throws {Deno.errors.NotFound} Naming the path and what was tried.
 */
export async function resolveCheckpointPath(path: string): Promise<string> {
  const st = await platform().stat(path).catch(() => null);
  if (st?.isDirectory) return await resolveCheckpointPath(join(path, "latest"));
  if (path.endsWith(".json") && !path.endsWith(".optim.json")) {
    return path.replace(/\.json$/, ".safetensors");
  }
  if (path.endsWith(".safetensors")) return path;
  if (st?.isFile && st.size < 4096) {
    const target = (await platform().readTextFile(path)).trim();
    if (target.endsWith(".safetensors") && !target.includes("\n")) {
      // a pointer names a file beside it, never a path (it could lead outside the work dir)
      if (!/^[^/\\]+$/.test(target) || target.startsWith("..")) {
        throw new DataError(
          `Cannot follow checkpoint pointer "${path}": it names "${target}", which is not a file ` +
            `name in the same folder; rewrite it with the checkpoint's file name`,
        );
      }
      return join(dirname(path), target);
    }
  }
  if (await platform().stat(`${path}.safetensors`).then(() => true, () => false)) {
    return `${path}.safetensors`;
  }
  throw platform().notFound(
    `Cannot find checkpoint "${path}": expected a .safetensors file, a work dir with a "latest" ` +
      `pointer, or a pointer file`,
  );
}

/**
 * Why the checkpoint at `weights` is not complete, or null when it is: the weights and meta
 * files exist, the meta parses, its `weights_bytes` matches the weights file and its
 * optimizer file (if any) exists.
 */
export async function incompleteReason(weights: string): Promise<string | null> {
  const f = checkpointFiles(weights);
  const st = await platform().stat(f.weights).catch(() => null);
  if (!st?.isFile) return "no weights file";
  let record: { weights_bytes?: unknown; optimizer?: { file?: unknown } | null; meta?: unknown };
  try {
    record = JSON.parse(await platform().readTextFile(f.meta));
  } catch (e) {
    return platform().isNotFound(e) ? "no meta file" : "meta file does not parse";
  }
  if (record === null || typeof record !== "object") return "meta file is not an object";
  if (record.weights_bytes !== undefined && record.weights_bytes !== st.size) {
    return `weights file has ${st.size} bytes, meta records ${record.weights_bytes}`;
  }
  if (record.optimizer && typeof record.optimizer.file === "string") {
    if (!/^[^/\\]+$/.test(record.optimizer.file)) return "optimizer file name is a path";
    const o = await platform().stat(join(dirname(f.meta), record.optimizer.file)).catch(() => null);
    if (!o?.isFile) return "optimizer file missing";
  }
  try {
    validateMeta((record.meta ?? {}) as CheckpointMeta, f.meta);
  } catch (e) {
    return (e as Error).message;
  }
  return null;
}

/**
 * The newest complete checkpoint of a work dir, for `auto_resume`. Candidates are the
 * `epoch_N` / `iter_N` checkpoints and the one `latest` points at; incomplete ones (see
 * {@link incompleteReason}: truncated meta, missing optimizer file, size mismatch) are skipped,
 * so an interrupted newest write falls back to the previous checkpoint. Among the complete ones
 * the one written last wins (meta file time, then iterations): a `latest` that lags behind (a
 * kill between the meta rename and the pointer update) does not hide a newer checkpoint, and a
 * stale `epoch_N` of an earlier run does not beat the current run's. `latest` wins when it was
 * itself written after every candidate (it was pointed there on purpose). `null` when there is
 * none; `skipped` receives each incomplete candidate with the reason.
 */
export async function findLatestCheckpoint(
  workDir: string,
  skipped?: (path: string, why: string) => void,
): Promise<string | null> {
  const candidates = new Set<string>();
  let pointed: string | undefined, pointerTime = -Infinity;
  try {
    pointed = await resolveCheckpointPath(join(workDir, "latest"));
    candidates.add(pointed);
    pointerTime = (await platform().stat(join(workDir, "latest"))).mtime ?? -Infinity;
  } catch { /* no pointer (or a bad one): scan the folder */ }
  try {
    for await (const e of platform().readDir(workDir)) {
      if (e.isFile && /^(?:epoch|iter)_\d+\.safetensors$/.test(e.name)) {
        candidates.add(join(workDir, e.name));
      }
    }
  } catch (e) {
    if (platform().isNotFound(e)) return null;
    throw e;
  }
  const complete: { path: string; time: number; iter: number; epoch: number }[] = [];
  for (const path of candidates) {
    const why = await incompleteReason(path);
    if (why) {
      if (await platform().stat(path).then(() => true, () => false)) skipped?.(path, why);
      continue;
    }
    const metaPath = checkpointFiles(path).meta;
    const record = JSON.parse(await platform().readTextFile(metaPath));
    const meta = (record.meta ?? {}) as CheckpointMeta;
    const time = (await platform().stat(metaPath)).mtime ?? 0;
    complete.push({ path, time, iter: meta.iter ?? -1, epoch: meta.epoch ?? -1 });
  }
  if (complete.length === 0) return null;
  complete.sort((a, b) => b.time - a.time || b.iter - a.iter || b.epoch - a.epoch);
  const target = complete.find((c) => c.path === pointed);
  if (target && pointerTime >= complete[0].time) return target.path;
  return complete[0].path;
}

/** Temporary files of interrupted atomic writes (`.NAME.tmp-PID-N`) in `dir`. */
export async function findTempFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of platform().readDir(dir)) {
      if (e.isFile && /^\..+\.tmp-\d+-\d+$/.test(e.name)) out.push(join(dir, e.name));
    }
  } catch (e) {
    if (!platform().isNotFound(e)) throw e;
  }
  return out.sort();
}

/**
 * Removes the temporary files that interrupted checkpoint writes left in `dir` (written by
 * other, finished processes: files of a live writer with this process's pid are kept) and
 * returns their paths, for a note in the log.
 */
export async function cleanTempFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const p of await findTempFiles(dir)) {
    if (new RegExp(`\\.tmp-${platform().pid}-\\d+$`).test(p)) continue;
    await platform().remove(p).then(() => removed.push(p), () => {});
  }
  return removed;
}

/** Largest epoch and iteration a checkpoint meta may claim (guards against corrupt values). */
const MAX_EPOCH = 1_000_000, MAX_ITER = 1e12;

/**
 * Checks a checkpoint's meta fields: `epoch` and `iter` integers in range, `CLASSES` a list of
 * strings (or null), `config` and `time` strings, `hook_msgs` an object. Meta is data: the
 * config text it carries is never imported or executed.
 *
 * @throws {DataError} naming the file, field and value
 */
export function validateMeta(meta: CheckpointMeta, file: string): void {
  const bad = (field: string, v: unknown, want: string): never => {
    throw new DataError(
      `Cannot use checkpoint meta "${file}": "${field}" must be ${want}, got ${JSON.stringify(v)}`,
    );
  };
  if (meta === null || typeof meta !== "object" || Array.isArray(meta)) {
    bad("meta", meta, "an object");
  }
  for (const [k, max] of [["epoch", MAX_EPOCH], ["iter", MAX_ITER]] as const) {
    const v = meta[k];
    if (
      v !== undefined && !(Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max)
    ) {
      bad(k, v, `an integer in 0..${max}`);
    }
  }
  if (
    meta.CLASSES !== undefined && meta.CLASSES !== null &&
    !(Array.isArray(meta.CLASSES) && meta.CLASSES.every((c) => typeof c === "string"))
  ) bad("CLASSES", meta.CLASSES, "a list of class names");
  for (const k of ["config", "time", "wgdet_version"]) {
    if (meta[k] !== undefined && typeof meta[k] !== "string") bad(k, meta[k], "a string");
  }
  if (
    meta.hook_msgs !== undefined &&
    (meta.hook_msgs === null || typeof meta.hook_msgs !== "object" || Array.isArray(meta.hook_msgs))
  ) bad("hook_msgs", meta.hook_msgs, "an object");
}

/**
 * Converts float tensors to F32 (F16, BF16, F64; see `toFloat32`) and, unless
 * `allowNonFinite`, refuses a NaN or infinite value naming the tensor and the count.
 *
 * @throws {DataError}
 */
export function checkedFloat32(
  tensors: Record<string, SafetensorsTensor>,
  file: string,
  allowNonFinite = false,
): Record<string, SafetensorsTensor> {
  const out: Record<string, SafetensorsTensor> = {};
  for (const [k, t0] of Object.entries(tensors)) {
    const t = toFloat32(t0);
    if (t.dtype === "F32" && !allowNonFinite) {
      const d = t.data as Float32Array;
      let bad = 0, first = -1;
      for (let i = 0; i < d.length; i++) {
        if (!Number.isFinite(d[i])) {
          if (first < 0) first = i;
          bad++;
        }
      }
      if (bad > 0) {
        throw new DataError(
          `Cannot load checkpoint "${file}": tensor "${k}"${
            t0.dtype !== "F32" ? ` (${t0.dtype})` : ""
          } has ${bad} non-finite value(s) of ${d.length} (first ${d[first]} at index ${first}); ` +
            `use an earlier checkpoint, or --allow-nonfinite (allow_nonfinite) to load it anyway`,
        );
      }
    }
    out[k] = t;
  }
  return out;
}

/** Options of {@linkcode loadCheckpoint}. */
export interface LoadCheckpointOptions {
  /** Require the meta file (a complete checkpoint, as `resume` needs). Default false. */
  requireMeta?: boolean;
  /** Also read the optimizer state when present. Default true. */
  optimizer?: boolean;
  /** Load tensors holding NaN or ±Infinity (refused by default, naming the tensor). */
  allowNonFinite?: boolean;
}

/**
 * Loads a checkpoint (see `resolveCheckpointPath` for accepted paths). Keys lose a leading
 * `module.` (mmcv's default key revision). A weights file without meta (e.g. converted from
 * PyTorch) loads with empty meta unless `requireMeta` is set.
 *
 * @throws {Deno.errors.NotFound} For a missing file, naming it.
 * @throws {SyntaxError} For a corrupt weights or meta file, naming it.
 */
export async function loadCheckpoint(
  path: string,
  opts: LoadCheckpointOptions = {},
): Promise<Checkpoint> {
  // PyTorch .pth files and torchvision:// / open-mmlab:// names (lib/runner/pth_checkpoint.ts)
  if (isPthPath(path)) return await loadPthAsCheckpoint(path, opts);
  const weightsPath = await resolveCheckpointPath(path);
  const files = checkpointFiles(weightsPath);
  let bytes: Uint8Array;
  try {
    bytes = await platform().readFile(files.weights);
  } catch (e) {
    if (platform().isNotFound(e)) {
      throw platform().notFound(`Cannot load checkpoint "${files.weights}": file not found`);
    }
    throw e;
  }
  const stateDict: StateDict = {};
  const decoded = checkedFloat32(
    decodeSafetensors(bytes, files.weights).tensors,
    files.weights,
    opts.allowNonFinite ?? false,
  );
  for (const [k, t] of Object.entries(decoded)) {
    stateDict[k.replace(/^module\./, "")] = t as StateDict[string];
  }
  let metaText: string | undefined;
  try {
    metaText = await platform().readTextFile(files.meta);
  } catch (e) {
    if (!(platform().isNotFound(e))) throw e;
    if (opts.requireMeta) {
      throw platform().notFound(
        `Cannot resume from checkpoint "${files.weights}": its meta file "${files.meta}" is missing ` +
          `(the write was interrupted, or these are bare weights): resume from an earlier checkpoint ` +
          `or use load_from for weights only`,
      );
    }
  }
  if (metaText === undefined) return { stateDict, meta: {} };
  let record: {
    meta?: CheckpointMeta;
    optimizer?: { param_groups: Record<string, unknown>[]; file: string } | null;
    weights_bytes?: number;
  };
  try {
    record = JSON.parse(metaText);
  } catch (e) {
    throw new SyntaxError(`Cannot parse checkpoint meta "${files.meta}": ${(e as Error).message}`);
  }
  if (record.weights_bytes !== undefined && record.weights_bytes !== bytes.length) {
    throw new SyntaxError(
      `Cannot load checkpoint "${files.weights}": it has ${bytes.length} bytes but its meta ` +
        `"${files.meta}" records ${record.weights_bytes} (an interrupted overwrite): use another checkpoint`,
    );
  }
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    throw new SyntaxError(`Cannot parse checkpoint meta "${files.meta}": it is not an object`);
  }
  validateMeta(record.meta ?? {}, files.meta);
  const ckpt: Checkpoint = { stateDict, meta: record.meta ?? {} };
  if (record.optimizer && opts.optimizer !== false) {
    if (typeof record.optimizer.file !== "string" || !/^[^/\\]+$/.test(record.optimizer.file)) {
      throw new DataError(
        `Cannot load checkpoint meta "${files.meta}": optimizer.file must be a file name beside it, got ${
          JSON.stringify(record.optimizer.file)
        }`,
      );
    }
    const optPath = join(dirname(files.meta), record.optimizer.file);
    const optBytes = await platform().readFile(optPath).catch((e) => {
      throw platform().isNotFound(e)
        ? platform().notFound(
          `Cannot load optimizer state "${optPath}" of checkpoint "${files.weights}": file not found`,
        )
        : e;
    });
    ckpt.optimizer = {
      state: checkedFloat32(
        decodeSafetensors(optBytes, optPath).tensors,
        optPath,
        opts.allowNonFinite ?? false,
      ) as StateDict,
      param_groups: record.optimizer.param_groups,
    };
  }
  return ckpt;
}
