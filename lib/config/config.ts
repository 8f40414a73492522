/**
 * Config files with mmcv's semantics: TS modules (named exports) or JSON, `_base_` inheritance
 * resolved relative to the child file or URL, recursive dict merge, lists replace, `_delete_: true`
 * replaces, sibling bases may not define the same top-level key.
 *
 * @module
 */
import { dirname, extname, isAbsolute, relative, resolve } from "../utils/path.ts";
import { fileURLToPath, pathToFileURL } from "../utils/path.ts";
import { ConfigError } from "../utils/errors.ts";
import { closestMatch } from "../utils/suggest.ts";
import { platform } from "../platform/mod.ts";

/** A JSON-like config value: what config files may contain. */
export type CfgValue = null | boolean | number | string | CfgValue[] | CfgDict;
/** A config object: snake_case keys as in mmdetection. */
export interface CfgDict {
  /** Any key maps to a config value. */
  [key: string]: CfgValue;
}

/** The key that replaces a base value instead of merging into it. */
export const DELETE_KEY = "_delete_";
/** The key that lists the base configs of a file. */
export const BASE_KEY = "_base_";

/**
 * A loaded config: the merged plain object (`dict`) plus the file it came from.
 *
 * @example
 * ```ts
 * import { Config } from "./config.ts";
 * const cfg = new Config({ model: { type: "RetinaNet" } }, "inline.ts");
 * cfg.get("model.type"); // "RetinaNet"
 * ```
 */
export class Config {
  /** The merged config object. Mutate it through `applyCfgOptions`/`mergeFromDict` or directly. */
  dict: CfgDict;
  /** The path or URL the config was loaded from (as given by the caller). */
  readonly filename: string;

  /** Wraps an already merged `dict`; `filename` names it in error messages. */
  constructor(dict: CfgDict, filename = "<dict>") {
    this.dict = dict;
    this.filename = filename;
  }

  /** The config name without folder and extension, e.g. `retinanet_r50_fpn_1x_coco`. */
  get name(): string {
    const base = this.filename.split(/[\\/]/).pop() ?? this.filename;
    return base.replace(/\.(ts|js|mjs|json)$/, "");
  }

  /**
   * The value at a dotted key path (`"model.bbox_head.num_classes"`; list indices as numbers), or
   * undefined when any part is missing.
   */
  get(keyPath: string): CfgValue | undefined {
    let cur: CfgValue | undefined = this.dict;
    for (const part of keyPath.split(".")) {
      if (Array.isArray(cur) && /^\d+$/.test(part)) cur = cur[Number(part)];
      else if (isDict(cur)) cur = Object.hasOwn(cur, part) ? cur[part] : undefined;
      else return undefined;
    }
    return cur;
  }

  /** A deep copy of the merged object. */
  toJSON(): CfgDict {
    return structuredClone(this.dict);
  }
}

/** Whether `v` is a plain config object (not an array, not null). */
export function isDict(v: unknown): v is CfgDict {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Resolves a path or URL string to a URL (relative paths against the current directory). */
export function toConfigUrl(pathOrUrl: string | URL): URL {
  if (pathOrUrl instanceof URL) return pathOrUrl;
  if (/^(https?|file):\/\//.test(pathOrUrl)) return new URL(pathOrUrl);
  return pathToFileURL(isAbsolute(pathOrUrl) ? pathOrUrl : resolve(pathOrUrl));
}

/** A short name for a config URL: a cwd-relative path for local files, else the URL. */
export function displayName(url: URL): string {
  if (url.protocol !== "file:") return url.href;
  const path = fileURLToPath(url);
  let cwd: string;
  try {
    cwd = platform().cwd();
  } catch {
    return path;
  }
  const rel = relative(cwd, path);
  return rel.startsWith("..") || isAbsolute(rel) ? path : rel;
}

/**
 * Loads a config file (`.ts`/`.js`/`.mjs` module with named exports, or `.json`), resolving its
 * `_base_` chain and merging with mmcv's rules.
 *
 * @param pathOrUrl A file path (relative to the current directory) or a `file:`/`http(s):` URL.
 * @returns The merged config.
 * @throws {ConfigError} For a missing or unparsable file, a `_base_` cycle, duplicate keys in
 *   sibling bases, or a child dict that cannot merge into a non-dict base value. The message names
 *   the file and the key path.
 *
 * @example
 * ```ts ignore
 * import { loadConfig } from "./config.ts";
 * const cfg = await loadConfig("configs/retinanet/retinanet_r50_fpn_1x_coco.ts");
 * console.log(cfg.get("optimizer.lr")); // 0.01
 * ```
 */
export async function loadConfig(
  pathOrUrl: string | URL,
  opts: { allowRemoteConfig?: boolean } = {},
): Promise<Config> {
  const url = toConfigUrl(pathOrUrl);
  const allow = opts.allowRemoteConfig ?? allowRemoteDefault;
  const dataOnly = extname(url.pathname).toLowerCase() === ".json";
  const dict = await fileToDict(url, [], { allow, dataOnly, root: displayName(url) });
  stripDeleteKeys(dict);
  return new Config(dict, typeof pathOrUrl === "string" ? pathOrUrl : displayName(url));
}

let allowRemoteDefault = false;

/**
 * Sets the process-wide default of `loadConfig`'s `allowRemoteConfig` (the CLI's
 * `--allow-remote-config`); returns the previous value.
 */
export function setAllowRemoteConfig(on: boolean): boolean {
  const prev = allowRemoteDefault;
  allowRemoteDefault = on;
  return prev;
}

interface CodePolicy {
  /** Code may be imported from a URL, or from a module `_base_` of a JSON config. */
  allow: boolean;
  /** The root config is JSON: the user chose a data-only format. */
  dataOnly: boolean;
  /** The root config's name, for messages. */
  root: string;
}

/**
 * Refuses to import (execute) a module config the user did not choose to run: one named by a
 * non-file URL, or any module `_base_` of a JSON config, unless `--allow-remote-config`.
 */
function checkCodePolicy(url: URL, policy: CodePolicy): void {
  const ext = extname(url.pathname).toLowerCase();
  if (policy.allow || ext === ".json") return;
  const name = displayName(url);
  if (url.protocol !== "file:") {
    throw new ConfigError(
      `Cannot load config "${name}": it is a ${ext} module from ${url.protocol}//${url.host}, and ` +
        `loading it runs its code; pass --allow-remote-config (loadConfig's allowRemoteConfig) ` +
        `if you trust it, or download it and review it first`,
    );
  }
  if (policy.dataOnly) {
    throw new ConfigError(
      `Cannot load config "${name}": it is a ${ext} module named as a _base_ of the JSON config ` +
        `"${policy.root}", and loading it runs its code; a JSON config is data only: pass ` +
        `--allow-remote-config (loadConfig's allowRemoteConfig) to allow it`,
    );
  }
}

/** Loads one file and its bases into a merged dict (with `_delete_` keys still present). */
async function fileToDict(url: URL, stack: string[], policy: CodePolicy): Promise<CfgDict> {
  const name = displayName(url);
  checkCodePolicy(url, policy);
  if (stack.includes(url.href)) {
    const chain = [...stack, url.href].map((h) => displayName(new URL(h))).join(" -> ");
    throw new ConfigError(`Cannot load config "${name}": circular _base_ chain: ${chain}`);
  }
  const own = await readConfigFile(url);
  const baseSpec = own[BASE_KEY];
  delete own[BASE_KEY];
  if (baseSpec === undefined) return own;
  const bases = typeof baseSpec === "string" ? [baseSpec] : baseSpec;
  if (!Array.isArray(bases) || !bases.every((b) => typeof b === "string")) {
    throw new ConfigError(
      `Cannot load config "${name}": "_base_" must be a string or an array of relative paths, ` +
        `got ${JSON.stringify(baseSpec)}`,
    );
  }
  // 1. load every base; sibling bases may not define the same top-level key
  const merged: CfgDict = {};
  const owner = new Map<string, string>();
  for (const rel of bases as string[]) {
    const baseUrl = new URL(rel, url);
    const baseDict = await fileToDict(baseUrl, [...stack, url.href], policy);
    const baseName = displayName(baseUrl);
    for (const [k, v] of Object.entries(baseDict)) {
      const prev = owner.get(k);
      if (prev !== undefined) {
        throw new ConfigError(
          `Cannot merge base configs of "${name}": key "${k}" is defined in both "${prev}" and ` +
            `"${baseName}": sibling bases may not share top-level keys; move it to one of them`,
        );
      }
      owner.set(k, baseName);
      merged[k] = v;
    }
  }
  // 2. the child merges into the union of its bases
  return mergeAIntoB(own, merged, { file: name });
}

/** Reads one config file without resolving bases; values are deep copies. */
async function readConfigFile(url: URL): Promise<CfgDict> {
  const name = displayName(url);
  const ext = extname(url.pathname).toLowerCase();
  if (ext === ".py") {
    throw new ConfigError(
      `Cannot load config "${name}": Python configs are not supported: port it to a TS module ` +
        `with named exports (see configs/README.md)`,
    );
  }
  if (![".ts", ".js", ".mjs", ".json"].includes(ext)) {
    throw new ConfigError(
      `Cannot load config "${name}": unsupported extension "${ext}": use .ts, .js, .mjs or .json`,
    );
  }
  if (url.protocol === "file:") await assertFileExists(url);
  let raw: Record<string, unknown>;
  if (ext === ".json") {
    let text: string;
    try {
      text = url.protocol === "file:" ? await platform().readTextFile(url) : await fetchText(url);
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      throw new ConfigError(`Cannot read config "${name}": ${(e as Error).message}`);
    }
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`Cannot parse config "${name}": ${(e as Error).message}`);
    }
    if (!isDict(raw as CfgValue)) {
      throw new ConfigError(`Cannot load config "${name}": a JSON config must be an object`);
    }
  } else {
    let ns: Record<string, unknown>;
    try {
      ns = await import(url.href);
    } catch (e) {
      const msg = (e as Error).message?.split("\n")[0] ?? String(e);
      throw new ConfigError(`Cannot import config "${name}": ${msg}`);
    }
    if ("default" in ns) {
      throw new ConfigError(
        `Cannot load config "${name}": it has a default export: configs use named exports only ` +
          `(export const model = {...})`,
      );
    }
    raw = { ...ns };
  }
  const out: CfgDict = {};
  for (const [k, v] of Object.entries(raw)) out[k] = toPlain(v, k, name);
  return out;
}

async function fetchText(url: URL): Promise<string> {
  const res = await fetch(url);
  if (!res.ok) {
    await res.body?.cancel();
    throw new ConfigError(`Cannot load config "${url.href}": HTTP ${res.status} ${res.statusText}`);
  }
  return await res.text();
}

/** Throws a ConfigError naming the path, with similar file names in its folder. */
async function assertFileExists(url: URL): Promise<void> {
  const path = fileURLToPath(url);
  try {
    const st = await platform().stat(path);
    if (!st.isFile) throw new ConfigError(`Cannot load config "${displayName(url)}": not a file`);
    return;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    if (!(platform().isNotFound(e))) {
      throw new ConfigError(`Cannot read config "${displayName(url)}": ${(e as Error).message}`);
    }
  }
  const dir = dirname(path);
  const want = path.slice(dir.length + 1);
  let names: string[] = [];
  try {
    for await (const entry of platform().readDir(dir)) if (entry.isFile) names.push(entry.name);
  } catch {
    throw new ConfigError(
      `Cannot load config "${displayName(url)}": file not found, and its folder ` +
        `"${displayName(pathToFileURL(dir))}" does not exist`,
    );
  }
  names = names.filter((n) => /\.(ts|js|mjs|json)$/.test(n)).sort();
  const hint = closestMatch(want, names);
  const tail = hint
    ? `; did you mean "${displayName(pathToFileURL(`${dir}/${hint}`))}"?`
    : names.length > 0
    ? `; configs in that folder: ${names.slice(0, 8).join(", ")}${names.length > 8 ? ", ..." : ""}`
    : "";
  throw new ConfigError(`Cannot load config "${displayName(url)}": file not found${tail}`);
}

/** Deep-copies `v` into plain config data, rejecting functions, classes and other objects. */
function toPlain(v: unknown, keyPath: string, file: string): CfgValue {
  if (v === null || typeof v === "boolean" || typeof v === "number" || typeof v === "string") {
    return v;
  }
  if (v === undefined) return null;
  if (Array.isArray(v)) return v.map((x, i) => toPlain(x, `${keyPath}.${i}`, file));
  if (typeof v === "object") {
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) {
      const out: CfgDict = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        out[k] = toPlain(x, `${keyPath}.${k}`, file);
      }
      return out;
    }
  }
  const kind = typeof v === "function"
    ? "a function"
    : `a ${(v as object).constructor?.name ?? typeof v}`;
  throw new ConfigError(
    `Cannot load config "${file}": "${keyPath}" is ${kind}: config values must be plain data ` +
      `(objects, arrays, strings, numbers, booleans, null)`,
  );
}

/** Options of {@linkcode mergeAIntoB}. */
export interface MergeOptions {
  /** Allow numeric keys to index into base arrays (used by `--cfg-options`). */
  allowListKeys?: boolean;
  /** The file the child values come from, for error messages. */
  file?: string;
  /** The key path of `a` inside the whole config, for error messages. */
  prefix?: string;
}

/**
 * Merges config `a` into a copy of `b` with mmcv's rules: dicts merge recursively; any other value
 * (arrays included) replaces; a dict with `_delete_: true` replaces the base value instead of
 * merging; a dict cannot merge into a base value that is not a dict (error suggesting
 * `_delete_`). With `allowListKeys`, digit keys index into base arrays.
 *
 * @returns A new object; `a` and `b` are not modified.
 */
export function mergeAIntoB(a: CfgDict, b: CfgDict | CfgValue[], opts: MergeOptions = {}): CfgDict {
  const out: CfgDict | CfgValue[] = Array.isArray(b) ? [...b] : { ...b };
  for (const [k, v] of Object.entries(a)) {
    const path = opts.prefix ? `${opts.prefix}.${k}` : k;
    const sub = { ...opts, prefix: path };
    if (Array.isArray(out)) {
      if (!opts.allowListKeys || !/^\d+$/.test(k)) {
        throw new ConfigError(
          `Cannot merge "${path}"${fromFile(opts)} into base config: the base value is an array ` +
            `and "${k}" is not an index`,
        );
      }
      const idx = Number(k);
      if (idx >= out.length) {
        throw new ConfigError(
          `Cannot merge "${path}"${
            fromFile(opts)
          } into base config: index ${idx} is out of range ` +
            `for an array of length ${out.length}`,
        );
      }
      out[idx] =
        isDict(v) && (isDict(out[idx]) || Array.isArray(out[idx])) && v[DELETE_KEY] !== true
          ? mergeAIntoB(v, out[idx] as CfgDict, sub)
          : clone(v);
      continue;
    }
    if (isDict(v)) {
      const hasBase = Object.hasOwn(out, k);
      if (hasBase && v[DELETE_KEY] !== true && !(opts.allowListKeys && out[k] === null)) {
        // (--cfg-options may fill a null base value, e.g. grad_clip, with a dict)
        const base = out[k];
        const ok = isDict(base) || (opts.allowListKeys === true && Array.isArray(base));
        if (!ok) {
          const got = base === null
            ? "null"
            : Array.isArray(base)
            ? "an array"
            : `a ${typeof base}`;
          throw new ConfigError(
            `Cannot merge "${path}"${fromFile(opts)} into base config: child value is an object ` +
              `but base value is ${got}: set "_delete_: true" to replace it`,
          );
        }
        const { [DELETE_KEY]: _drop, ...rest } = v;
        out[k] = mergeAIntoB(rest, base as CfgDict, sub);
      } else {
        out[k] = clone(v);
      }
    } else {
      out[k] = clone(v);
    }
  }
  return out as CfgDict;
}

function fromFile(opts: MergeOptions): string {
  return opts.file ? ` from "${opts.file}"` : "";
}

function clone<T extends CfgValue>(v: T): T {
  return v !== null && typeof v === "object" ? structuredClone(v) : v;
}

/** Removes every `_delete_` key (they only steer merging) in place. */
export function stripDeleteKeys(v: CfgValue): void {
  if (Array.isArray(v)) v.forEach(stripDeleteKeys);
  else if (isDict(v)) {
    delete v[DELETE_KEY];
    for (const x of Object.values(v)) stripDeleteKeys(x);
  }
}
