/**
 * Results files of `test`, in mmdetection's layout: `--out results.pkl` (a pickle of one list per
 * image of one float32 `[k, 5]` numpy array per class, what `mmcv.dump(outputs, "results.pkl")`
 * writes) or `--out results.json` (the same nesting as JSON lists, what `mmcv.dump(outputs,
 * "results.json")` writes); and the checks of every output path before any inference runs.
 *
 * @module
 */
import { dirname, extname, resolve } from "../utils/path.ts";
import { platform } from "../platform/mod.ts";
import type { BboxResult } from "../models/detectors/base.ts";
import { ConfigError } from "../utils/errors.ts";
import { NdArray, pickleDumps, pickleLoads, type PickleValue } from "../utils/pickle.ts";

/** The extensions `--out` accepts. */
export const RESULT_EXTENSIONS = [".pkl", ".pickle", ".json"] as const;

/** Throws a ConfigError unless the folder of `path` exists (`what` names the flag). */
export async function checkOutputFolder(path: string, what: string): Promise<void> {
  const dir = dirname(resolve(path));
  const st = await platform().stat(dir).catch(() => null);
  if (!st?.isDirectory) {
    throw new ConfigError(
      `Invalid ${what} "${path}": the folder "${dir}" does not exist: create it first (mkdir -p ${dir})`,
    );
  }
}

/** Checks `--out` (extension and folder) before inference starts. */
export async function checkResultsPath(out: string): Promise<void> {
  const ext = extname(out).toLowerCase();
  if (!(RESULT_EXTENSIONS as readonly string[]).includes(ext)) {
    throw new ConfigError(
      `Invalid --out "${out}": the results file must end with .pkl, .pickle or .json`,
    );
  }
  await checkOutputFolder(out, "--out");
}

/** The outputs of a test run that {@linkcode checkTestOptions} checks. */
export interface TestOutputOptions {
  /** `--eval` metrics. */
  eval?: string[];
  /** `--out` results file. */
  out?: string;
  /** `--format-only`. */
  formatOnly?: boolean;
  /** `--eval-options`. */
  evalOptions?: Record<string, unknown>;
  /** `--show-dir`. */
  showDir?: string;
  /** `--show-score-thr`. */
  showScoreThr?: number;
}

/**
 * Checks every output of a test run before any work: `--out`'s extension and folder,
 * `--format-only` with a `jsonfile_prefix` whose folder exists, something to do.
 *
 * @throws {ConfigError} Naming the flag and the fix.
 */
export async function checkTestOptions(opts: TestOutputOptions): Promise<void> {
  if (opts.out) await checkResultsPath(opts.out);
  if (opts.formatOnly && opts.eval?.length) {
    throw new ConfigError(
      "--eval and --format-only cannot be both specified: --format-only writes the results for an evaluation server",
    );
  }
  const prefix = opts.evalOptions?.jsonfile_prefix;
  if (prefix !== undefined && typeof prefix !== "string") {
    throw new ConfigError(
      `Invalid --eval-options jsonfile_prefix=${JSON.stringify(prefix)}: expected a path prefix`,
    );
  }
  if (opts.formatOnly && !prefix) {
    throw new ConfigError(
      "--format-only needs --eval-options jsonfile_prefix=PATH (the results go to PATH.bbox.json)",
    );
  }
  if (typeof prefix === "string") await checkOutputFolder(prefix, "jsonfile_prefix");
  if (opts.showScoreThr !== undefined && !(opts.showScoreThr >= 0 && opts.showScoreThr <= 1)) {
    throw new ConfigError(`Invalid --show-score-thr ${opts.showScoreThr}: expected 0 to 1`);
  }
  if (!opts.out && !opts.eval?.length && !opts.showDir && !opts.formatOnly) {
    throw new ConfigError(
      "Nothing to do: give at least one of --eval, --out, --format-only or --show-dir",
    );
  }
}

/** The results as mmdetection's nested lists: image → class → `[k, 5]`. */
export function resultsToNested(results: BboxResult[]): number[][][][] {
  return results.map((perClass) =>
    perClass.map((rows) => {
      const out: number[][] = [];
      for (let r = 0; r + 5 <= rows.length; r += 5) {
        out.push([rows[r], rows[r + 1], rows[r + 2], rows[r + 3], rows[r + 4]]);
      }
      return out;
    })
  );
}

/** The results file bytes for `path`'s extension (.pkl/.pickle: pickle; .json: JSON). */
export function encodeResults(results: BboxResult[], path: string): Uint8Array {
  if (extname(path).toLowerCase() === ".json") {
    return new TextEncoder().encode(JSON.stringify(resultsToNested(results)));
  }
  const value: PickleValue = results.map((perClass) =>
    perClass.map((rows) => new NdArray(Float32Array.from(rows), [rows.length / 5, 5]))
  );
  return pickleDumps(value);
}

/** Writes `results` to `path` in mmdetection's layout. */
export async function writeResults(results: BboxResult[], path: string): Promise<void> {
  await platform().writeFile(path, encodeResults(results, path));
}

/**
 * Reads a results file (.pkl/.pickle written by wgdet or mmdetection, or .json in the same
 * nesting; wgdet's older `{classes, results}` JSON too).
 */
export async function readResults(path: string): Promise<BboxResult[]> {
  const bytes = await platform().readFile(path).catch((e) => {
    throw platform().notFound(`Cannot read results "${path}": ${(e as Error).message}`);
  });
  const ext = extname(path).toLowerCase();
  let value: unknown;
  if (ext === ".json") {
    value = JSON.parse(new TextDecoder().decode(bytes));
    if (value && typeof value === "object" && !Array.isArray(value) && "results" in value) {
      value = (value as { results: unknown }).results;
    }
  } else if (ext === ".pkl" || ext === ".pickle") {
    value = pickleLoads(bytes, path);
  } else {
    throw new ConfigError(`Cannot read results "${path}": expected a .pkl, .pickle or .json file`);
  }
  if (!Array.isArray(value)) {
    throw new TypeError(`Cannot read results "${path}": expected a list with one entry per image`);
  }
  return value.map((perClass, i) => {
    if (!Array.isArray(perClass)) {
      throw new TypeError(
        `Cannot read results "${path}": image ${i} is not a list of per-class arrays (bbox results only; mask results are not supported)`,
      );
    }
    return perClass.map((c, label) => {
      if (c instanceof NdArray) return Float32Array.from(c.data);
      if (Array.isArray(c)) return Float32Array.from((c as unknown[]).flat() as number[]);
      throw new TypeError(
        `Cannot read results "${path}": image ${i} class ${label} is not an array`,
      );
    });
  });
}
