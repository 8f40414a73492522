/**
 * Geometric and photometric transforms with mmdet v2 semantics: `Resize`, `RandomFlip`,
 * `Normalize`, `Pad`.
 *
 * @module
 */
import { DataError } from "../../utils/errors.ts";
import type { HwcImage } from "../image_io.ts";
import { PIPELINES } from "../registry.ts";
import type { Results } from "../types.ts";
import { rngOf, type Transform } from "./compose.ts";
import { imflip, impad, imrescale, imresize } from "./geometric.ts";

/** An image scale `[w, h]` (mmdet tuple). */
export type Scale = [number, number];

function isScale(v: unknown): v is Scale {
  return Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "number" && x > 0);
}

function imageOf(results: Results, key: string, who: string): HwcImage {
  const img = results[key] as HwcImage | undefined;
  if (!img || typeof img !== "object" || !("channels" in img)) {
    throw new DataError(
      `${who}: results["${key}"] is not an HWC image; put ${who} after LoadImageFromFile and before DefaultFormatBundle`,
    );
  }
  return img;
}

function shapeOf(img: HwcImage): number[] {
  return img.channels === 1 ? [img.height, img.width] : [img.height, img.width, img.channels];
}

/** Options of {@link Resize}. */
export interface ResizeCfg {
  /** One `[w, h]` scale or a list of them (mmdet's tuple or list of tuples). */
  img_scale?: Scale | Scale[] | null;
  /** With several scales: "range" (sample long and short edges) or "value" (pick one). */
  multiscale_mode?: "range" | "value";
  /** `[min, max]` ratio applied to the single `img_scale`. */
  ratio_range?: [number, number] | null;
  /** Keep the aspect ratio (default true). */
  keep_ratio?: boolean;
  /** Clip boxes to the resized image (default true). */
  bbox_clip_border?: boolean;
  /** Only "cv2" (OpenCV-exact bilinear). */
  backend?: string;
  /** Recompute a preset scale (default false). */
  override?: boolean;
}

/**
 * Resizes the image and boxes (mmdet `Resize`): keep-ratio rescale (`int(x·s + 0.5)` sizes)
 * or exact resize, bilinear as OpenCV; `scale_factor = [w'/w, h'/h, w'/w, h'/h]` (float32);
 * boxes scaled and, with `bbox_clip_border`, clipped to the new image.
 */
export class Resize implements Transform {
  /** The scales, each `[w, h]`, or null (taken from `results.scale`). */
  readonly imgScale: Scale[] | null;
  /** `multiscale_mode`. */
  readonly multiscaleMode: "range" | "value";
  /** `ratio_range`, or null. */
  readonly ratioRange: [number, number] | null;
  /** `keep_ratio`. */
  readonly keepRatio: boolean;
  /** `bbox_clip_border`. */
  readonly bboxClipBorder: boolean;
  /** `override`. */
  readonly override: boolean;

  /** Builds the transform from its config (mmdet keyword arguments). */
  constructor(cfg: ResizeCfg = {}) {
    const s = cfg.img_scale ?? null;
    if (s === null) this.imgScale = null;
    else if (isScale(s)) this.imgScale = [s];
    else if (Array.isArray(s) && s.length > 0 && s.every(isScale)) this.imgScale = s as Scale[];
    else {throw new TypeError(
        `img_scale must be [w, h] or a list of [w, h], got ${JSON.stringify(s)}`,
      );}
    this.multiscaleMode = cfg.multiscale_mode ?? "range";
    this.ratioRange = cfg.ratio_range ?? null;
    if (this.ratioRange !== null) {
      if (!this.imgScale || this.imgScale.length !== 1) {
        throw new RangeError("ratio_range needs exactly one img_scale");
      }
    } else if (this.multiscaleMode !== "range" && this.multiscaleMode !== "value") {
      throw new RangeError(`multiscale_mode "${this.multiscaleMode}" is not "range" or "value"`);
    }
    if (
      this.imgScale && this.imgScale.length > 2 && this.multiscaleMode === "range" &&
      !this.ratioRange
    ) {
      throw new RangeError(
        `multiscale_mode "range" needs exactly 2 img_scale entries, got ${this.imgScale.length}`,
      );
    }
    this.keepRatio = cfg.keep_ratio ?? true;
    this.bboxClipBorder = cfg.bbox_clip_border ?? true;
    this.override = cfg.override ?? false;
    if ((cfg.backend ?? "cv2") !== "cv2") {
      throw new RangeError(`backend "${cfg.backend}" is not supported; use "cv2"`);
    }
  }

  #randomScale(results: Results): void {
    const rng = rngOf(results);
    const scales = this.imgScale;
    if (!scales) {
      throw new RangeError(
        "Resize has no img_scale and results has no scale; set img_scale or use MultiScaleFlipAug",
      );
    }
    let scale: Scale, idx: number | null;
    if (this.ratioRange) {
      const [lo, hi] = this.ratioRange;
      const ratio = rng.random() * (hi - lo) + lo;
      scale = [Math.trunc(scales[0][0] * ratio), Math.trunc(scales[0][1] * ratio)];
      idx = null;
    } else if (scales.length === 1) {
      [scale, idx] = [scales[0], 0];
    } else if (this.multiscaleMode === "range") {
      const longs = scales.map((s) => Math.max(...s)), shorts = scales.map((s) => Math.min(...s));
      const longEdge = rng.randint(Math.min(...longs), Math.max(...longs) + 1);
      const shortEdge = rng.randint(Math.min(...shorts), Math.max(...shorts) + 1);
      [scale, idx] = [[longEdge, shortEdge], null];
    } else {
      idx = rng.randint(scales.length);
      scale = scales[idx];
    }
    results.scale = scale;
    results.scale_idx = idx;
  }

  /** Applies the transform (mmdet `__call__`). */
  call(results: Results): Results {
    if (results.scale === undefined) {
      if (results.scale_factor !== undefined) {
        const sf = results.scale_factor;
        if (typeof sf !== "number") {
          throw new TypeError("Resize: a preset scale_factor must be a number");
        }
        const img = imageOf(results, "img", "Resize");
        results.scale = [Math.trunc(img.width * sf), Math.trunc(img.height * sf)];
      } else this.#randomScale(results);
    } else if (!this.override) {
      if (results.scale_factor !== undefined) {
        throw new RangeError(
          "Resize: scale and scale_factor cannot be both set; set override: true to recompute them",
        );
      }
    } else {
      delete results.scale;
      delete results.scale_factor;
      this.#randomScale(results);
    }
    // 1. images
    for (const key of results.img_fields ?? ["img"]) {
      const img = imageOf(results, key, "Resize");
      let out: HwcImage;
      let wScale: number, hScale: number;
      if (this.keepRatio) {
        out = imrescale(img, results.scale!).img;
        wScale = out.width / img.width;
        hScale = out.height / img.height;
      } else {
        const [w, h] = results.scale!;
        out = imresize(img, w, h);
        wScale = w / img.width;
        hScale = h / img.height;
      }
      results[key] = out;
      results.scale_factor = new Float32Array([wScale, hScale, wScale, hScale]);
      results.img_shape = shapeOf(out);
      results.pad_shape = shapeOf(out); // in case there is no padding
      results.keep_ratio = this.keepRatio;
    }
    // 2. boxes
    const sf = results.scale_factor as Float32Array;
    const [h, w] = results.img_shape!;
    for (const key of results.bbox_fields ?? []) {
      const b = results[key] as Float32Array;
      const out = new Float32Array(b.length);
      for (let i = 0; i < b.length; i++) {
        out[i] = b[i] * sf[i % 4];
        if (this.bboxClipBorder) out[i] = Math.min(Math.max(out[i], 0), i % 2 === 0 ? w : h);
      }
      results[key] = out;
    }
    return results;
  }
}

/**
 * Flips boxes of an image of shape `[h, w]` (mmdet `bbox_flip`, v2 coordinates):
 * horizontal `x1' = w − x2, x2' = w − x1`; vertical likewise in y; diagonal both.
 */
export function bboxFlip(
  bboxes: Float32Array,
  imgShape: number[],
  direction: string,
): Float32Array {
  const [h, w] = imgShape;
  const out = bboxes.slice();
  for (let i = 0; i < bboxes.length; i += 4) {
    if (direction === "horizontal" || direction === "diagonal") {
      out[i] = w - bboxes[i + 2];
      out[i + 2] = w - bboxes[i];
    }
    if (direction === "vertical" || direction === "diagonal") {
      out[i + 1] = h - bboxes[i + 3];
      out[i + 3] = h - bboxes[i + 1];
    }
  }
  return out;
}

/**
 * Randomly flips image and boxes (mmdet `RandomFlip`): `flip_ratio` (number, or one per
 * direction) and `direction` ("horizontal", "vertical", "diagonal", or a list). A preset
 * `results.flip` (from MultiScaleFlipAug) is obeyed.
 */
export class RandomFlip implements Transform {
  /** `flip_ratio`: one probability, or one per direction; null never flips. */
  readonly flipRatio: number | number[] | null;
  /** `direction`, one or a list. */
  readonly direction: string | string[];

  /** Builds the transform from its config (mmdet keyword arguments). */
  constructor(cfg: { flip_ratio?: number | number[] | null; direction?: string | string[] } = {}) {
    this.flipRatio = cfg.flip_ratio ?? null;
    this.direction = cfg.direction ?? "horizontal";
    const dirs = Array.isArray(this.direction) ? this.direction : [this.direction];
    for (const d of dirs) {
      if (!["horizontal", "vertical", "diagonal"].includes(d)) {
        throw new RangeError(`direction "${d}" is not "horizontal", "vertical" or "diagonal"`);
      }
    }
    const ratios = Array.isArray(this.flipRatio)
      ? this.flipRatio
      : this.flipRatio === null
      ? []
      : [this.flipRatio];
    if (ratios.some((r) => r < 0 || r > 1) || ratios.reduce((s, r) => s + r, 0) > 1 + 1e-12) {
      throw new RangeError(
        `flip_ratio ${JSON.stringify(this.flipRatio)} must be in [0, 1] and sum to at most 1`,
      );
    }
    if (
      Array.isArray(this.flipRatio) &&
      (!Array.isArray(this.direction) || this.direction.length !== this.flipRatio.length)
    ) {
      throw new RangeError("a list flip_ratio needs a direction list of the same length");
    }
  }

  /** Applies the transform (mmdet `__call__`). */
  call(results: Results): Results {
    if (results.flip === undefined) {
      const dirs: (string | null)[] = [
        ...(Array.isArray(this.direction) ? this.direction : [this.direction]),
        null,
      ];
      let probs: number[];
      if (Array.isArray(this.flipRatio)) {
        probs = [
          ...this.flipRatio,
          1 - this.flipRatio.reduce((s, r) => s + r, 0),
        ];
      } else {
        const r = this.flipRatio ?? 0;
        probs = [...new Array(dirs.length - 1).fill(r / (dirs.length - 1)), 1 - r];
      }
      const dir = rngOf(results).choice(dirs, probs);
      results.flip = dir !== null;
      if (results.flip_direction === undefined) results.flip_direction = dir;
    }
    if (results.flip) {
      const dir = results.flip_direction ?? "horizontal";
      for (const key of results.img_fields ?? ["img"]) {
        results[key] = imflip(imageOf(results, key, "RandomFlip"), dir);
      }
      for (const key of results.bbox_fields ?? []) {
        results[key] = bboxFlip(results[key] as Float32Array, results.img_shape!, dir);
      }
    }
    return results;
  }
}

/**
 * Normalizes the image to float32 (mmcv `imnormalize`): optional BGR→RGB, then
 * `(v − mean) · (1 / std)` per channel, rounded as OpenCV does it (float32 subtraction,
 * float64 product rounded to float32).
 */
export class Normalize implements Transform {
  /** Per-channel mean, in output channel order (RGB with `to_rgb`). */
  readonly mean: Float32Array;
  /** Per-channel standard deviation. */
  readonly std: Float32Array;
  /** Convert BGR to RGB first. */
  readonly toRgb: boolean;

  /** Builds the transform from its config (mmdet keyword arguments). */
  constructor(cfg: { mean: number[]; std: number[]; to_rgb?: boolean }) {
    if (
      !Array.isArray(cfg?.mean) || !Array.isArray(cfg?.std) || cfg.mean.length !== cfg.std.length
    ) {
      throw new TypeError(
        `mean and std must be lists of equal length, got ${JSON.stringify(cfg?.mean)} and ${
          JSON.stringify(cfg?.std)
        }`,
      );
    }
    if (cfg.std.some((s) => s === 0)) {
      throw new RangeError(`std ${JSON.stringify(cfg.std)} has a zero`);
    }
    this.mean = new Float32Array(cfg.mean);
    this.std = new Float32Array(cfg.std);
    this.toRgb = cfg.to_rgb ?? true;
  }

  /** Applies the transform (mmdet `__call__`). */
  call(results: Results): Results {
    const f = Math.fround;
    for (const key of results.img_fields ?? ["img"]) {
      const img = imageOf(results, key, "Normalize");
      const cn = img.channels;
      if (cn !== this.mean.length) {
        throw new TypeError(
          `Normalize: image has ${cn} channels but mean has ${this.mean.length} values`,
        );
      }
      // OpenCV subtracts in float32 and multiplies by the float64 1 / std, rounding once
      const mean = Array.from(this.mean);
      const stdinv = Array.from(this.std, (s) => 1 / s);
      const src = img.data;
      const out = new Float32Array(src.length);
      if (cn === 3) {
        const [m0, m1, m2] = mean, [s0, s1, s2] = stdinv;
        const [i0, i2] = this.toRgb ? [2, 0] : [0, 2];
        for (let i = 0; i < src.length; i += 3) {
          out[i] = f(src[i + i0] - m0) * s0;
          out[i + 1] = f(src[i + 1] - m1) * s1;
          out[i + 2] = f(src[i + i2] - m2) * s2;
        }
      } else {
        for (let i = 0; i < src.length; i += cn) {
          for (let c = 0; c < cn; c++) out[i + c] = f(src[i + c] - mean[c]) * stdinv[c];
        }
      }
      results[key] = { data: out, height: img.height, width: img.width, channels: cn };
    }
    results.img_norm_cfg = { mean: this.mean.slice(), std: this.std.slice(), to_rgb: this.toRgb };
    return results;
  }
}

/**
 * Pads the image at the bottom and right (mmdet `Pad`): to a fixed `size` `[h, w]`, or to the
 * next multiple of `size_divisor`; `pad_val` fills. Sets `pad_shape`, `pad_fixed_size`,
 * `pad_size_divisor`.
 */
export class Pad implements Transform {
  /** Fixed `[h, w]`, or null. */
  readonly size: [number, number] | null;
  /** Pad H and W up to multiples of this, or null. */
  readonly sizeDivisor: number | null;
  /** Fill value. */
  readonly padVal: number;

  /** Builds the transform from its config (mmdet keyword arguments). */
  constructor(
    cfg: {
      size?: [number, number] | null;
      size_divisor?: number | null;
      pad_val?: number | { img?: number };
    } = {},
  ) {
    this.size = cfg.size ?? null;
    this.sizeDivisor = cfg.size_divisor ?? null;
    if ((this.size === null) === (this.sizeDivisor === null)) {
      throw new RangeError("set exactly one of size and size_divisor");
    }
    if (
      this.sizeDivisor !== null && !(this.sizeDivisor > 0 && Number.isInteger(this.sizeDivisor))
    ) {
      throw new RangeError(`size_divisor ${this.sizeDivisor} must be a positive integer`);
    }
    const pv = cfg.pad_val ?? 0;
    this.padVal = typeof pv === "number" ? pv : pv.img ?? 0;
  }

  /** Applies the transform (mmdet `__call__`). */
  call(results: Results): Results {
    for (const key of results.img_fields ?? ["img"]) {
      const img = imageOf(results, key, "Pad");
      let h: number, w: number;
      if (this.size) [h, w] = this.size;
      else {
        const d = this.sizeDivisor!;
        h = Math.ceil(img.height / d) * d;
        w = Math.ceil(img.width / d) * d;
      }
      const out = impad(img, h, w, this.padVal);
      results[key] = out;
      results.pad_shape = shapeOf(out);
    }
    results.pad_fixed_size = this.size;
    results.pad_size_divisor = this.sizeDivisor;
    return results;
  }
}

PIPELINES.register("Resize", Resize);
PIPELINES.register("RandomFlip", RandomFlip);
PIPELINES.register("Normalize", Normalize);
PIPELINES.register("Pad", Pad);
