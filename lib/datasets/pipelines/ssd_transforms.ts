/**
 * SSD's data augmentation with mmdetection v2.25's rules: `PhotoMetricDistortion`, `Expand` and
 * `MinIoURandomCrop`. Random draws come from the sample's seeded generator (`rngOf(results)`) in
 * the order numpy's global generator is drawn by mmdetection, so one seed gives one augmentation.
 *
 * @module
 */
import { DataError } from "../../utils/errors.ts";
import type { HwcImage } from "../image_io.ts";
import { PIPELINES } from "../registry.ts";
import type { Results } from "../types.ts";
import { rngOf, type Transform } from "./compose.ts";

const f = Math.fround;

function singleImage(results: Results, who: string): HwcImage {
  const fields = results.img_fields;
  if (fields && (fields.length !== 1 || fields[0] !== "img")) {
    throw new DataError(
      `${who}: only img_fields ["img"] is supported, got ${JSON.stringify(fields)}`,
    );
  }
  const img = results.img as HwcImage | undefined;
  if (!img || typeof img !== "object" || !("channels" in img)) {
    throw new DataError(
      `${who}: results["img"] is not an HWC image; put ${who} after LoadImageFromFile and before DefaultFormatBundle`,
    );
  }
  return img;
}

function pair(v: unknown, who: string, key: string): [number, number] {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === "number")) {
    throw new RangeError(
      `Cannot build ${who}: ${key} must be [low, high], got ${JSON.stringify(v)}`,
    );
  }
  return [v[0], v[1]];
}

// ---- PhotoMetricDistortion ---------------------------------------------------------------------

/** OpenCV's float `BGR2HSV` of one pixel (H in [0, 360), S in [0, 1], V in the input's scale). */
export function bgrToHsv(b: number, g: number, r: number): [number, number, number] {
  const EPS = 1.1920928955078125e-7;
  const v = Math.max(r, g, b), vmin = Math.min(r, g, b);
  let diff = f(v - vmin);
  const s = f(diff / f(Math.abs(v) + EPS));
  diff = f(60 / f(diff + EPS));
  let h: number;
  if (v === r) h = f(f(g - b) * diff);
  else if (v === g) h = f(f(f(b - r) * diff) + 120);
  else h = f(f(f(r - g) * diff) + 240);
  if (h < 0) h = f(h + 360);
  return [h, s, v];
}

const SECTORS = [[1, 3, 0], [1, 0, 2], [3, 0, 1], [0, 2, 1], [0, 1, 3], [2, 1, 0]];

/** OpenCV's float `HSV2BGR` of one pixel (H in degrees). */
export function hsvToBgr(h: number, s: number, v: number): [number, number, number] {
  if (s === 0) return [v, v, v];
  h = f(h * f(6 / 360));
  if (h < 0) { do h = f(h + 6); while (h < 0); }
  else if (h >= 6) { do h = f(h - 6); while (h >= 6); }
  let sector = Math.floor(h);
  h = f(h - sector);
  if (sector < 0 || sector >= 6) {
    sector = 0;
    h = 0;
  }
  const tab = [v, f(v * f(1 - s)), f(v * f(1 - f(s * h))), f(v * f(1 - f(s * f(1 - h))))];
  const [ib, ig, ir] = SECTORS[sector];
  return [tab[ib], tab[ig], tab[ir]];
}

/** Options of {@linkcode PhotoMetricDistortion} (mmdet keyword arguments). */
export interface PhotoMetricDistortionCfg {
  /** Brightness offset drawn from U(−δ, δ) (default 32). */
  brightness_delta?: number;
  /** Contrast factor range (default [0.5, 1.5]). */
  contrast_range?: [number, number];
  /** Saturation factor range (default [0.5, 1.5]). */
  saturation_range?: [number, number];
  /** Hue offset in degrees drawn from U(−δ, δ) (default 18). */
  hue_delta?: number;
}

/**
 * mmdet's `PhotoMetricDistortion` on a float32 BGR image: each step applied with probability 1/2,
 * in mmdetection's order — brightness (`+ U(−δ, δ)`), contrast first or last (a coin decides the
 * mode; `· U(lo, hi)`), BGR → HSV, saturation (`S · U(lo, hi)`), hue (`H + U(−δ, δ)`, wrapped into
 * [0, 360]), HSV → BGR, contrast (mode 0), and a random channel permutation. Values are not
 * clipped (as mmdetection).
 */
export class PhotoMetricDistortion implements Transform {
  /** `brightness_delta`. */
  readonly brightnessDelta: number;
  /** `contrast_range`. */
  readonly contrastRange: [number, number];
  /** `saturation_range`. */
  readonly saturationRange: [number, number];
  /** `hue_delta`. */
  readonly hueDelta: number;

  /** Builds the transform from its config. */
  constructor(cfg: PhotoMetricDistortionCfg = {}) {
    this.brightnessDelta = cfg.brightness_delta ?? 32;
    this.contrastRange = pair(
      cfg.contrast_range ?? [0.5, 1.5],
      "PhotoMetricDistortion",
      "contrast_range",
    );
    this.saturationRange = pair(
      cfg.saturation_range ?? [0.5, 1.5],
      "PhotoMetricDistortion",
      "saturation_range",
    );
    this.hueDelta = cfg.hue_delta ?? 18;
  }

  /** Applies the transform (mmdet `__call__`). */
  call(results: Results): Results {
    const img = singleImage(results, "PhotoMetricDistortion");
    if (!(img.data instanceof Float32Array) || img.channels !== 3) {
      throw new DataError(
        'PhotoMetricDistortion needs a 3-channel float32 image: set "to_float32: true" in LoadImageFromFile',
      );
    }
    const rng = rngOf(results);
    const d = Float32Array.from(img.data);
    const n = img.height * img.width;
    const scaleAll = (a: number) => {
      const s = f(a);
      for (let i = 0; i < d.length; i++) d[i] = f(d[i] * s);
    };
    if (rng.randint(2)) {
      const delta = f(rng.uniform(-this.brightnessDelta, this.brightnessDelta));
      for (let i = 0; i < d.length; i++) d[i] = f(d[i] + delta);
    }
    const mode = rng.randint(2);
    if (mode === 1 && rng.randint(2)) scaleAll(rng.uniform(...this.contrastRange));
    for (let p = 0; p < n; p++) {
      const [h, s, v] = bgrToHsv(d[3 * p], d[3 * p + 1], d[3 * p + 2]);
      d[3 * p] = h;
      d[3 * p + 1] = s;
      d[3 * p + 2] = v;
    }
    if (rng.randint(2)) {
      const a = f(rng.uniform(...this.saturationRange));
      for (let p = 0; p < n; p++) d[3 * p + 1] = f(d[3 * p + 1] * a);
    }
    if (rng.randint(2)) {
      const dh = f(rng.uniform(-this.hueDelta, this.hueDelta));
      for (let p = 0; p < n; p++) {
        let h = f(d[3 * p] + dh);
        if (h > 360) h = f(h - 360);
        if (h < 0) h = f(h + 360);
        d[3 * p] = h;
      }
    }
    for (let p = 0; p < n; p++) {
      const [b, g, r] = hsvToBgr(d[3 * p], d[3 * p + 1], d[3 * p + 2]);
      d[3 * p] = b;
      d[3 * p + 1] = g;
      d[3 * p + 2] = r;
    }
    if (mode === 0 && rng.randint(2)) scaleAll(rng.uniform(...this.contrastRange));
    if (rng.randint(2)) {
      const perm = rng.permutation(3);
      const src = d.slice();
      for (let p = 0; p < n; p++) {
        for (let c = 0; c < 3; c++) d[3 * p + c] = src[3 * p + perm[c]];
      }
    }
    results.img = { ...img, data: d };
    return results;
  }
}

// ---- Expand ------------------------------------------------------------------------------------

/** Options of {@linkcode Expand} (mmdet keyword arguments). */
export interface ExpandCfg {
  /** Fill value per channel, RGB when `to_rgb` (default [0, 0, 0]). */
  mean?: number[];
  /** `mean` is RGB: reverse it for the BGR image (default true). */
  to_rgb?: boolean;
  /** Canvas size range as a multiple of the image (default [1, 4]). */
  ratio_range?: [number, number];
  /** Fill of segmentation maps: not supported (no seg fields). */
  seg_ignore_label?: number | null;
  /** Probability of expanding (default 0.5). */
  prob?: number;
}

/**
 * mmdet's `Expand`: with probability `prob` (skipped when `U(0, 1) > prob`) the image is placed on
 * a canvas `int(h·r) × int(w·r)`, `r ~ U(ratio_range)`, filled with the mean (cast to the image's
 * type: truncated for uint8), at `left = int(U(0, w·r − w))`, `top = int(U(0, h·r − h))`; boxes of
 * every `bbox_fields` key shift by `(left, top)`. wgdet also updates `img_shape` (mmdetection
 * leaves it stale until the next resize or crop).
 */
export class Expand implements Transform {
  /** Fill per channel in the image's (BGR) order. */
  readonly mean: number[];
  /** `ratio_range`. */
  readonly ratioRange: [number, number];
  /** `prob`. */
  readonly prob: number;

  /** Builds the transform from its config. */
  constructor(cfg: ExpandCfg = {}) {
    const mean = cfg.mean ?? [0, 0, 0];
    if (!Array.isArray(mean) || !mean.every((v) => typeof v === "number")) {
      throw new RangeError(
        `Cannot build Expand: mean must be a list of numbers, got ${JSON.stringify(mean)}`,
      );
    }
    this.mean = (cfg.to_rgb ?? true) ? [...mean].reverse() : [...mean];
    this.ratioRange = pair(cfg.ratio_range ?? [1, 4], "Expand", "ratio_range");
    if (!(this.ratioRange[0] >= 1 && this.ratioRange[1] >= this.ratioRange[0])) {
      throw new RangeError(
        `Cannot build Expand: ratio_range ${
          JSON.stringify(this.ratioRange)
        } must satisfy 1 ≤ low ≤ high`,
      );
    }
    if (cfg.seg_ignore_label != null) {
      throw new RangeError(
        "Cannot build Expand: seg_ignore_label is not supported (no segmentation maps)",
      );
    }
    this.prob = cfg.prob ?? 0.5;
  }

  /** Applies the transform (mmdet `__call__`). */
  call(results: Results): Results {
    const rng = rngOf(results);
    if (rng.uniform(0, 1) > this.prob) return results;
    const img = singleImage(results, "Expand");
    const { height: h, width: w, channels: c } = img;
    if (this.mean.length !== c) {
      throw new DataError(`Expand: mean has ${this.mean.length} values for a ${c}-channel image`);
    }
    const ratio = rng.uniform(this.ratioRange[0], this.ratioRange[1]);
    const H = Math.trunc(h * ratio), W = Math.trunc(w * ratio);
    const left = Math.trunc(rng.uniform(0, w * ratio - w));
    const top = Math.trunc(rng.uniform(0, h * ratio - h));
    const isF = img.data instanceof Float32Array;
    const out = isF ? new Float32Array(H * W * c) : new Uint8Array(H * W * c);
    const fill = this.mean.map((m) => isF ? f(m) : Math.min(255, Math.max(0, Math.trunc(m))));
    for (let p = 0; p < H * W; p++) for (let k = 0; k < c; k++) out[p * c + k] = fill[k];
    for (let y = 0; y < h; y++) {
      out.set(img.data.subarray(y * w * c, (y + 1) * w * c), ((top + y) * W + left) * c);
    }
    results.img = { data: out, height: H, width: W, channels: c };
    results.img_shape = c === 1 ? [H, W] : [H, W, c];
    for (const key of results.bbox_fields ?? []) {
      const b = results[key] as Float32Array;
      const nb = new Float32Array(b.length);
      for (let i = 0; i < b.length; i++) nb[i] = f(b[i] + (i % 2 === 0 ? left : top));
      results[key] = nb;
    }
    return results;
  }
}

// ---- MinIoURandomCrop --------------------------------------------------------------------------

/** Options of {@linkcode MinIoURandomCrop} (mmdet keyword arguments). */
export interface MinIoURandomCropCfg {
  /** IoU thresholds to draw from (default [0.1, 0.3, 0.5, 0.7, 0.9]). */
  min_ious?: number[];
  /** Smallest crop side as a fraction of the image's (default 0.3). */
  min_crop_size?: number;
  /** Clip the kept boxes to the crop (default true). */
  bbox_clip_border?: boolean;
}

/** mmdet's numpy `bbox_overlaps` (IoU, no +1) of one box against boxes, in float32. */
function iouWith(p: number[], boxes: Float32Array): number[] {
  const out: number[] = [];
  const ap = f(f(p[2] - p[0]) * f(p[3] - p[1]));
  for (let i = 0; i < boxes.length / 4; i++) {
    const [x1, y1, x2, y2] = boxes.subarray(4 * i, 4 * i + 4);
    const ab = f(f(x2 - x1) * f(y2 - y1));
    const iw = Math.max(f(Math.min(p[2], x2) - Math.max(p[0], x1)), 0);
    const ih = Math.max(f(Math.min(p[3], y2) - Math.max(p[1], y1)), 0);
    const inter = f(iw * ih);
    const union = Math.max(f(f(ap + ab) - inter), f(1e-6));
    out.push(f(inter / union));
  }
  return out;
}

/**
 * mmdet's `MinIoURandomCrop`: draw a mode from `(1, ...min_ious, 0)` (1: keep the image), then up
 * to 50 crops: `new_w ~ U(min_crop_size·w, w)`, `new_h ~ U(min_crop_size·h, h)`, aspect
 * `new_h / new_w` in [0.5, 2], `left ~ numpy uniform(w − new_w)` (low `w − new_w`, high 1 — numpy's
 * one-argument form, as mmdetection calls it), likewise `top`; patch `[int(left), int(top),
 * int(left + new_w), int(top + new_h)]`, not a line or point. A crop is accepted when every box
 * (all `bbox_fields`) has IoU ≥ the mode with it and at least one box centre lies strictly inside;
 * boxes whose centre is outside are dropped with their labels, the rest clipped (with
 * `bbox_clip_border`) and shifted. After 50 failures a new mode is drawn.
 */
export class MinIoURandomCrop implements Transform {
  /** `min_ious`. */
  readonly minIous: number[];
  /** `(1, ...min_ious, 0)`. */
  readonly sampleMode: number[];
  /** `min_crop_size`. */
  readonly minCropSize: number;
  /** `bbox_clip_border`. */
  readonly bboxClipBorder: boolean;

  /** Builds the transform from its config. */
  constructor(cfg: MinIoURandomCropCfg = {}) {
    this.minIous = cfg.min_ious ?? [0.1, 0.3, 0.5, 0.7, 0.9];
    if (!Array.isArray(this.minIous) || !this.minIous.every((v) => typeof v === "number")) {
      throw new RangeError(
        `Cannot build MinIoURandomCrop: min_ious must be numbers, got ${
          JSON.stringify(cfg.min_ious)
        }`,
      );
    }
    this.sampleMode = [1, ...this.minIous, 0];
    this.minCropSize = cfg.min_crop_size ?? 0.3;
    if (!(this.minCropSize > 0 && this.minCropSize <= 1)) {
      throw new RangeError(
        `Cannot build MinIoURandomCrop: min_crop_size ${this.minCropSize} must lie in (0, 1]`,
      );
    }
    this.bboxClipBorder = cfg.bbox_clip_border ?? true;
  }

  /** Applies the transform (mmdet `__call__`). */
  call(results: Results): Results {
    const img = singleImage(results, "MinIoURandomCrop");
    const fields = results.bbox_fields;
    if (!fields) {
      throw new DataError("MinIoURandomCrop needs bbox_fields: put it after LoadAnnotations");
    }
    const parts = fields.map((k) => results[k] as Float32Array);
    const all = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    const { height: h, width: w, channels: c } = img;
    const rng = rngOf(results);
    const centreIn = (b: Float32Array, i: number, p: number[]) => {
      const cx = f(f(b[4 * i] + b[4 * i + 2]) / 2), cy = f(f(b[4 * i + 1] + b[4 * i + 3]) / 2);
      return cx > p[0] && cy > p[1] && cx < p[2] && cy < p[3];
    };
    for (;;) {
      const mode = rng.choice(this.sampleMode);
      if (mode === 1) return results;
      const minIou = mode;
      for (let trial = 0; trial < 50; trial++) {
        const newW = rng.uniform(this.minCropSize * w, w);
        const newH = rng.uniform(this.minCropSize * h, h);
        if (newH / newW < 0.5 || newH / newW > 2) continue;
        const left = rng.uniform(w - newW, 1);
        const top = rng.uniform(h - newH, 1);
        const patch = [
          Math.trunc(left),
          Math.trunc(top),
          Math.trunc(left + newW),
          Math.trunc(top + newH),
        ];
        if (patch[2] === patch[0] || patch[3] === patch[1]) continue;
        const ov = iouWith(patch, all);
        if (ov.length > 0 && Math.min(...ov) < minIou) continue;
        if (ov.length > 0) {
          let any = false;
          for (let i = 0; i < all.length / 4 && !any; i++) any = centreIn(all, i, patch);
          if (!any) continue;
          for (const key of fields) {
            const b = results[key] as Float32Array;
            const keep: number[] = [];
            for (let i = 0; i < b.length / 4; i++) if (centreIn(b, i, patch)) keep.push(i);
            const nb = new Float32Array(keep.length * 4);
            keep.forEach((i, r) => {
              for (let k = 0; k < 4; k++) {
                let v = b[4 * i + k];
                if (this.bboxClipBorder) {
                  v = k < 2 ? Math.max(v, patch[k]) : Math.min(v, patch[k]);
                }
                nb[4 * r + k] = f(v - patch[k % 2]);
              }
            });
            results[key] = nb;
            const labelKey = key === "gt_bboxes"
              ? "gt_labels"
              : key === "gt_bboxes_ignore"
              ? "gt_labels_ignore"
              : null;
            const labels = labelKey ? results[labelKey] as Int32Array | undefined : undefined;
            if (labelKey && labels) results[labelKey] = Int32Array.from(keep, (i) => labels[i]);
          }
        }
        const [x1, y1, x2, y2] = patch;
        const cw = x2 - x1, ch = y2 - y1;
        const Ctor = img.data instanceof Float32Array ? Float32Array : Uint8Array;
        const out = new Ctor(cw * ch * c);
        for (let y = 0; y < ch; y++) {
          const src = ((y1 + y) * w + x1) * c;
          out.set(img.data.subarray(src, src + cw * c), y * cw * c);
        }
        results.img = { data: out, height: ch, width: cw, channels: c };
        results.img_shape = c === 1 ? [ch, cw] : [ch, cw, c];
        return results;
      }
    }
  }
}

PIPELINES.register("PhotoMetricDistortion", PhotoMetricDistortion);
PIPELINES.register("Expand", Expand);
PIPELINES.register("MinIoURandomCrop", MinIoURandomCrop);
