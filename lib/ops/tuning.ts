/**
 * Per-adapter kernel tuning: candidate variants of a kernel (tile shapes) are timed once on the
 * adapter at hand for a shape class, and the winner is remembered in an in-memory table keyed by
 * adapter + shape class. The table can be exported to / imported from JSON, or saved to and loaded
 * from a file whose path the caller gives (the library never touches the file system otherwise).
 *
 * Choices only ever pick among variants that pass the same correctness tests, so a stale or
 * foreign cache can cost speed but never correctness.
 *
 * @module
 */
import { getGpu } from "../gpu/runtime.ts";
import { platform } from "../platform/mod.ts";

/** Tuned choices: shape-class key → variant name. */
const table = new Map<string, string>();

/** Buckets a size to the next power of two (shape classes, not shapes, are tuned). */
export function sizeBucket(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}

/** The key of a shape class on the current adapter: `adapter|kernel|parts…`. */
export function tuningKey(kernel: string, parts: readonly (string | number)[]): string {
  return [getGpu().info.adapterName, kernel, ...parts].join("|");
}

/** The tuned variant name for `key`, if one was recorded or imported. */
export function tunedChoice(key: string): string | undefined {
  return table.get(key);
}

/** Records `variant` as the choice for `key`. */
export function setTunedChoice(key: string, variant: string): void {
  table.set(key, variant);
}

/** Forgets every tuned choice. */
export function clearTuning(): void {
  table.clear();
}

/** The tuned choices as a plain JSON-able object. */
export function exportTuning(): Record<string, string> {
  return Object.fromEntries(table);
}

/** Merges choices from {@linkcode exportTuning}'s format; non-string values are rejected. */
export function importTuning(entries: Record<string, unknown>, source = "tuning data"): void {
  for (const [k, v] of Object.entries(entries)) {
    if (typeof v !== "string") {
      throw new TypeError(
        `Cannot import tuning entry "${k}" from ${source}: the value is ${typeof v}, expected a variant name`,
      );
    }
    table.set(k, v);
  }
}

/**
 * Loads choices from the JSON file at `path` (as written by {@linkcode saveTuningCache}). A missing
 * file is not an error (returns false): the cache is filled by tuning.
 */
export async function loadTuningCache(path: string): Promise<boolean> {
  let text: string;
  try {
    text = await platform().readTextFile(path);
  } catch (e) {
    if (platform().isNotFound(e)) return false;
    throw e;
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(
      `Cannot parse the tuning cache ${path}: ${(e as Error).message}: delete the file to re-tune`,
    );
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    throw new TypeError(
      `Cannot load the tuning cache ${path}: expected a JSON object of key → variant name`,
    );
  }
  importTuning(obj as Record<string, unknown>, path);
  return true;
}

/** Writes every tuned choice to `path` as JSON. */
export async function saveTuningCache(path: string): Promise<void> {
  await platform().writeTextFile(path, JSON.stringify(exportTuning(), null, 1) + "\n");
}

/** Options of {@linkcode tune}. */
export interface TuneOptions {
  /** Minimum wall time of one timed batch in ms (default 20): amortises the synchronisation. */
  minBatchMs?: number;
  /** Rounds over all candidates; each candidate's best batch counts (default 2). */
  batches?: number;
  /** Leaders timed again in further interleaved rounds before the choice (default 3). */
  finalists?: number;
}

/**
 * Times `run(candidate)` for every candidate and records the fastest for `key`; returns it with
 * each candidate's best ms per run. Each candidate gets one warm-up run (pipeline compiles) and a
 * batch size (back-to-back runs between two GPU idle points, grown until a batch lasts
 * `minBatchMs` and has at least 4 runs). Then the candidates are timed in interleaved rounds —
 * one batch each per round — so that a burst of load on a shared machine hits every candidate
 * alike rather than one, and the `finalists` best are timed in as many rounds again before the
 * choice. `run` must only record GPU work and release what it creates.
 */
export async function tune(
  key: string,
  candidates: readonly string[],
  run: (candidate: string) => void,
  opts: TuneOptions = {},
): Promise<{ best: string; ms: Record<string, number> }> {
  if (candidates.length === 0) throw new RangeError(`Cannot tune ${key}: no candidate variants`);
  const gpu = getGpu();
  const minMs = opts.minBatchMs ?? 20, rounds = opts.batches ?? 2;
  const ms: Record<string, number> = {};
  const reps: Record<string, number> = {};
  const batch = async (c: string, n: number): Promise<number> => {
    const t0 = performance.now();
    for (let r = 0; r < n; r++) run(c);
    await gpu.sync();
    return performance.now() - t0;
  };
  // warm-up and batch size
  for (const c of candidates) {
    run(c);
    await gpu.sync();
    let n = 1;
    for (;;) {
      const el = await batch(c, n);
      // at least 4 runs: one slow first batch must not fix the size at 1 (the synchronisation
      // would then be counted once per run)
      if ((el >= minMs && n >= 4) || n >= 1024) {
        ms[c] = el / n;
        break;
      }
      n = Math.min(1024, Math.max(n * 2, Math.ceil((n * minMs) / Math.max(el, 1e-3))));
    }
    reps[c] = n;
  }
  const rank = () => [...candidates].sort((a, b) => ms[a] - ms[b]);
  const timeRounds = async (cs: readonly string[]) => {
    for (let r = 0; r < rounds; r++) {
      for (const c of cs) ms[c] = Math.min(ms[c], (await batch(c, reps[c])) / reps[c]);
    }
  };
  await timeRounds(candidates);
  if (candidates.length > 1) await timeRounds(rank().slice(0, opts.finalists ?? 3));
  const best = rank()[0];
  table.set(key, best);
  return { best, ms };
}
