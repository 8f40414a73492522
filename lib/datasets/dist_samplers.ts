/**
 * The samplers of a data-parallel run: mmdet's `DistributedGroupSampler` (training: every batch
 * of every rank from one aspect-ratio group, reshuffled per epoch, the last round padded) and
 * `DistributedSampler` without shuffling (testing: rank `r` takes images `r, r + W, r + 2W, ...`,
 * padded by wrapping around, as `multi_gpu_test` / `collect_results` expect).
 *
 * @module
 */
import type { Rng } from "../utils/rng.ts";

function checkReplicas(samplesPerGpu: number, numReplicas: number, rank: number): void {
  if (!(Number.isInteger(samplesPerGpu) && samplesPerGpu > 0)) {
    throw new RangeError(`samples_per_gpu must be a positive integer, got ${samplesPerGpu}`);
  }
  if (!(Number.isInteger(numReplicas) && numReplicas > 0)) {
    throw new RangeError(`The world size must be a positive integer, got ${numReplicas}`);
  }
  if (!(Number.isInteger(rank) && rank >= 0 && rank < numReplicas)) {
    throw new RangeError(`The rank must be an integer in [0, ${numReplicas}), got ${rank}`);
  }
}

function groupSizes(flag: ArrayLike<number>): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < flag.length; i++) {
    const g = groups.get(flag[i]);
    if (g) g.push(i);
    else groups.set(flag[i], [i]);
  }
  return groups;
}

/**
 * Samples per rank per epoch of `DistributedGroupSampler`: each group rounded up to a multiple of
 * `samplesPerGpu × numReplicas`, divided by `numReplicas`.
 */
export function distributedGroupSamplerLength(
  flag: ArrayLike<number>,
  samplesPerGpu: number,
  numReplicas: number,
): number {
  let n = 0;
  for (const ind of groupSizes(flag).values()) {
    n += Math.ceil(ind.length / samplesPerGpu / numReplicas) * samplesPerGpu;
  }
  return n;
}

/**
 * mmdet `DistributedGroupSampler` order of rank `rank`: every group is shuffled and padded to a
 * multiple of `samplesPerGpu × numReplicas` by repeating its shuffled indices from the start; the
 * groups are concatenated, cut into chunks of `samplesPerGpu`, the chunks permuted (all with
 * `rng`, which must be seeded alike on every rank, by seed and epoch), and rank `r` takes the
 * `r`-th contiguous slice of `distributedGroupSamplerLength` samples. Every consecutive block of
 * `samplesPerGpu` shares one group; the slices of all ranks together cover every image.
 */
export function distributedGroupSamplerIndices(
  flag: ArrayLike<number>,
  samplesPerGpu: number,
  numReplicas: number,
  rank: number,
  rng: Rng,
): number[] {
  checkReplicas(samplesPerGpu, numReplicas, rank);
  const groups = groupSizes(flag);
  const all: number[] = [];
  for (const g of [...groups.keys()].sort((a, b) => a - b)) {
    const members = groups.get(g)!;
    const ind = rng.permutation(members.length).map((k) => members[k]);
    const padded = Math.ceil(ind.length / samplesPerGpu / numReplicas) * samplesPerGpu *
      numReplicas;
    for (let k = 0; ind.length < padded; k++) ind.push(ind[k % members.length]);
    all.push(...ind);
  }
  const chunks = all.length / samplesPerGpu;
  const order: number[] = [];
  for (const c of rng.permutation(chunks)) {
    for (let j = c * samplesPerGpu; j < (c + 1) * samplesPerGpu; j++) order.push(all[j]);
  }
  const numSamples = all.length / numReplicas;
  return order.slice(rank * numSamples, (rank + 1) * numSamples);
}

/** Samples per rank of the unshuffled `DistributedSampler`: `ceil(n / numReplicas)`. */
export function distributedSamplerLength(n: number, numReplicas: number): number {
  return Math.ceil(n / numReplicas);
}

/**
 * The unshuffled `DistributedSampler` of rank `rank`: indices `rank, rank + W, ...` of the
 * dataset order padded to a multiple of `W` by wrapping around to its start.
 */
export function distributedSamplerIndices(n: number, numReplicas: number, rank: number): number[] {
  checkReplicas(1, numReplicas, rank);
  const total = distributedSamplerLength(n, numReplicas) * numReplicas;
  const out: number[] = [];
  if (n === 0) return out;
  for (let i = rank; i < total; i += numReplicas) out.push(i % n);
  return out;
}

/**
 * mmdet `collect_results`: the per-rank results of {@link distributedSamplerIndices} back in
 * dataset order (interleaved), the padding dropped.
 */
export function collectInterleaved<T>(parts: T[][], size: number): T[] {
  const out: T[] = [];
  const rounds = Math.max(0, ...parts.map((p) => p.length));
  for (let i = 0; i < rounds && out.length < size; i++) {
    for (const p of parts) {
      if (i < p.length && out.length < size) out.push(p[i]);
    }
  }
  return out;
}
