/**
 * Loading transforms: `LoadImageFromFile` (PNG/JPEG → HWC BGR uint8) and `LoadAnnotations`
 * (boxes and labels from `ann_info`).
 *
 * @module
 */
import { isAbsolute, join } from "../../utils/path.ts";
import { DataError } from "../../utils/errors.ts";
import { checkMaxPixels, type ColorType, DEFAULT_MAX_PIXELS, readImage } from "../image_io.ts";
import { PIPELINES } from "../registry.ts";
import type { Results } from "../types.ts";
import type { Transform } from "./compose.ts";

/** `img_prefix` joined with a file name, as `os.path.join` (absolute names win). */
export function joinPrefix(prefix: string | null | undefined, name: string): string {
  if (!prefix || isAbsolute(name)) return name;
  return join(prefix, name);
}

/**
 * Loads `img_prefix/img_info.filename` and sets `filename`, `ori_filename`, `img`,
 * `img_shape`, `ori_shape`, `img_fields`.
 */
export class LoadImageFromFile implements Transform {
  /** Convert the image to float32 (`to_float32`). */
  readonly toFloat32: boolean;
  /**
   * `color_type`: "color" (BGR) or "grayscale", both applying EXIF orientation as mmcv, or
   * "color_ignore_orientation" / "grayscale_ignore_orientation".
   */
  readonly colorType: ColorType;
  /** wgdet extension: images declaring more pixels are refused before decoding. */
  readonly maxPixels: number;

  /** Builds the transform from its config (mmdet keyword arguments). */
  constructor(
    cfg: {
      to_float32?: boolean;
      color_type?: ColorType;
      file_client_args?: { backend?: string };
      max_pixels?: number;
    } = {},
  ) {
    this.toFloat32 = cfg.to_float32 ?? false;
    this.colorType = cfg.color_type ?? "color";
    this.maxPixels = checkMaxPixels(cfg.max_pixels ?? DEFAULT_MAX_PIXELS, "LoadImageFromFile");
    const backend = cfg.file_client_args?.backend ?? "disk";
    if (backend !== "disk") {
      throw new RangeError(
        `Cannot load images with file_client_args.backend "${backend}": only "disk" is supported`,
      );
    }
  }

  /** Applies the transform (mmdet `__call__`). */
  call(results: Results): Results {
    const info = results.img_info;
    if (!info || typeof info.filename !== "string") {
      throw new DataError(
        `LoadImageFromFile: results has no img_info.filename (got ${JSON.stringify(info)})`,
      );
    }
    const filename = joinPrefix(results.img_prefix, info.filename);
    let img = readImage(filename, { colorType: this.colorType, maxPixels: this.maxPixels });
    if (this.toFloat32) img = { ...img, data: Float32Array.from(img.data) };
    results.filename = filename;
    results.ori_filename = info.filename;
    results.img = img;
    const shape = img.channels === 1
      ? [img.height, img.width]
      : [img.height, img.width, img.channels];
    results.img_shape = shape;
    results.ori_shape = [...shape];
    results.img_fields = ["img"];
    return results;
  }
}

/** Copies `ann_info.bboxes` → `gt_bboxes`, `bboxes_ignore` → `gt_bboxes_ignore`, `labels` → `gt_labels`. */
export class LoadAnnotations implements Transform {
  /** Load boxes (`with_bbox`). */
  readonly withBbox: boolean;
  /** Load labels (`with_label`). */
  readonly withLabel: boolean;

  /** Builds the transform from its config (mmdet keyword arguments). */
  constructor(
    cfg: { with_bbox?: boolean; with_label?: boolean; with_mask?: boolean; with_seg?: boolean } =
      {},
  ) {
    this.withBbox = cfg.with_bbox ?? true;
    this.withLabel = cfg.with_label ?? true;
    if (cfg.with_mask || cfg.with_seg) {
      throw new RangeError(
        "Cannot load masks or segmentation maps: with_mask and with_seg are not supported; set them to false",
      );
    }
  }

  /** Applies the transform (mmdet `__call__`). */
  call(results: Results): Results {
    const ann = results.ann_info;
    if (!ann) {
      throw new DataError(
        `LoadAnnotations: results has no ann_info for "${results.img_info?.filename}"`,
      );
    }
    results.bbox_fields ??= [];
    if (this.withBbox) {
      results.gt_bboxes = ann.bboxes.slice();
      if (ann.bboxes_ignore) {
        results.gt_bboxes_ignore = ann.bboxes_ignore.slice();
        results.bbox_fields.push("gt_bboxes_ignore");
      }
      results.bbox_fields.push("gt_bboxes");
    }
    if (this.withLabel) results.gt_labels = ann.labels.slice();
    return results;
  }
}

PIPELINES.register("LoadImageFromFile", LoadImageFromFile);
PIPELINES.register("LoadAnnotations", LoadAnnotations);
