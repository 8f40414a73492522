/**
 * Small helpers of mmdetection's `core/utils/misc.py`: `multiApply`, `unmap`,
 * `filterScoresAndTopk`, and the stable descending sort they rely on.
 *
 * @module
 */
import type { TargetArray } from "../anchor/utils.ts";

/**
 * mmdetection's `multi_apply`: calls `fn` on the i-th element of every list and regroups the
 * results per output, so `fn` returning `[a, b]` gives `[[a0, a1, …], [b0, b1, …]]`. Takes the
 * lists as rest arguments like the original (one list per per-level or per-image argument).
 *
 * @example
 * ```ts
 * import { multiApply } from "./misc.ts";
 * const [sums, prods] = multiApply((a: number, b: number) => [a + b, a * b] as const, [1, 2], [3, 4]);
 * // sums: [4, 6], prods: [3, 8]
 * ```
 */
// deno-lint-ignore no-explicit-any
export function multiApply<R extends readonly unknown[], F extends (...args: any[]) => R>(
  fn: F,
  ...lists: unknown[][]
): { -readonly [K in keyof R]: R[K][] } {
  const n = lists.length === 0 ? 0 : Math.min(...lists.map((l) => l.length));
  const results: R[] = [];
  for (let i = 0; i < n; i++) results.push(fn(...lists.map((l) => l[i])));
  const width = results[0]?.length ?? 0;
  const out = Array.from({ length: width }, (_, k) => results.map((r) => r[k]));
  return out as unknown as { -readonly [K in keyof R]: R[K][] };
}

/**
 * mmdetection's `unmap`: scatters `data` (one row of `width` values per set flag, in order) back to
 * `count` rows; rows whose flag is 0 get `fill`.
 *
 * @param data `[numInside·width]`.
 * @param flags `[count]`, 1 where a row of `data` belongs.
 */
export function unmap<T extends TargetArray>(
  data: T,
  flags: Uint8Array,
  opts: { fill?: number; width?: number } = {},
): T {
  const { fill = 0, width = 1 } = opts;
  const ctor = data.constructor as new (n: number) => T;
  const out = new ctor(flags.length * width);
  if (fill !== 0) out.fill(fill);
  let j = 0;
  for (let i = 0; i < flags.length; i++) {
    if (!flags[i]) continue;
    for (let k = 0; k < width; k++) out[i * width + k] = data[j * width + k];
    j++;
  }
  if (j * width !== data.length) {
    throw new TypeError(`Cannot unmap ${data.length / width} rows onto ${j} set flags`);
  }
  return out;
}

/**
 * Indices `0 … n−1` ordered by `values` descending; equal values keep ascending index order
 * (a stable sort). PyTorch's `sort`/`topk` are not stable, so ties may be ordered differently
 * there; mmdetection results are reproducible only up to ties.
 */
export function argsortDesc(values: ArrayLike<number>): Int32Array {
  const idx = Int32Array.from({ length: values.length }, (_, i) => i);
  return idx.sort((a, b) => values[b] - values[a] || a - b);
}

/** Result of `filterScoresAndTopk`. */
export interface TopkResult {
  /** Kept scores, descending. */
  scores: Float32Array;
  /** Class of each kept score. */
  labels: Int32Array;
  /** Box (anchor) row of each kept score; a box may appear once per class. */
  keepIdxs: Int32Array;
}

/**
 * mmdetection v2.18+'s `filter_scores_and_topk`: keeps the (box, class) pairs with score
 * `> scoreThr` (strict), sorts them by score descending (ties by box-major flat index, see
 * `argsortDesc`) and keeps the first `topk`.
 *
 * @param scores `[n, numClasses]` row-major.
 */
export function filterScoresAndTopk(
  scores: Float32Array,
  numClasses: number,
  opts: { scoreThr: number; topk: number },
): TopkResult {
  const flat: number[] = [], thr = Math.fround(opts.scoreThr); // float32 comparison, as PyTorch
  for (let i = 0; i < scores.length; i++) if (scores[i] > thr) flat.push(i);
  flat.sort((a, b) => scores[b] - scores[a] || a - b);
  const k = Math.min(opts.topk, flat.length);
  const out: TopkResult = {
    scores: new Float32Array(k),
    labels: new Int32Array(k),
    keepIdxs: new Int32Array(k),
  };
  for (let i = 0; i < k; i++) {
    out.scores[i] = scores[flat[i]];
    out.labels[i] = flat[i] % numClasses;
    out.keepIdxs[i] = Math.floor(flat[i] / numClasses);
  }
  return out;
}
