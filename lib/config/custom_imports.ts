/**
 * mmcv's `custom_imports = dict(imports=[...], allow_failed_imports=False)`: modules imported before
 * anything is built, so the components they register (backbones, heads, hooks, pipelines, …) can be
 * named in the config. An entry is a module path (`.ts`/`.js`/`.mjs`, relative to the current
 * directory, as mmcv's module names are relative to `sys.path`) or an `http(s):`/`file:` URL.
 * URLs are imported as configs from URLs are: by Deno's module loader, under its import
 * permission (`--allow-import`), so no code runs that a config from the same place could not run.
 *
 * @module
 */
import { isAbsolute, pathToFileURL, resolve } from "../utils/path.ts";
import { ConfigError } from "../utils/errors.ts";
import { type Config, isDict } from "./config.ts";

/** The modules of `custom_imports`, checked; empty without the key. */
export function customImportList(cfg: Config): { imports: string[]; allowFailed: boolean } {
  const raw = cfg.dict.custom_imports;
  if (raw === undefined || raw === null) return { imports: [], allowFailed: false };
  if (!isDict(raw)) {
    throw new ConfigError(
      `Invalid custom_imports in "${cfg.filename}": expected dict(imports=["path/to/module.ts", ...])`,
    );
  }
  for (const k of Object.keys(raw)) {
    if (k !== "imports" && k !== "allow_failed_imports") {
      throw new ConfigError(
        `Unknown key "custom_imports.${k}" in "${cfg.filename}": custom_imports has imports and allow_failed_imports`,
      );
    }
  }
  const list = typeof raw.imports === "string" ? [raw.imports] : raw.imports;
  if (!Array.isArray(list) || !list.every((m) => typeof m === "string")) {
    throw new ConfigError(
      `Invalid custom_imports.imports ${
        JSON.stringify(raw.imports)
      } in "${cfg.filename}": expected a list of module paths or URLs`,
    );
  }
  const allowFailed = raw.allow_failed_imports ?? false;
  if (typeof allowFailed !== "boolean") {
    throw new ConfigError(
      `Invalid custom_imports.allow_failed_imports ${
        JSON.stringify(allowFailed)
      } in "${cfg.filename}": expected true or false`,
    );
  }
  return { imports: list as string[], allowFailed };
}

/** The URL an entry of `custom_imports.imports` is imported from. */
export function customImportUrl(entry: string, cfgFile = "<config>"): URL {
  if (/^(https?|file):\/\//.test(entry)) return new URL(entry);
  if (!/\.(ts|js|mjs)$/.test(entry)) {
    const hint = /^[\w.]+$/.test(entry)
      ? `: Python module names are not importable: give the path of a TS module, e.g. "${
        entry.replaceAll(".", "/")
      }.ts"`
      : ": give a .ts, .js or .mjs module path or an http(s) URL";
    throw new ConfigError(`Cannot import custom_imports entry "${entry}" in "${cfgFile}"${hint}`);
  }
  return pathToFileURL(isAbsolute(entry) ? entry : resolve(entry));
}

/**
 * Imports every module of `cfg.custom_imports` (once: modules are cached). A module that fails
 * to import is a `ConfigError`, or a warning with `allow_failed_imports=True`.
 *
 * @returns The URLs imported.
 */
export async function importCustomModules(
  cfg: Config,
  warn: (m: string) => void = (m) => console.warn(`warning: ${m}`),
): Promise<string[]> {
  const { imports, allowFailed } = customImportList(cfg);
  const done: string[] = [];
  for (const entry of imports) {
    let url: URL;
    try {
      url = customImportUrl(entry, cfg.filename);
      await import(url.href);
    } catch (e) {
      const msg = (e as Error).message?.split("\n")[0] ?? String(e);
      const text = e instanceof ConfigError
        ? msg
        : `Cannot import custom_imports entry "${entry}" in "${cfg.filename}": ${msg}`;
      if (!allowFailed) throw new ConfigError(text);
      warn(`${text} (skipped: allow_failed_imports=True)`);
      continue;
    }
    done.push(url.href);
  }
  return done;
}
