/**
 * A small seeded random generator for reproducible random test cases (mulberry32).
 *
 * @module
 */

/** A seeded generator of floats in [0, 1) with helpers for test data. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** An integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor((hi - lo) * this.next());
  }

  /** A standard normal sample (Box–Muller). */
  normal(): number {
    const u = 1 - this.next(), v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /**
   * `n` random xyxy boxes in a `size × size` image as a Float32Array `[n, 4]`; with `grid` the
   * coordinates are multiples of `grid` (which makes exact IoU ties likely).
   */
  boxes(
    n: number,
    opts: { size?: number; minWh?: number; maxWh?: number; grid?: number } = {},
  ): Float32Array {
    const { size = 64, minWh = 1, maxWh = 32, grid = 0 } = opts;
    const q = (v: number) => (grid > 0 ? Math.round(v / grid) * grid : v);
    const out = new Float32Array(n * 4);
    for (let i = 0; i < n; i++) {
      const w = q(this.uniform(minWh, maxWh)), h = q(this.uniform(minWh, maxWh));
      const x = q(this.uniform(-4, size - w + 4)), y = q(this.uniform(-4, size - h + 4));
      out.set([x, y, x + w, y + h], i * 4);
    }
    return out;
  }
}

/** A seeded generator function of floats in [0, 1) (same stream as `new Rng(seed).next`). */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** `n` uniform values in [lo, hi), rounded to float32. */
export function randArray(r: () => number, n: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}
