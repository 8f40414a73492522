/**
 * Segmented top-k (radix select on unique composite keys, then a rank sort of the k winners) and
 * the rank sort itself. Both are exact and deterministic: equal values are ordered by index, the
 * order of a stable sort (PyTorch's `topk`/`sort` are not stable, so mmdetection is reproducible
 * only up to ties).
 *
 * @module
 */
import topkSrc from "../../kernels/topk_select.wgsl" with { type: "text" };
import sortSrc from "../../kernels/sort_rank.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu, type Gpu } from "../gpu/runtime.ts";
import type { RawTensor } from "../gpu/raw_tensor.ts";

/** `kernels/topk_select.wgsl`. */
export const TOPK_SELECT: KernelSpec = { name: "topk_select", source: topkSrc, params: "uuuuuuuu" };
/** `kernels/sort_rank.wgsl`. */
export const SORT_RANK: KernelSpec = { name: "sort_rank", source: sortSrc, params: "uuuu" };

const CHUNK = 4096;

function tilesOf(segs: readonly { len: number }[], chunk: number): Uint32Array {
  const t: number[] = [];
  segs.forEach((s, i) => {
    for (let o = 0; o < s.len; o += chunk) t.push(i, o);
  });
  return Uint32Array.from(t);
}

function u32(gpu: Gpu, data: ArrayLike<number>, label: string): RawTensor {
  const a = new Uint32Array(Math.max(data.length, 4));
  a.set(data);
  return gpu.upload(a, [a.length], "u32", label);
}

/** A segment of a rank sort: `len` elements from `start` (`lenIndex`: its length is `lens[lenIndex]` when `lens` is given, at most `len`). */
export interface SortSegment {
  start: number;
  len: number;
  lenIndex?: number;
}

/**
 * Sorts every segment of `keys` (`[n, 2]` u32 pairs compared lexicographically, unique within a
 * segment) ascending by rank counting: `perm[start + rank] = start + i`. O(len²) per segment.
 *
 * @param opts.ids the segments hold element ids and the keys are `keys[ids[e]]`.
 * @param opts.lens `[S]` u32 GPU lengths (segments sized by a capacity, filled on the GPU).
 * @returns `[n]` u32 permutation (entries past a GPU length are left unset).
 */
export function sortRank(
  keys: RawTensor,
  segs: readonly SortSegment[],
  size: number,
  opts: { ids?: RawTensor; lens?: RawTensor } = {},
): RawTensor {
  const gpu = getGpu();
  const perm = gpu.empty([Math.max(size, 1)], "u32", "sort_perm");
  const tiles = tilesOf(segs, 256);
  if (tiles.length === 0) return perm;
  const segT = u32(gpu, segs.flatMap((s) => [s.start, s.len, s.lenIndex ?? 0, 0]), "sort_segs");
  const tileT = u32(gpu, tiles, "sort_tiles");
  const dummy = opts.ids && opts.lens ? null : u32(gpu, [0, 0, 0, 0], "sort_dummy");
  gpu.dispatch(SORT_RANK, {
    bindings: [keys, opts.ids ?? dummy!, segT, tileT, opts.lens ?? dummy!, perm],
    params: [tiles.length / 2, 0, 0, 0],
    overrides: { INDIRECT: opts.ids ? 1 : 0, LEN_BUF: opts.lens ? 1 : 0 },
    workgroups: tiles.length / 2,
  });
  segT.release();
  tileT.release();
  dummy?.release();
  return perm;
}

/** One top-k problem: the `len` values from `start`, keep `k`. */
export interface TopkSegment {
  start: number;
  len: number;
  k: number;
}

/** Result of {@linkcode topkSegments}. */
export interface TopkResult {
  /** `[Σ k_eff, 2]` u32: per selected element `(key, index within its segment)`. */
  sel: RawTensor;
  /** `[Σ k_eff]` u32: `sel` positions in order (largest value first, or original order, see `keepOrder`). */
  perm: RawTensor;
  /** Per segment: where its `k_eff = min(k, len)` results start in `perm`. */
  offsets: number[];
  /** Per segment `k_eff`. */
  counts: number[];
}

/**
 * The `k` largest values of every segment of `vals` (f32), ties to the lower index, sorted in
 * descending order. A segment with `k ≥ len` keeps all its elements, in their original order when
 * `keepOrder` (mmdetection ≤ 2.17 skips top-k when a level has at most `nms_pre` anchors), else
 * sorted. `k ≤ 0` means all.
 */
export function topkSegments(
  vals: RawTensor,
  segs: readonly TopkSegment[],
  opts: { keepOrder?: boolean } = {},
): TopkResult {
  const gpu = getGpu();
  const counts = segs.map((s) => (s.k > 0 ? Math.min(s.k, s.len) : s.len));
  const offsets = counts.map((_, i) => counts.slice(0, i).reduce((a, b) => a + b, 0));
  const total = counts.reduce((a, b) => a + b, 0);
  const sel = gpu.empty([Math.max(total, 1), 2], "u32", "topk_sel");
  const all = segs.map((s, i) => counts[i] === s.len);
  const segT = u32(
    gpu,
    segs.flatMap((s, i) => [s.start, s.len, counts[i], offsets[i]]),
    "topk_segs",
  );
  const state = u32(
    gpu,
    segs.flatMap((_, i) => [0, 0, 0, 0, counts[i], all[i] ? 1 : 0, 0, 0]),
    "topk_state",
  );
  const hist = gpu.zeros([Math.max(segs.length, 1) * 256], "u32", "topk_hist");
  const tiles = tilesOf(segs, CHUNK);
  const tileT = u32(gpu, tiles, "topk_tiles");
  const nt = tiles.length / 2, ns = segs.length;
  const bind = [vals, segT, tileT, state, hist, sel];
  const keepOrder = opts.keepOrder ? 1 : 0;
  if (!all.every((a) => a)) {
    const maxLen = Math.max(...segs.map((s, i) => (all[i] ? 0 : s.len)));
    const loBits = Math.ceil(Math.log2(Math.max(maxLen, 2)));
    const rounds: [number, number][] = [[0, 24], [0, 16], [0, 8], [0, 0]];
    for (let sh = Math.ceil(loBits / 8) * 8 - 8; sh >= 0; sh -= 8) rounds.push([1, sh]);
    for (const [word, shift] of rounds) {
      const params = [word, shift, nt, ns, keepOrder, 0, 0, 0];
      gpu.dispatch(TOPK_SELECT, { bindings: bind, params, overrides: { PASS: 0 }, workgroups: nt });
      gpu.dispatch(TOPK_SELECT, { bindings: bind, params, overrides: { PASS: 1 }, workgroups: ns });
    }
  }
  gpu.dispatch(TOPK_SELECT, {
    bindings: bind,
    params: [0, 0, nt, ns, keepOrder, 0, 0, 0],
    overrides: { PASS: 2 },
    workgroups: nt,
  });
  const perm = sortRank(sel, segs.map((_, i) => ({ start: offsets[i], len: counts[i] })), total);
  for (const t of [segT, state, hist, tileT]) t.release();
  return { sel, perm, offsets, counts };
}
