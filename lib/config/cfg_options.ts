/**
 * `--cfg-options a.b.c=value` overrides, parsed as mmcv's `DictAction` and merged as
 * `Config.merge_from_dict(options, allow_list_keys=True)`.
 *
 * @module
 */
import { ConfigError } from "../utils/errors.ts";
import { closestMatch } from "../utils/suggest.ts";
import {
  type CfgDict,
  type CfgValue,
  type Config,
  isDict,
  mergeAIntoB,
  stripDeleteKeys,
} from "./config.ts";

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Parses one scalar as DictAction does: int/float, true/false, None/null, else the string. */
function parseScalar(s: string): CfgValue {
  const t = s.trim();
  if (t.length >= 2 && ((t[0] === '"' && t.endsWith('"')) || (t[0] === "'" && t.endsWith("'")))) {
    return t.slice(1, -1); // an explicitly quoted value stays a string
  }
  if (NUMBER.test(t)) return Number(t);
  const lower = t.toLowerCase();
  if (lower === "inf" || lower === "+inf") return Infinity;
  if (lower === "-inf") return -Infinity;
  if (lower === "nan") return NaN;
  if (lower === "true") return true;
  if (lower === "false") return false;
  if (t === "None" || t === "null") return null;
  return t;
}

/** Index of the first comma outside brackets/parentheses/quotes, or the string length. */
function nextTopLevelComma(s: string): number {
  let depth = 0;
  let quote = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === quote) quote = "";
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "(" || c === "[") depth++;
    else if (c === ")" || c === "]") depth--;
    else if (c === "," && depth === 0) return i;
  }
  if (depth !== 0 || quote) {
    throw new SyntaxError(`Cannot parse option value "${s}": unbalanced brackets or quotes`);
  }
  return s.length;
}

/**
 * Parses an option value with DictAction's rules: `1` → 1, `0.5` → 0.5, `true`/`False` →
 * booleans, `None`/`null` → null, `[a,b]`, `(a,b)` and `a,b` → arrays (nested brackets allowed;
 * tuples become arrays), `"text"` → the string without quotes, anything else → the string.
 *
 * @example
 * ```ts
 * import { parseCfgOptionValue } from "./cfg_options.ts";
 * parseCfgOptionValue("[(1333,800),(1333,640)]"); // [[1333, 800], [1333, 640]]
 * ```
 */
export function parseCfgOptionValue(value: string): CfgValue {
  const v = value.trim();
  const quoted = v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0]) &&
    nextTopLevelComma(v) === v.length;
  if (quoted) return parseScalar(v);
  let body: string;
  if ((v.startsWith("(") && v.endsWith(")")) || (v.startsWith("[") && v.endsWith("]"))) {
    body = v.slice(1, -1);
  } else if (nextTopLevelComma(v) === v.length) {
    return parseScalar(v);
  } else {
    body = v;
  }
  const out: CfgValue[] = [];
  while (body.trim().length > 0) {
    const i = nextTopLevelComma(body);
    out.push(parseCfgOptionValue(body.slice(0, i)));
    body = body.slice(i + 1);
  }
  return out;
}

/** One parsed `--cfg-options` entry. */
export interface CfgOption {
  /** Dotted key path, e.g. `data.train.pipeline.2.flip_ratio`. */
  key: string;
  value: CfgValue;
  /** True when the key was written `+a.b=c`: a new key is added on purpose, without a warning. */
  add: boolean;
}

/**
 * Parses `["a.b=1", "c=[1,2]"]` into key/value pairs.
 *
 * @throws {ConfigError} When an entry has no `=` or an empty key.
 */
export function parseCfgOptions(options: readonly string[]): CfgOption[] {
  return options.map((kv) => {
    const eq = kv.indexOf("=");
    let key = eq < 0 ? "" : kv.slice(0, eq).trim();
    if (eq <= 0 || key === "" || key === "+") {
      throw new ConfigError(
        `Cannot parse --cfg-options entry "${kv}": expected KEY=VALUE, e.g. "optimizer.lr=0.005"`,
      );
    }
    const add = key.startsWith("+");
    if (add) key = key.slice(1);
    if (key.split(".").some((p) => p === "")) {
      throw new ConfigError(`Cannot parse --cfg-options entry "${kv}": empty part in key "${key}"`);
    }
    try {
      return { key, value: parseCfgOptionValue(kv.slice(eq + 1)), add };
    } catch (e) {
      throw new ConfigError(`Cannot parse --cfg-options entry "${kv}": ${(e as Error).message}`);
    }
  });
}

/**
 * Merges dotted-key options into the config, as mmcv's `merge_from_dict(allow_list_keys=True)`:
 * `{"model.bbox_head.num_classes": 3}` sets a nested key; a digit part indexes into an array.
 *
 * @returns The keys (dotted paths) that did not exist before and were added.
 */
export function mergeFromDict(cfg: Config, options: Record<string, CfgValue>): string[] {
  const added: string[] = [];
  const tree: CfgDict = {};
  for (const [full, value] of Object.entries(options)) {
    const parts = full.split(".");
    let node = tree;
    for (const p of parts.slice(0, -1)) {
      if (!isDict(node[p])) node[p] = {};
      node = node[p] as CfgDict;
    }
    node[parts[parts.length - 1]] = value;
    if (cfg.get(full) === undefined) added.push(full);
  }
  cfg.dict = mergeAIntoB(tree, cfg.dict, { allowListKeys: true, file: "--cfg-options" });
  stripDeleteKeys(cfg.dict);
  return added;
}

/** Options of {@linkcode applyCfgOptions}. */
export interface ApplyCfgOptionsOptions {
  /** Called with a message for each new key added without a `+` prefix (default: console.warn). */
  warn?: (message: string) => void;
}

/**
 * Applies `--cfg-options` strings to `cfg` in place. A key that does not exist yet is added (as
 * mmcv does) with a warning — unless it is written `+key=value`; a missing key that looks like a
 * typo of an existing sibling key is an error with a "did you mean".
 *
 * @example
 * ```ts
 * import { Config } from "./config.ts";
 * import { applyCfgOptions } from "./cfg_options.ts";
 * const cfg = new Config({ optimizer: { type: "SGD", lr: 0.02 } });
 * applyCfgOptions(cfg, ["optimizer.lr=0.01"]);
 * cfg.get("optimizer.lr"); // 0.01
 * ```
 */
export function applyCfgOptions(
  cfg: Config,
  options: readonly string[],
  opts: ApplyCfgOptionsOptions = {},
): void {
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const parsed = parseCfgOptions(options);
  for (const { key, add } of parsed) {
    if (add || cfg.get(key) !== undefined) continue;
    const parts = key.split(".");
    // find the deepest existing parent and check the first missing part for a typo
    let i = 0;
    while (i < parts.length && cfg.get(parts.slice(0, i + 1).join(".")) !== undefined) i++;
    const parentPath = parts.slice(0, i).join(".");
    const parent = i === 0 ? cfg.dict : cfg.get(parentPath);
    const missing = parts[i];
    if (Array.isArray(parent)) {
      throw new ConfigError(
        `Cannot apply --cfg-options "${key}": "${parentPath}" is an array of length ` +
          `${parent.length} and "${missing}" is not a valid index`,
      );
    }
    if (isDict(parent)) {
      const hint = closestMatch(missing, Object.keys(parent));
      if (hint !== undefined) {
        const fixed = [...parts.slice(0, i), hint, ...parts.slice(i + 1)].join(".");
        throw new ConfigError(
          `Cannot apply --cfg-options "${key}": key "${missing}" is not in ` +
            `${parentPath ? `"${parentPath}"` : "the config"} of "${cfg.filename}"; did you mean ` +
            `"${fixed}"? (write "+${key}=..." to add a new key)`,
        );
      }
    } else if (parent !== undefined && parent !== null && i < parts.length) {
      throw new ConfigError(
        `Cannot apply --cfg-options "${key}": "${parentPath}" is ${JSON.stringify(parent)}, ` +
          `not an object`,
      );
    }
    warn(`Adding key "${key}" that is not in config "${cfg.filename}" (--cfg-options)`);
  }
  const dict: Record<string, CfgValue> = {};
  for (const { key, value } of parsed) dict[key] = value;
  mergeFromDict(cfg, dict);
}
