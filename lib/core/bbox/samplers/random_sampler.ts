/**
 * mmdetection's `RandomSampler`: per image `floor(num · pos_fraction)` random positives (fewer if
 * there are fewer), negatives filling up to `num` (bounded by `neg_pos_ub` × positives when
 * `neg_pos_ub ≥ 0`), both without replacement; with `add_gt_as_proposals` the gts are prepended to
 * the boxes and assigned to themselves first.
 *
 * The random choice is a seeded pseudo-random permutation of box indices: each candidate gets the
 * key `samplerKey(seed, image, category, index)` (a bijection of u32 indices) and the `k` smallest
 * keys win. The CPU `sample` and the GPU `sampleGpu` use the same keys, so they choose the same
 * boxes for the same seed — the CPU class is the GPU stage's reference. (mmdetection draws with
 * `torch.randperm`; only the distribution — a uniform subset — can match, not the draw.)
 *
 * @module
 */
import { Tensor } from "../../../autograd/tensor.ts";
import { addGtAsProposals, randomSampleStage } from "../../../ops/target_stages.ts";
import { BBOX_SAMPLERS } from "../../registry.ts";
import type { AssignResult } from "../assigners/assign_result.ts";
import type {
  AssignResultGpu,
  GpuSampler,
  SampleContextGpu,
  SamplingResultGpu,
} from "../gpu_stages.ts";
import type { BaseSampler } from "./base_sampler.ts";
import { makeSamplingResult, type SamplingResult } from "./sampling_result.ts";

/** Config of `RandomSampler`, with mmdetection's keys and defaults. */
export interface RandomSamplerCfg {
  /** Registry type name. */
  type?: string;
  /** Boxes sampled per image. */
  num: number;
  /** Fraction of `num` wanted as positives. */
  pos_fraction: number;
  /** Negatives ≤ `neg_pos_ub · max(#pos, 1)`; `< 0` (default −1) no bound. */
  neg_pos_ub?: number;
  /** Prepend the gts to the boxes as positives (default true, mmdetection's). */
  add_gt_as_proposals?: boolean;
}

/** murmur3's 32-bit finaliser (a bijection of u32). */
function fmix(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The sampling key of box `index` of image `image` in category 0 (positives) or 1 (negatives)
 * under `seed`: a bijection of `index` for fixed `(seed, image, category)`; the smallest keys win.
 * Same as `key_of` in `kernels/bbox_sampler.wgsl`.
 */
export function samplerKey(seed: number, image: number, category: 0 | 1, index: number): number {
  const s0 = fmix((seed >>> 0) ^ fmix((image * 2 + category + 0x9e3779b9) >>> 0));
  const s1 = fmix((s0 + 0x632be5ab) >>> 0);
  return fmix((fmix((index ^ s0) >>> 0) + s1) >>> 0);
}

/** The per-step seed of a sampler: `fmix(base ⊕ fmix(step))`, a u32. */
export function stepSeed(base: number, step: number): number {
  return fmix(((base >>> 0) ^ fmix((step + 0x7f4a7c15) >>> 0)) >>> 0);
}

/** Extra inputs of `RandomSampler.sample` beyond mmdetection's. */
export interface RandomSampleData {
  /** `[n, 4]` the assigned boxes. */
  bboxes: Float32Array;
  /** `[k, 4]` ground truths. */
  gtBboxes: Float32Array;
  /** `[k]` gt labels (for `add_gt_as_proposals` with labelled assignments). */
  gtLabels?: Int32Array | null;
  /** u32 seed of the draw (default 0). */
  seed?: number;
  /** Image index within its batch (part of the key; default 0). */
  image?: number;
  /**
   * Gt rows the GPU batch reserves before the boxes (its largest gt count) when adding gts: box
   * `r` is keyed as index `gtSlots + r`, gt `g` as `g` (default k, i.e. no padding; also when
   * the image has no gts).
   */
  gtSlots?: number;
}

/**
 * mmdetection's `RandomSampler` (CPU reference and GPU stage).
 *
 * @example
 * ```ts
 * import { RandomSampler } from "./random_sampler.ts";
 * const s = new RandomSampler({ num: 2, pos_fraction: 0.5, add_gt_as_proposals: false });
 * const r = s.sample(
 *   { numGts: 1, gtInds: Int32Array.of(1, 1, 0, 0, 0), maxOverlaps: new Float32Array(5), labels: null },
 *   { bboxes: new Float32Array(20), gtBboxes: Float32Array.of(0, 0, 1, 1), seed: 7 },
 * );
 * // r.posInds.length: 1, r.negInds.length: 1
 * ```
 */
export class RandomSampler implements BaseSampler, GpuSampler {
  /** `num`. */
  readonly num: number;
  /** `pos_fraction`. */
  readonly posFraction: number;
  /** `neg_pos_ub`. */
  readonly negPosUb: number;
  /** `add_gt_as_proposals`. */
  readonly addGtAsProposals: boolean;

  /** Builds the sampler from an mmdetection config. */
  constructor(cfg: RandomSamplerCfg) {
    if (!Number.isInteger(cfg?.num) || cfg.num <= 0) {
      throw new RangeError(
        `Cannot build RandomSampler: "num" must be a positive integer, got ${
          JSON.stringify(cfg?.num)
        }`,
      );
    }
    if (typeof cfg.pos_fraction !== "number" || !(cfg.pos_fraction >= 0 && cfg.pos_fraction <= 1)) {
      throw new RangeError(
        `Cannot build RandomSampler: "pos_fraction" must lie in [0, 1], got ${
          JSON.stringify(cfg.pos_fraction)
        }`,
      );
    }
    this.num = cfg.num;
    this.posFraction = cfg.pos_fraction;
    this.negPosUb = cfg.neg_pos_ub ?? -1;
    this.addGtAsProposals = cfg.add_gt_as_proposals ?? true;
  }

  /** Positives wanted per image: `floor(num · pos_fraction)`. */
  get numExpectedPos(): number {
    return Math.floor(this.num * this.posFraction);
  }

  /** How many negatives to take given the sampled positives (mmdetection's `BaseSampler.sample`). */
  numExpectedNeg(numSampledPos: number): number {
    let n = this.num - numSampledPos;
    if (this.negPosUb >= 0) {
      n = Math.min(n, Math.floor(Math.fround(this.negPosUb) * Math.max(1, numSampledPos)));
    }
    return n;
  }

  /** Samples one image on the CPU (see the module doc for the draw). */
  sample(assignResult: AssignResult, data: RandomSampleData): SamplingResult {
    const seed = data.seed ?? 0, image = data.image ?? 0;
    let { bboxes } = data;
    const { gtBboxes } = data;
    const k = gtBboxes.length / 4;
    let gtInds = assignResult.gtInds, labels = assignResult.labels;
    let maxOverlaps = assignResult.maxOverlaps;
    let gtFlags = new Uint8Array(gtInds.length);
    // the GPU batch keys box r as index gtSlots + r after the padded gt rows
    const slots = this.addGtAsProposals ? data.gtSlots ?? k : 0;
    let keyIndex = (r: number) => slots + r;
    if (this.addGtAsProposals && k > 0) {
      const cat = new Float32Array(gtBboxes.length + bboxes.length);
      cat.set(gtBboxes);
      cat.set(bboxes, gtBboxes.length);
      bboxes = cat;
      gtInds = Int32Array.from([...Array.from({ length: k }, (_, g) => g + 1), ...gtInds]);
      maxOverlaps = Float32Array.from([...new Array(k).fill(1), ...maxOverlaps]);
      if (labels) {
        const gl = data.gtLabels;
        if (!gl || gl.length !== k) {
          throw new TypeError(
            `Cannot sample with add_gt_as_proposals: the assignment has labels, so gtLabels [${k}] are needed`,
          );
        }
        labels = Int32Array.from([...gl, ...labels]);
      }
      gtFlags = Uint8Array.from([...new Array(k).fill(1), ...gtFlags]);
      keyIndex = (r) => (r < k ? r : slots + (r - k));
    }
    const choose = (cat: 0 | 1, want: number): Int32Array => {
      const gallery: number[] = [];
      gtInds.forEach((g, j) => {
        if (cat === 0 ? g > 0 : g === 0) gallery.push(j);
      });
      if (gallery.length <= want) return Int32Array.from(gallery);
      const keyed = gallery.map((j) => [samplerKey(seed, image, cat, keyIndex(j)), j]);
      keyed.sort((a, b) => a[0] - b[0]);
      return Int32Array.from(keyed.slice(0, want).map((e) => e[1])).sort();
    };
    const posInds = choose(0, this.numExpectedPos);
    const negInds = choose(1, this.numExpectedNeg(posInds.length));
    return makeSamplingResult({ posInds, negInds }, {
      bboxes,
      gtBboxes,
      assignResult: { numGts: assignResult.numGts, gtInds, maxOverlaps, labels },
      gtFlags,
    });
  }

  /**
   * The GPU sampling of a batch (no readback). With `add_gt_as_proposals` the result's `boxes`
   * are `[N, G + B, 4]`, each image's padded gts (`G` = the batch's largest gt count) first.
   */
  sampleGpu(a: AssignResultGpu, ctx: SampleContextGpu): SamplingResultGpu {
    let boxes = ctx.input.boxes, assign = a.assign, counts = a.counts, numGtRows = 0;
    const gts = ctx.input.gts;
    if (this.addGtAsProposals && gts.layout.maxGt > 0) {
      const ext = addGtAsProposals(boxes.raw, assign.raw, {
        data: gts.pack.raw,
        layout: gts.layout,
      }, gts.gtCounts);
      boxes = new Tensor(ext.boxes);
      assign = new Tensor(ext.assign);
      counts = new Tensor(ext.counts);
      numGtRows = gts.layout.maxGt;
    }
    const r = randomSampleStage(assign.raw, counts.raw, {
      num: this.num,
      posFraction: this.posFraction,
      negPosUb: this.negPosUb,
      seed: ctx.seed,
    });
    return {
      boxes,
      assign,
      sampled: new Tensor(r.sampled),
      counts: new Tensor(r.counts),
      numGtRows,
      capacity: this.num,
    };
  }
}

BBOX_SAMPLERS.register("RandomSampler", RandomSampler);
