/**
 * Samplers: mmdet's non-distributed `GroupSampler` (every batch from one aspect-ratio group)
 * and the sequential order used without shuffling.
 *
 * @module
 */
import type { Rng } from "../utils/rng.ts";

/**
 * mmdet `GroupSampler` order: for each aspect group, shuffle its indices and pad it to a multiple
 * of `samplesPerGpu` with random re-draws (with replacement) from the group; concatenate the
 * groups, cut into chunks of `samplesPerGpu` and permute the chunks.
 *
 * @param flag aspect group per image
 * @returns sample indices; every consecutive `samplesPerGpu` block shares one group
 */
export function groupSamplerIndices(
  flag: ArrayLike<number>,
  samplesPerGpu: number,
  rng: Rng,
): number[] {
  if (!(Number.isInteger(samplesPerGpu) && samplesPerGpu > 0)) {
    throw new RangeError(`samples_per_gpu must be a positive integer, got ${samplesPerGpu}`);
  }
  const groups = new Map<number, number[]>();
  for (let i = 0; i < flag.length; i++) {
    const g = groups.get(flag[i]) ?? [];
    g.push(i);
    groups.set(flag[i], g);
  }
  const all: number[] = [];
  for (const g of [...groups.keys()].sort((a, b) => a - b)) {
    const ind = rng.shuffle([...groups.get(g)!]);
    const extra = Math.ceil(ind.length / samplesPerGpu) * samplesPerGpu - ind.length;
    for (let k = 0; k < extra; k++) ind.push(ind[rng.randint(ind.length)]);
    all.push(...ind);
  }
  const chunks = all.length / samplesPerGpu;
  const out: number[] = [];
  for (const c of rng.permutation(chunks)) {
    out.push(...all.slice(c * samplesPerGpu, (c + 1) * samplesPerGpu));
  }
  return out;
}

/** Number of samples `groupSamplerIndices` yields: each group rounded up to a multiple of `samplesPerGpu`. */
export function groupSamplerLength(flag: ArrayLike<number>, samplesPerGpu: number): number {
  const sizes = new Map<number, number>();
  for (let i = 0; i < flag.length; i++) sizes.set(flag[i], (sizes.get(flag[i]) ?? 0) + 1);
  let n = 0;
  for (const s of sizes.values()) n += Math.ceil(s / samplesPerGpu) * samplesPerGpu;
  return n;
}
