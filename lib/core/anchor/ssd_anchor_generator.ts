/**
 * SSD's anchor generator (mmdetection `SSDAnchorGenerator`): per level, scales `[1, √(max/min)]`,
 * ratios `[1, 1/r, r, …]`, centres at half the stride, and the base anchors reordered so the two
 * square anchors come first.
 *
 * @module
 */
import { ANCHOR_GENERATORS } from "../registry.ts";
import { AnchorGenerator, type Stride } from "./anchor_generator.ts";

/** Config of `SSDAnchorGenerator`, with mmdetection's keys and defaults. */
export interface SSDAnchorGeneratorCfg {
  /** Registry type name. */
  type?: string;
  /** Stride per level, `s` or `[w, h]`. */
  strides: Stride[];
  /** Extra ratios per level; each `r` adds `1/r` and `r`. */
  ratios: number[][];
  /** Minimum anchor size per level; default: derived from `basesize_ratio_range`. */
  min_sizes?: number[] | null;
  /** Maximum anchor size per level (with `min_sizes`). */
  max_sizes?: number[] | null;
  /** Base sizes as fractions of `input_size`; default `[0.15, 0.9]`. */
  basesize_ratio_range?: [number, number];
  /** Input size, 300 or 512; default 300. */
  input_size?: number;
  /** Anchor order; SSD configs set false. */
  scale_major?: boolean;
}

function ssdSizes(
  range: [number, number],
  inputSize: number,
  numLevels: number,
): { minSizes: number[]; maxSizes: number[] } {
  // Python's int() truncates; the percentages are integers as in mmdetection.
  const minRatio = Math.trunc(range[0] * 100), maxRatio = Math.trunc(range[1] * 100);
  const step = Math.trunc(Math.floor(maxRatio - minRatio) / (numLevels - 2));
  const minSizes: number[] = [], maxSizes: number[] = [];
  for (let r = minRatio; r <= maxRatio; r += step) {
    minSizes.push(Math.trunc((inputSize * r) / 100));
    maxSizes.push(Math.trunc((inputSize * (r + step)) / 100));
  }
  const first: Record<string, [number, number]> = {
    "300,0.15": [7, 15], // SSD300 COCO
    "300,0.2": [10, 20], // SSD300 VOC
    "512,0.1": [4, 10], // SSD512 COCO
    "512,0.15": [7, 15], // SSD512 VOC
  };
  const pct = first[`${inputSize},${range[0]}`];
  if (!pct) {
    throw new RangeError(
      `Cannot build SSD anchors: input_size ${inputSize} with basesize_ratio_range[0] ${
        range[0]
      } ` +
        "is not supported; use 300 with 0.15 or 0.2, 512 with 0.1 or 0.15, or set min_sizes and max_sizes",
    );
  }
  minSizes.unshift(Math.trunc((inputSize * pct[0]) / 100));
  maxSizes.unshift(Math.trunc((inputSize * pct[1]) / 100));
  return { minSizes, maxSizes };
}

/**
 * mmdetection's `SSDAnchorGenerator`.
 *
 * @example
 * ```ts
 * import { SSDAnchorGenerator } from "./ssd_anchor_generator.ts";
 * const gen = new SSDAnchorGenerator({
 *   scale_major: false, input_size: 300, basesize_ratio_range: [0.15, 0.9],
 *   strides: [8, 16, 32, 64, 100, 300], ratios: [[2], [2, 3], [2, 3], [2, 3], [2], [2]],
 * });
 * // gen.numBaseAnchors: [4, 6, 6, 6, 4, 4]
 * ```
 */
export class SSDAnchorGenerator extends AnchorGenerator {
  /** Per-level scales as float32. */
  readonly levelScales: Float32Array[];
  /** Per-level ratios as float32. */
  readonly levelRatios: Float32Array[];

  /** Builds the generator from an mmdetection config. */
  constructor(cfg: SSDAnchorGeneratorCfg) {
    const {
      strides,
      ratios,
      min_sizes = null,
      max_sizes = null,
      basesize_ratio_range = [0.15, 0.9],
      input_size = 300,
      scale_major = true,
    } = cfg;
    if (!Array.isArray(strides) || !Array.isArray(ratios) || strides.length !== ratios.length) {
      throw new RangeError(
        `Cannot build SSD anchors: "strides" and "ratios" must be arrays of equal length, got ${
          JSON.stringify(strides)
        } and ${JSON.stringify(ratios)}`,
      );
    }
    if ((min_sizes == null) !== (max_sizes == null)) {
      throw new RangeError(
        'Cannot build SSD anchors: set both "min_sizes" and "max_sizes" or neither',
      );
    }
    const { minSizes, maxSizes } = min_sizes != null
      ? { minSizes: min_sizes, maxSizes: max_sizes! }
      : ssdSizes(basesize_ratio_range, input_size, strides.length);
    if (minSizes.length !== strides.length || maxSizes.length !== strides.length) {
      throw new RangeError(
        `Cannot build SSD anchors: ${minSizes.length} min sizes and ${maxSizes.length} max sizes do not match ${strides.length} strides`,
      );
    }
    const pairs = strides.map((s) => (typeof s === "number" ? [s, s] : s) as [number, number]);
    super({
      strides,
      ratios: [1],
      scales: [1],
      base_sizes: minSizes,
      scale_major,
      centers: pairs.map(([w, h]) => [w / 2, h / 2]),
    });
    this.levelScales = minSizes.map((m, k) => Float32Array.from([1, Math.sqrt(maxSizes[k] / m)]));
    this.levelRatios = ratios.map((rs) => Float32Array.from([1, ...rs.flatMap((r) => [1 / r, r])]));
  }

  /** Base anchors per level: the two square anchors first, then the ratios. */
  override genBaseAnchors(): Float32Array[] {
    return this.baseSizes.map((size, i) => {
      const ratios = this.levelRatios[i];
      const all = this.genSingleLevelBaseAnchors(
        size,
        this.levelScales[i],
        ratios,
        this.centers![i],
      );
      const numRatios = ratios.length;
      const order = [0, numRatios, ...Array.from({ length: numRatios - 1 }, (_, k) => k + 1)];
      const out = new Float32Array(order.length * 4);
      order.forEach((src, dst) => out.set(all.subarray(src * 4, src * 4 + 4), dst * 4));
      return out;
    });
  }
}

ANCHOR_GENERATORS.register("SSDAnchorGenerator", SSDAnchorGenerator);
