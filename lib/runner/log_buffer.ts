/**
 * mmcv's `LogBuffer`: per key a history of (value, count), averaged over the last n entries. Values
 * may be GPU scalars (`LazyScalar`); `resolve()` reads all pending ones with one reader call, so
 * logging costs one readback per interval and none per step. Non-finite values are found at
 * resolve time and recorded with their iteration.
 *
 * @module
 */
import type { LazyScalar, LogValue } from "./types.ts";

/** Reads a batch of lazy scalars; must return one number per item, in order. */
export type ScalarReader = (items: LazyScalar[]) => Promise<number[]>;

let scalarReader: ScalarReader | undefined;

/**
 * Installs the function that reads lazy scalars (the GPU runtime does it with one readback).
 * Pass `undefined` to remove it.
 */
export function setScalarReader(fn: ScalarReader | undefined): void {
  scalarReader = fn;
}

/** Whether `v` is a lazily read scalar. */
export function isLazyScalar(v: unknown): v is LazyScalar {
  return v !== null && typeof v === "object" && (v as LazyScalar).lazyScalar === true;
}

/** A non-finite value found by `resolve()`. */
export interface NonFiniteRecord {
  /** The log key, e.g. `loss_cls`. */
  key: string;
  /** The global iteration given to `update()` (undefined when none was given). */
  iter: number | undefined;
  /** NaN, Infinity or -Infinity. */
  value: number;
}

/**
 * History of logged values with count-weighted averaging.
 *
 * @example
 * ```ts
 * import { LogBuffer } from "./log_buffer.ts";
 * const buf = new LogBuffer();
 * buf.update({ loss: 1 }, 2);
 * buf.update({ loss: 4 }, 1);
 * await buf.resolve();
 * buf.average();
 * buf.output.loss; // (1·2 + 4·1) / 3 = 2
 * ```
 */
export class LogBuffer {
  /** Per key, the logged values (numbers once resolved). */
  readonly valHistory: Map<string, LogValue[]> = new Map();
  /** Per key, the count of each value. */
  readonly nHistory: Map<string, number[]> = new Map();
  /** The averaged (or directly written) values to log next, in insertion order. */
  output: Record<string, number | string> = {};
  /** Whether `output` holds something to log. */
  ready = false;
  /** Every non-finite value found since the last `clear()`. */
  nonFinite: NonFiniteRecord[] = [];
  #pending: { key: string; index: number; iter: number | undefined }[] = [];

  /** Appends each value with `count` (the batch size for losses, 1 for times). */
  update(vars: Record<string, LogValue>, count = 1, iter?: number): void {
    for (const [key, value] of Object.entries(vars)) {
      if (typeof value !== "number" && !isLazyScalar(value)) {
        throw new TypeError(
          `Cannot log "${key}": expected a number or a lazy GPU scalar, got ${describe(value)}`,
        );
      }
      let vals = this.valHistory.get(key);
      if (!vals) {
        vals = [];
        this.valHistory.set(key, vals);
        this.nHistory.set(key, []);
      }
      vals.push(value);
      this.nHistory.get(key)!.push(count);
      this.#pending.push({ key, index: vals.length - 1, iter });
    }
  }

  /** How many values logged since the last `resolve()` are not yet checked. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /**
   * Reads every pending lazy scalar with one call of the installed reader, replaces them by
   * numbers, and checks the new values for NaN/Inf.
   *
   * @returns The non-finite values found by this call (also appended to `nonFinite`).
   * @throws {TypeError} When lazy scalars are pending and no reader is installed.
   */
  async resolve(): Promise<NonFiniteRecord[]> {
    const pending = this.#pending;
    if (pending.length === 0) return [];
    this.#pending = [];
    const lazy = pending.filter((p) => isLazyScalar(this.valHistory.get(p.key)![p.index]));
    if (lazy.length > 0) {
      if (!scalarReader) {
        this.#pending = pending;
        throw new TypeError(
          "Cannot resolve lazy scalars in the log buffer: no scalar reader is installed: call " +
            "setScalarReader() (the GPU runtime does this when it starts)",
        );
      }
      const items = lazy.map((p) => this.valHistory.get(p.key)![p.index] as LazyScalar);
      const values = await scalarReader(items);
      if (values.length !== items.length) {
        throw new RangeError(
          `Scalar reader returned ${values.length} values for ${items.length} scalars`,
        );
      }
      lazy.forEach((p, i) => (this.valHistory.get(p.key)![p.index] = Number(values[i])));
    }
    const found: NonFiniteRecord[] = [];
    for (const p of pending) {
      const v = this.valHistory.get(p.key)![p.index] as number;
      if (!Number.isFinite(v)) found.push({ key: p.key, iter: p.iter, value: v });
    }
    this.nonFinite.push(...found);
    return found;
  }

  /**
   * Writes the count-weighted mean of the last `n` values of every key into `output` (n = 0: all)
   * and sets `ready`.
   *
   * @throws {TypeError} When values are still lazy: `await resolve()` first.
   */
  average(n = 0): void {
    for (const [key, vals] of this.valHistory) {
      const counts = this.nHistory.get(key)!;
      const start = n > 0 ? Math.max(0, vals.length - n) : 0;
      let sum = 0, total = 0;
      for (let i = start; i < vals.length; i++) {
        const v = vals[i];
        if (typeof v !== "number") {
          throw new TypeError(
            `Cannot average "${key}": it holds unread GPU scalars: await resolve() first`,
          );
        }
        sum += v * counts[i];
        total += counts[i];
      }
      this.output[key] = sum / total;
    }
    this.ready = true;
  }

  /** Forgets all history, output and non-finite records. */
  clear(): void {
    this.valHistory.clear();
    this.nHistory.clear();
    this.#pending = [];
    this.nonFinite = [];
    this.clearOutput();
  }

  /** Empties `output` and resets `ready`. */
  clearOutput(): void {
    this.output = {};
    this.ready = false;
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return (v as object).constructor?.name ?? "object";
  return `${typeof v} ${String(v)}`;
}
