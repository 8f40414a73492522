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
import { decodeSafetensors, encodeSafetensors } from "../utils/safetensors.ts";
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
 * The newest complete checkpoint of a work dir, for `auto_resume`: the one `latest` points at when
 * its meta file exists, else the `epoch_N` / `iter_N` checkpoint with the largest N whose meta file
 * exists (the meta is written last, so a checkpoint with a meta is whole). `null` when there is none.
 */
export async function findLatestCheckpoint(workDir: string): Promise<string | null> {
  const complete = (weights: string) =>
    Promise.all([weights, checkpointFiles(weights).meta].map((p) => platform().stat(p))).then(
      () => true,
      () => false,
    );
  try {
    const latest = await resolveCheckpointPath(join(workDir, "latest"));
    if (await complete(latest)) return latest;
  } catch { /* no pointer: scan the folder */ }
  let best: { n: number; path: string } | null = null;
  try {
    for await (const e of platform().readDir(workDir)) {
      const m = /^(?:epoch|iter)_(\d+)\.safetensors$/.exec(e.name);
      if (!m || !e.isFile) continue;
      const path = join(workDir, e.name);
      if (Number(m[1]) > (best?.n ?? -1) && await complete(path)) best = { n: Number(m[1]), path };
    }
  } catch (e) {
    if (platform().isNotFound(e)) return null;
    throw e;
  }
  return best?.path ?? null;
}

/** Options of {@linkcode loadCheckpoint}. */
export interface LoadCheckpointOptions {
  /** Require the meta file (a complete checkpoint, as `resume` needs). Default false. */
  requireMeta?: boolean;
  /** Also read the optimizer state when present. Default true. */
  optimizer?: boolean;
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
  for (const [k, t] of Object.entries(decodeSafetensors(bytes, files.weights).tensors)) {
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
  const ckpt: Checkpoint = { stateDict, meta: record.meta ?? {} };
  if (record.optimizer && opts.optimizer !== false) {
    const optPath = join(dirname(files.meta), record.optimizer.file);
    const optBytes = await platform().readFile(optPath).catch((e) => {
      throw platform().isNotFound(e)
        ? platform().notFound(
          `Cannot load optimizer state "${optPath}" of checkpoint "${files.weights}": file not found`,
        )
        : e;
    });
    ckpt.optimizer = {
      state: decodeSafetensors(optBytes, optPath).tensors as StateDict,
      param_groups: record.optimizer.param_groups,
    };
  }
  return ckpt;
}
