/**
 * A small seeded pseudo-random number generator (xoshiro128**, seeded through splitmix32) for
 * reproducible shuffling, augmentation and synthetic data. Not cryptographic.
 *
 * @module
 */

/** Mixes a 32-bit state one splitmix32 step; returns the new state and a well-mixed output. */
function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [state, z >>> 0];
}

/**
 * Combines several integers (seed, epoch, index, …) into one 32-bit seed, so that derived
 * streams are independent of the order in which they are drawn.
 *
 * @example
 * ```ts
 * import { hashSeed } from "./rng.ts";
 * const s = hashSeed(42, 3, 17); // the stream for seed 42, epoch 3, sample 17
 * ```
 */
export function hashSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    // split into two 32-bit halves so that large safe integers are hashed in full
    const lo = p >>> 0, hi = Math.floor(p / 4294967296) >>> 0;
    for (const v of [lo, hi]) {
      const [, z] = splitmix32((h ^ v) >>> 0);
      h = Math.imul(z ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    }
  }
  return h >>> 0;
}

/**
 * Seeded generator with numpy-like helpers: `random()` in [0, 1), `randint(low, high)` in
 * [low, high), `uniform`, `normal`, `shuffle`, `permutation`, `choice`.
 *
 * @example
 * ```ts
 * import { Rng } from "./rng.ts";
 * const a = new Rng(7), b = new Rng(7);
 * if (!(a.random() === b.random())) throw new Error("unexpected");
 * ```
 */
export class Rng {
  #s = new Uint32Array(4);
  #spare: number | undefined;

  /** Creates a generator; equal seeds give equal streams. */
  constructor(seed = 0) {
    if (!Number.isFinite(seed)) {
      throw new TypeError(`Cannot seed Rng: seed must be a finite number, got ${seed}`);
    }
    let st = hashSeed(seed);
    for (let i = 0; i < 4; i++) {
      const [next, z] = splitmix32(st);
      st = next;
      this.#s[i] = z;
    }
    if ((this.#s[0] | this.#s[1] | this.#s[2] | this.#s[3]) === 0) this.#s[0] = 1;
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A float in [0, 1) with 53 random bits. */
  random(): number {
    const hi = this.nextUint32() >>> 5, lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** An integer in [low, high) (numpy's `randint`); with one argument, in [0, low). */
  randint(low: number, high?: number): number {
    if (high === undefined) [low, high] = [0, low];
    if (!(high > low)) {
      throw new RangeError(`Cannot draw randint(${low}, ${high}): high must exceed low`);
    }
    return low + Math.floor(this.random() * (high - low));
  }

  /** A float in [low, high). */
  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.random();
  }

  /** A normal sample (Box–Muller, cached pair). */
  normal(mean = 0, std = 1): number {
    if (this.#spare !== undefined) {
      const v = this.#spare;
      this.#spare = undefined;
      return mean + std * v;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles `arr` in place (Fisher–Yates) and returns it. */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
    return arr;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /**
   * One element of `items`; with `p`, drawn with those probabilities (numpy's `choice(a, p=…)`).
   */
  choice<T>(items: readonly T[], p?: readonly number[]): T {
    if (items.length === 0) throw new RangeError("Cannot choose from an empty list");
    if (!p) return items[Math.floor(this.random() * items.length)];
    if (p.length !== items.length) {
      throw new RangeError(`Cannot choose: ${p.length} probabilities for ${items.length} items`);
    }
    const u = this.random();
    let acc = 0;
    for (let i = 0; i < items.length; i++) {
      acc += p[i];
      if (u < acc) return items[i];
    }
    return items[items.length - 1];
  }

  /** A new generator whose stream is derived from this one's seed material and `parts`. */
  derive(...parts: number[]): Rng {
    return new Rng(hashSeed(this.nextUint32(), ...parts));
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
