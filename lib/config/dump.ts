/**
 * Dumping a merged config as a TS module (`export const x = ...;`) or JSON that loads back to the
 * same config.
 *
 * @module
 */
import { ConfigError } from "../utils/errors.ts";
import type { CfgDict, CfgValue, Config } from "./config.ts";

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const RESERVED = new Set(
  ("break case catch class const continue debugger default delete do else enum export extends " +
    "false finally for function if import in instanceof new null return super switch this throw " +
    "true try typeof var void while with yield let static implements interface package private " +
    "protected public await").split(" "),
);
const WIDTH = 100;

function formatKey(k: string): string {
  return IDENT.test(k) ? k : JSON.stringify(k);
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "Infinity";
  if (n === -Infinity) return "-Infinity";
  return Object.is(n, -0) ? "-0" : String(n);
}

/** Formats a value as a TS literal; short containers stay on one line. */
function formatValue(v: CfgValue, indent: string): string {
  if (v === null) return "null";
  if (typeof v === "number") return formatNumber(v);
  if (typeof v === "string" || typeof v === "boolean") return JSON.stringify(v);
  const inner = indent + "  ";
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    const flat = `[${v.map((x) => formatValue(x, "")).join(", ")}]`;
    if (!flat.includes("\n") && flat.length + indent.length <= WIDTH - 20) return flat;
    return `[\n${v.map((x) => `${inner}${formatValue(x, inner)},`).join("\n")}\n${indent}]`;
  }
  const entries = Object.entries(v);
  if (entries.length === 0) return "{}";
  const flat = `{ ${
    entries.map(([k, x]) => `${formatKey(k)}: ${formatValue(x, "")}`).join(", ")
  } }`;
  if (!flat.includes("\n") && flat.length + indent.length <= WIDTH - 20) return flat;
  const lines = entries.map(([k, x]) => `${inner}${formatKey(k)}: ${formatValue(x, inner)},`);
  return `{\n${lines.join("\n")}\n${indent}}`;
}

/** Options of {@linkcode dumpConfig}. */
export interface DumpOptions {
  /** `"ts"` (default): a module of named exports; `"json"`: one JSON object. */
  format?: "ts" | "json";
}

/**
 * The merged config as text: a TS module with one `export const key = ...;` per top-level key (keys
 * that are not identifiers are exported under their string name), or JSON. Either reloads with
 * `loadConfig` to an equal config.
 *
 * @throws {ConfigError} For JSON output of NaN or infinite numbers, which JSON cannot hold.
 *
 * @example
 * ```ts
 * import { Config } from "./config.ts";
 * import { dumpConfig } from "./dump.ts";
 * dumpConfig(new Config({ log_level: "INFO" }, "a.ts")); // contains 'export const log_level = "INFO";'
 * ```
 */
export function dumpConfig(cfg: Config, opts: DumpOptions = {}): string {
  if (opts.format === "json") {
    assertJsonSafe(cfg.dict, "", cfg.filename);
    return JSON.stringify(cfg.dict, null, 2) + "\n";
  }
  const out = [
    `// Config "${cfg.filename}", merged with its bases and options; dumped by wgdet.`,
    "// Reload with loadConfig(); it has no _base_.",
    "",
  ];
  const aliases: string[] = [];
  for (const [k, v] of Object.entries(cfg.dict)) {
    if (IDENT.test(k) && !RESERVED.has(k)) {
      out.push(`export const ${k} = ${formatValue(v, "")};`);
    } else {
      const local = `_key${aliases.length}`;
      out.push(`const ${local} = ${formatValue(v, "")};`);
      aliases.push(`${local} as ${JSON.stringify(k)}`);
    }
  }
  if (aliases.length > 0) out.push(`export { ${aliases.join(", ")} };`);
  return out.join("\n") + "\n";
}

function assertJsonSafe(v: CfgValue, path: string, file: string): void {
  if (typeof v === "number" && !Number.isFinite(v)) {
    throw new ConfigError(
      `Cannot dump config "${file}" as JSON: "${path}" is ${v}, which JSON cannot hold: dump as TS`,
    );
  }
  if (Array.isArray(v)) {
    v.forEach((x, i) => assertJsonSafe(x, path ? `${path}.${i}` : `${i}`, file));
  } else if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v as CfgDict)) {
      assertJsonSafe(x, path ? `${path}.${k}` : k, file);
    }
  }
}
