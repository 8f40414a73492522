/**
 * Anchor generators: mmdetection v2's `AnchorGenerator` and the v1 `LegacyAnchorGenerator`
 * (spec §2.3). Anchors are computed once on the CPU in float32 — every arithmetic step is rounded
 * with `Math.fround`, in the same order as PyTorch evaluates mmdetection's tensor expressions, so
 * the results equal mmdetection's float32 anchors bit for bit. The head uploads them to the GPU.
 *
 * @module
 */
import { Registry } from "../../utils/registry.ts";

const f = Math.fround;

/** An anchor stride: one number (square) or `[w, h]`. */
export type Stride = number | [number, number];

/** Config of `AnchorGenerator`, with mmdetection's keys and defaults. */
export interface AnchorGeneratorCfg {
  /** Registry type name. */
  type?: string;
  /** Stride per level, `s` or `[w, h]`. */
  strides: Stride[];
  /** Height/width ratios of the anchors of one cell. */
  ratios: number[];
  /** Anchor scales; set either these or `octave_base_scale` + `scales_per_octave`. */
  scales?: number[] | null;
  /** Base anchor size per level; default: the smaller side of each stride. */
  base_sizes?: number[] | null;
  /** Ratio-major order (`a = ratio·S + scale`) when true (default), else scale-major. */
  scale_major?: boolean;
  /** Scales are `octave_base_scale · 2^(k / scales_per_octave)`, k = 0 … scales_per_octave−1. */
  octave_base_scale?: number | null;
  /** See `octave_base_scale`. */
  scales_per_octave?: number | null;
  /** Explicit base-anchor centre `[x, y]` per level; exclusive with a non-zero `center_offset`. */
  centers?: [number, number][] | null;
  /** Centre of the base anchor as a fraction of the base size, in [0, 1]; default 0. */
  center_offset?: number;
}

/** A feature-map size `[h, w]`. */
export type FeatmapSize = [number, number];

/** Rounds half to even, as `torch.round`. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function pair(stride: Stride, i: number): [number, number] {
  if (typeof stride === "number") return [stride, stride];
  if (Array.isArray(stride) && stride.length === 2) return [stride[0], stride[1]];
  throw new TypeError(
    `Cannot read "strides[${i}]": expected a number or [w, h], got ${JSON.stringify(stride)}`,
  );
}

/**
 * mmdetection v2's standard anchor generator.
 *
 * Anchor index within a level: `(y·W + x)·A + a`, rows `[x1, y1, x2, y2]` in absolute pixels of
 * the (padded) input; the base anchor is centred at `(x·stride_w, y·stride_h)` plus its centre.
 *
 * @example
 * ```ts
 * import { AnchorGenerator } from "./anchor_generator.ts";
 * const gen = new AnchorGenerator({ strides: [10], ratios: [1], scales: [1] });
 * const [level0] = gen.gridAnchors([[2, 2]]);
 * // level0: [-5,-5,5,5, 5,-5,15,5, -5,5,5,15, 5,5,15,15]
 * ```
 */
export class AnchorGenerator {
  /** Strides per level as `[w, h]`. */
  readonly strides: [number, number][];
  /** Base anchor size per level. */
  readonly baseSizes: number[];
  /** Scales as float32. */
  readonly scales: Float32Array;
  /** Ratios (h/w) as float32. */
  readonly ratios: Float32Array;
  /** Ratio-major anchor order (`scale_major`). */
  readonly scaleMajor: boolean;
  /** `octave_base_scale`, or null when `scales` were given. */
  readonly octaveBaseScale: number | null;
  /** `scales_per_octave`, or null when `scales` were given. */
  readonly scalesPerOctave: number | null;
  /** Explicit base-anchor centres per level, or null. */
  readonly centers: [number, number][] | null;
  /** Base-anchor centre as a fraction of the base size. */
  readonly centerOffset: number;
  #baseAnchors: Float32Array[] | null = null;
  #gridCache: Map<string, Float32Array>[] = [];

  /** Builds the generator from an mmdetection config. */
  constructor(cfg: AnchorGeneratorCfg) {
    const {
      strides,
      ratios,
      scales = null,
      base_sizes = null,
      scale_major = true,
      octave_base_scale = null,
      scales_per_octave = null,
      centers = null,
      center_offset = 0,
    } = cfg;
    if (!Array.isArray(strides) || strides.length === 0) {
      throw new TypeError(
        `Cannot build anchors: "strides" must be a non-empty array, got ${JSON.stringify(strides)}`,
      );
    }
    if (!Array.isArray(ratios) || ratios.length === 0) {
      throw new TypeError(
        `Cannot build anchors: "ratios" must be a non-empty array, got ${JSON.stringify(ratios)}`,
      );
    }
    if (center_offset !== 0 && centers != null) {
      throw new RangeError(
        `Cannot build anchors: "centers" cannot be set when "center_offset" is ${center_offset}; set one of them`,
      );
    }
    if (!(center_offset >= 0 && center_offset <= 1)) {
      throw new RangeError(
        `Cannot build anchors: "center_offset" must be in [0, 1], got ${center_offset}`,
      );
    }
    if (centers != null && centers.length !== strides.length) {
      throw new RangeError(
        `Cannot build anchors: ${centers.length} "centers" do not match ${strides.length} "strides"`,
      );
    }
    this.strides = strides.map(pair);
    this.baseSizes = base_sizes ?? this.strides.map(([w, h]) => Math.min(w, h));
    if (this.baseSizes.length !== this.strides.length) {
      throw new RangeError(
        `Cannot build anchors: ${this.baseSizes.length} "base_sizes" do not match ${this.strides.length} "strides"`,
      );
    }
    const octave = octave_base_scale != null && scales_per_octave != null;
    if (octave === (scales != null)) {
      throw new RangeError(
        'Cannot build anchors: set either "scales" or both "octave_base_scale" and ' +
          `"scales_per_octave", got scales=${JSON.stringify(scales)}, ` +
          `octave_base_scale=${octave_base_scale}, scales_per_octave=${scales_per_octave}`,
      );
    }
    // mmdet computes octave scales in float64 (numpy), then casts to float32.
    this.scales = octave
      ? Float32Array.from(
        { length: scales_per_octave! },
        (_, k) => 2 ** (k / scales_per_octave!) * octave_base_scale!,
      )
      : Float32Array.from(scales!);
    this.ratios = Float32Array.from(ratios);
    this.scaleMajor = scale_major;
    this.octaveBaseScale = octave_base_scale;
    this.scalesPerOctave = scales_per_octave;
    this.centers = centers;
    this.centerOffset = center_offset;
  }

  /** Base anchors per level: `[A, 4]` row-major float32, centred at the cell origin. */
  get baseAnchors(): Float32Array[] {
    return this.#baseAnchors ??= this.genBaseAnchors();
  }

  /** Number of feature levels. */
  get numLevels(): number {
    return this.strides.length;
  }

  /** Number of anchors per feature-map cell, per level. */
  get numBaseAnchors(): number[] {
    return this.baseAnchors.map((b) => b.length / 4);
  }

  /** Base anchors of every level. */
  genBaseAnchors(): Float32Array[] {
    return this.baseSizes.map((size, i) =>
      this.genSingleLevelBaseAnchors(size, this.scales, this.ratios, this.centers?.[i] ?? null)
    );
  }

  /** Widths and heights of one level's base anchors, in mmdet's float32 multiplication order. */
  protected anchorSizes(
    baseSize: number,
    scales: Float32Array,
    ratios: Float32Array,
  ): { ws: Float32Array; hs: Float32Array } {
    const w = f(baseSize), h = f(baseSize);
    const hRatios = ratios.map((r) => f(Math.sqrt(r)));
    const wRatios = hRatios.map((r) => f(1 / r));
    const n = ratios.length * scales.length;
    const ws = new Float32Array(n), hs = new Float32Array(n);
    let k = 0;
    if (this.scaleMajor) {
      for (let r = 0; r < ratios.length; r++) {
        for (let s = 0; s < scales.length; s++, k++) {
          ws[k] = f(w * wRatios[r]) * scales[s];
          hs[k] = f(h * hRatios[r]) * scales[s];
        }
      }
    } else {
      for (let s = 0; s < scales.length; s++) {
        for (let r = 0; r < ratios.length; r++, k++) {
          ws[k] = f(w * scales[s]) * wRatios[r];
          hs[k] = f(h * scales[s]) * hRatios[r];
        }
      }
    }
    return { ws, hs };
  }

  /** Base anchors of one level, `[A, 4]`, unrounded floats centred on the base centre. */
  genSingleLevelBaseAnchors(
    baseSize: number,
    scales: Float32Array,
    ratios: Float32Array,
    center: [number, number] | null,
  ): Float32Array {
    const xc = f(center ? center[0] : this.centerOffset * baseSize);
    const yc = f(center ? center[1] : this.centerOffset * baseSize);
    const { ws, hs } = this.anchorSizes(baseSize, scales, ratios);
    const out = new Float32Array(ws.length * 4);
    for (let a = 0; a < ws.length; a++) {
      const hw = f(0.5 * ws[a]), hh = f(0.5 * hs[a]);
      out.set([xc - hw, yc - hh, xc + hw, yc + hh], a * 4);
    }
    return out;
  }

  /**
   * Anchors of every level for the given feature-map sizes: per level `[H·W·A, 4]` float32, row
   * `(y·W + x)·A + a`. Cached per level and size; the returned arrays are shared, do not modify.
   */
  gridAnchors(featmapSizes: FeatmapSize[]): Float32Array[] {
    this.#checkLevels(featmapSizes, "gridAnchors");
    return featmapSizes.map((size, i) => {
      this.#gridCache[i] ??= new Map();
      const key = `${size[0]}x${size[1]}`;
      let anchors = this.#gridCache[i].get(key);
      if (!anchors) {
        anchors = this.singleLevelGridAnchors(this.baseAnchors[i], size, this.strides[i]);
        this.#gridCache[i].set(key, anchors);
      }
      return anchors;
    });
  }

  /** Anchors of one level: base anchors shifted to every cell, `[H·W·A, 4]`. */
  singleLevelGridAnchors(
    baseAnchors: Float32Array,
    [featH, featW]: FeatmapSize,
    [strideW, strideH]: [number, number],
  ): Float32Array {
    const numA = baseAnchors.length / 4;
    const out = new Float32Array(featH * featW * numA * 4);
    let o = 0;
    for (let y = 0; y < featH; y++) {
      const sy = f(y * strideH);
      for (let x = 0; x < featW; x++) {
        const sx = f(x * strideW);
        for (let k = 0; k < numA * 4; k += 4, o += 4) {
          out[o] = baseAnchors[k] + sx;
          out[o + 1] = baseAnchors[k + 1] + sy;
          out[o + 2] = baseAnchors[k + 2] + sx;
          out[o + 3] = baseAnchors[k + 3] + sy;
        }
      }
    }
    return out;
  }

  /**
   * Valid flags per level (1 = valid) for an image padded to `padShape = [h, w]`: a cell is valid
   * when `y < min(ceil(h / stride_h), H)` and `x < min(ceil(w / stride_w), W)`; its A anchors share
   * the flag.
   */
  validFlags(featmapSizes: FeatmapSize[], padShape: readonly number[]): Uint8Array[] {
    this.#checkLevels(featmapSizes, "validFlags");
    const [h, w] = padShape;
    return featmapSizes.map(([featH, featW], i) => {
      const [sw, sh] = this.strides[i];
      const validH = Math.min(Math.ceil(h / sh), featH);
      const validW = Math.min(Math.ceil(w / sw), featW);
      return this.singleLevelValidFlags([featH, featW], [validH, validW], this.numBaseAnchors[i]);
    });
  }

  /** Valid flags of one level, `[H·W·A]`. */
  singleLevelValidFlags(
    [featH, featW]: FeatmapSize,
    [validH, validW]: [number, number],
    numBaseAnchors: number,
  ): Uint8Array {
    if (validH > featH || validW > featW) {
      throw new RangeError(
        `Cannot compute valid flags: valid size ${validH}x${validW} exceeds feature map ${featH}x${featW}`,
      );
    }
    const out = new Uint8Array(featH * featW * numBaseAnchors);
    for (let y = 0; y < validH; y++) {
      out.fill(1, y * featW * numBaseAnchors, (y * featW + validW) * numBaseAnchors);
    }
    return out;
  }

  #checkLevels(featmapSizes: FeatmapSize[], what: string): void {
    if (!Array.isArray(featmapSizes) || featmapSizes.length !== this.numLevels) {
      throw new RangeError(
        `Cannot compute ${what}: expected ${this.numLevels} feature-map sizes, got ${featmapSizes?.length}`,
      );
    }
  }
}

/**
 * mmdetection v1's anchors (`LegacyAnchorGenerator`): centre `center_offset·(s − 1)`, corners
 * `centre ∓ 0.5·(w − 1)`, rounded half to even. v1 configs set `center_offset: 0.5` (centre
 * `(s − 1)/2`); the default is 0 as in mmdetection.
 *
 * @example
 * ```ts
 * import { LegacyAnchorGenerator } from "./anchor_generator.ts";
 * const gen = new LegacyAnchorGenerator({ strides: [16], ratios: [1], scales: [1], base_sizes: [9], center_offset: 0.5 });
 * // gen.baseAnchors[0]: [0, 0, 8, 8]
 * ```
 */
export class LegacyAnchorGenerator extends AnchorGenerator {
  /** Legacy base anchors: v1 corners, rounded half to even. */
  override genSingleLevelBaseAnchors(
    baseSize: number,
    scales: Float32Array,
    ratios: Float32Array,
    center: [number, number] | null,
  ): Float32Array {
    const xc = f(center ? center[0] : this.centerOffset * (baseSize - 1));
    const yc = f(center ? center[1] : this.centerOffset * (baseSize - 1));
    const { ws, hs } = this.anchorSizes(baseSize, scales, ratios);
    const out = new Float32Array(ws.length * 4);
    for (let a = 0; a < ws.length; a++) {
      const hw = f(0.5 * f(ws[a] - 1)), hh = f(0.5 * f(hs[a] - 1));
      out.set([f(xc - hw), f(yc - hh), f(xc + hw), f(yc + hh)].map(roundHalfEven), a * 4);
    }
    return out;
  }
}

/**
 * Anchor generators (`AnchorGenerator`, `LegacyAnchorGenerator`, `SSDAnchorGenerator`); also
 * exported by `lib/core/registry.ts`.
 */
export const ANCHOR_GENERATORS: Registry<AnchorGenerator> = new Registry("ANCHOR_GENERATORS");

ANCHOR_GENERATORS.register("AnchorGenerator", AnchorGenerator);
ANCHOR_GENERATORS.register("LegacyAnchorGenerator", LegacyAnchorGenerator);
