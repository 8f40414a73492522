/**
 * mmcv's `load_state_dict`: copy the entries whose names and shapes match, and report the rest —
 * unexpected keys, missing keys (without BatchNorm's `num_batches_tracked`) and shape mismatches —
 * in mmcv's words, as a warning (or an error when `strict`). A state dict that matches nothing is
 * refused: it belongs to another model, or needs a `prefix`.
 *
 * @module
 */
import type { HostTensor, Module } from "./module.ts";
import { DataError } from "../utils/errors.ts";

/** What {@linkcode loadStateDictReport} did. */
export interface LoadReport {
  /** Keys copied into the module. */
  loaded: string[];
  /** Module keys without an entry (mmcv omits `num_batches_tracked`). */
  missingKeys: string[];
  /** Entries that name no parameter or buffer. */
  unexpectedKeys: string[];
  /** Entries whose shape differs from the module's: `[key, checkpoint shape, model shape]`. */
  shapeMismatches: [string, number[], number[]][];
  /** mmcv's message (empty when everything matched). */
  message: string;
}

/** Options of {@linkcode loadStateDictReport}. */
export interface LoadReportOptions {
  /** Throw on any mismatch instead of warning (mmcv `strict=True`). Default false. */
  strict?: boolean;
  /** Receives the mismatch message in non-strict mode (default `console.warn`). */
  warn?: (message: string) => void;
  /** Names the source in errors (a file path). */
  source?: string;
}

/** How a checkpoint's keys match a model's (mmcv's `load_state_dict` report). */
export interface KeyMatch {
  /** Model keys the checkpoint lacks (left at their initial values). */
  missing: string[];
  /** Checkpoint keys the model lacks (ignored). */
  unexpected: string[];
  /** Keys in both. */
  matched: number;
  /** mmcv's warning text, or "" when the keys match exactly. */
  message: string;
}

/**
 * Compares a checkpoint's keys with a model's, as mmcv's `load_state_dict` reports them
 * ("unexpected key in source state_dict: …", "missing keys in source state_dict: …"), and
 * refuses a checkpoint of which no key matches (the model would silently keep its random
 * init), suggesting the prefix to add or strip when one explains the mismatch. Used by
 * `load_from`, `resume_from` and other weight loaders.
 *
 * @throws {DataError} when no key matches and the model has keys
 */
export function matchStateDictKeys(
  modelKeys: Iterable<string>,
  ckptKeys: Iterable<string>,
  source: string,
): KeyMatch {
  const own = new Set(modelKeys), given = new Set(ckptKeys);
  const missing = [...own].filter((k) => !given.has(k));
  const unexpected = [...given].filter((k) => !own.has(k));
  const matched = own.size - missing.length;
  if (matched === 0 && own.size > 0) {
    throw new DataError(
      `Cannot load "${source}": none of its ${given.size} keys matches the model's ${own.size} keys ` +
        `(checkpoint e.g. "${[...given][0] ?? "(none)"}", model e.g. "${[...own][0]}")` +
        statePrefixHint(own, given) + "; the model would keep its random initialisation",
    );
  }
  const parts: string[] = [];
  if (unexpected.length) {
    parts.push(`unexpected key in source state_dict: ${unexpected.join(", ")}\n`);
  }
  if (missing.length) parts.push(`missing keys in source state_dict: ${missing.join(", ")}\n`);
  const message = parts.length
    ? ["The model and loaded state dict do not match exactly\n", ...parts].join("\n")
    : "";
  return { missing, unexpected, matched, message };
}

/**
 * Why no key matched, when a prefix explains it: the checkpoint's keys carry one the model's lack,
 * or the reverse; "" otherwise. Starts with "; " to append to a message.
 */
export function statePrefixHint(own: Set<string>, given: Set<string>): string {
  const first = [...given][0];
  if (!first) return "";
  for (const o of own) {
    if (first.endsWith(`.${o}`) || first.endsWith(o)) {
      const p = first.slice(0, first.length - o.length);
      if (p && [...given].filter((k) => k.startsWith(p) && own.has(k.slice(p.length))).length > 0) {
        return `; its keys carry the prefix "${p}": strip it (convert the file) to load them`;
      }
    }
    if (o.endsWith(first) && o !== first) {
      const p = o.slice(0, o.length - first.length);
      return `; the model's keys carry the prefix "${p}" that the file lacks (weights of a submodule?)`;
    }
  }
  return "";
}

const torchSize = (s: number[]) => `torch.Size([${s.join(", ")}])`;

/**
 * Loads `sd` into `module` as mmcv's `load_state_dict` does (see the module doc).
 *
 * @throws {RangeError} When `strict` and anything mismatches (mmcv's message), or when not one
 *   entry of a non-empty state dict matches the module.
 */
export function loadStateDictReport(
  module: Module,
  sd: Record<string, HostTensor>,
  opts: LoadReportOptions = {},
): LoadReport {
  const own = module.stateTensors();
  const src = opts.source ? ` "${opts.source}"` : "";
  const unexpectedKeys = Object.keys(sd).filter((k) => !own.has(k));
  const shapeMismatches: [string, number[], number[]][] = [];
  const ok: Record<string, HostTensor> = {};
  for (const [k, t] of own) {
    const s = sd[k];
    if (!s) continue;
    if (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i])) {
      shapeMismatches.push([k, [...s.shape], [...t.shape]]);
    } else ok[k] = s;
  }
  const missingKeys = [...own.keys()].filter((k) =>
    !(k in sd) && !k.includes("num_batches_tracked")
  );
  const parts: string[] = [];
  for (const [k, a, b] of shapeMismatches) {
    parts.push(
      `size mismatch for ${k}: copying a param with shape ${torchSize(a)} from checkpoint, ` +
        `the shape in current model is ${torchSize(b)}.`,
    );
  }
  if (unexpectedKeys.length) {
    parts.push(`unexpected key in source state_dict: ${unexpectedKeys.join(", ")}\n`);
  }
  if (missingKeys.length) {
    parts.push(`missing keys in source state_dict: ${missingKeys.join(", ")}\n`);
  }
  const message = parts.length
    ? ["The model and loaded state dict do not match exactly\n", ...parts].join("\n")
    : "";
  const loaded = Object.keys(ok);
  if (loaded.length === 0 && Object.keys(sd).length > 0 && own.size > 0) {
    const first = (ks: string[]) => ks.slice(0, 3).join(", ") + (ks.length > 3 ? ", …" : "");
    const hint = statePrefixHint(new Set(own.keys()), new Set(Object.keys(sd)));
    throw new DataError(
      `Cannot load state dict${src} into ${module.constructor.name}: not one of its ` +
        `${
          Object.keys(sd).length
        } entries matches the model's ${own.size} parameters and buffers ` +
        `by name and shape (checkpoint keys: ${first(Object.keys(sd))}; model keys: ` +
        `${first([...own.keys()])})` +
        (hint ||
          `: it is another model's checkpoint, or its keys need a prefix ` +
            `(init_cfg=dict(type="Pretrained", checkpoint=..., prefix="backbone."))`),
    );
  }
  if (message && opts.strict) {
    throw new RangeError(`Error(s) in loading state_dict${src}: ${message}`);
  }
  module.loadStateDict(ok, { strict: false });
  if (message) (opts.warn ?? console.warn)(message);
  return { loaded, missingKeys, unexpectedKeys, shapeMismatches, message };
}
