/**
 * Formatting transforms: `DefaultFormatBundle` and `ImageToTensor` (HWC image → CHW f32
 * tensor) and `Collect` (keep `keys`, gather `meta_keys` into `img_metas`).
 *
 * @module
 */
import { DataError } from "../../utils/errors.ts";
import type { HwcImage } from "../image_io.ts";
import { PIPELINES } from "../registry.ts";
import type { HostTensor, ImgMeta, Results } from "../types.ts";
import type { Transform } from "./compose.ts";

/** HWC image → CHW f32 tensor `[C, H, W]`. */
export function hwcToChw(img: HwcImage): HostTensor {
  const { height: h, width: w, channels: c, data } = img;
  const out = new Float32Array(c * h * w);
  const plane = h * w;
  for (let k = 0; k < c; k++) {
    const o = k * plane;
    for (let i = 0, j = k; i < plane; i++, j += c) out[o + i] = data[j];
  }
  return { data: out, shape: [c, h, w] };
}

function isHwc(v: unknown): v is HwcImage {
  return typeof v === "object" && v !== null && "channels" in v && "data" in v;
}

/**
 * mmdet `DefaultFormatBundle`: `img` → CHW f32 tensor; `gt_bboxes`, `gt_bboxes_ignore`,
 * `gt_labels` stay typed arrays; fills `pad_shape`, `scale_factor` (1.0) and `img_norm_cfg`
 * (zero mean, unit std) when earlier transforms did not set them.
 */
export class DefaultFormatBundle implements Transform {
  /** Takes no options. */
  constructor(_cfg: Record<string, unknown> = {}) {}

  /** Applies the transform (mmdet `__call__`). */
  call(results: Results): Results {
    const img = results.img;
    if (img !== undefined) {
      if (!isHwc(img)) throw new DataError("DefaultFormatBundle: results.img is not an HWC image");
      const shape = img.channels === 1
        ? [img.height, img.width]
        : [img.height, img.width, img.channels];
      results.pad_shape ??= shape;
      results.scale_factor ??= 1.0;
      results.img_norm_cfg ??= {
        mean: new Float32Array(img.channels),
        std: new Float32Array(img.channels).fill(1),
        to_rgb: false,
      };
      results.img = hwcToChw(img);
    }
    return results;
  }
}

/** mmdet `ImageToTensor`: the listed HWC images → CHW f32 tensors. */
export class ImageToTensor implements Transform {
  /** Keys of the images to convert. */
  readonly keys: string[];

  /** Builds the transform from its config (mmdet keyword arguments). */
  constructor(cfg: { keys?: string[] } = {}) {
    this.keys = cfg.keys ?? ["img"];
  }

  /** Applies the transform (mmdet `__call__`). */
  call(results: Results): Results {
    for (const key of this.keys) {
      const v = results[key];
      if (!isHwc(v)) throw new DataError(`ImageToTensor: results["${key}"] is not an HWC image`);
      results[key] = hwcToChw(v);
    }
    return results;
  }
}

/** mmdet's default `Collect.meta_keys`. */
export const DEFAULT_META_KEYS: readonly string[] = [
  "filename",
  "ori_filename",
  "ori_shape",
  "img_shape",
  "pad_shape",
  "scale_factor",
  "flip",
  "flip_direction",
  "img_norm_cfg",
];

/** mmdet `Collect`: a new results dict with `keys` and `img_metas` (the `meta_keys` values). */
export class Collect implements Transform {
  /** Result keys to keep. */
  readonly keys: string[];
  /** Result keys gathered into `img_metas`. */
  readonly metaKeys: string[];

  /** Builds the transform from its config (mmdet keyword arguments). */
  constructor(cfg: { keys: string[]; meta_keys?: string[] }) {
    if (!Array.isArray(cfg?.keys)) {
      throw new TypeError(`keys must be a list of result keys, got ${JSON.stringify(cfg?.keys)}`);
    }
    this.keys = cfg.keys;
    this.metaKeys = cfg.meta_keys ?? [...DEFAULT_META_KEYS];
  }

  /** Applies the transform (mmdet `__call__`). */
  call(results: Results): Results {
    const meta: ImgMeta = {};
    for (const k of this.metaKeys) {
      if (!(k in results)) {
        throw new DataError(
          `Collect: meta key "${k}" is not in the results (have: ${
            Object.keys(results).join(", ")
          }); remove it from meta_keys or add the transform that sets it`,
        );
      }
      meta[k] = results[k];
    }
    const data: Results = { img_metas: meta };
    for (const k of this.keys) {
      if (!(k in results)) {
        throw new DataError(
          `Collect: key "${k}" is not in the results (have: ${Object.keys(results).join(", ")})`,
        );
      }
      data[k] = results[k];
    }
    return data;
  }
}

PIPELINES.register("DefaultFormatBundle", DefaultFormatBundle);
PIPELINES.register("ImageToTensor", ImageToTensor);
PIPELINES.register("Collect", Collect);
