/**
 * Data types shared by datasets, pipelines and the loader: mmdet's middle format
 * (`data_infos`, `ann_info`), the pipeline results dict, image metas and collated batches.
 *
 * @module
 */
import type { Rng } from "../utils/rng.ts";
import type { HwcImage } from "./image_io.ts";

/** A host-side f32 tensor: flat data, row-major, with its shape (e.g. `[3, H, W]`, CHW). */
export interface HostTensor {
  /** Values, row-major. */
  data: Float32Array;
  /** Dimensions. */
  shape: number[];
}

/** Annotations of one image (mmdet `get_ann_info`): xyxy float32 boxes, flat `[n, 4]`. */
export interface AnnInfo {
  /** `[n, 4]` xyxy boxes, absolute pixels, flat. */
  bboxes: Float32Array;
  /** `[n]` 0-based labels. */
  labels: Int32Array;
  /** `[k, 4]` ignored boxes (crowd / difficult), flat. */
  bboxes_ignore: Float32Array;
  /** `[k]` labels of the ignored boxes. */
  labels_ignore: Int32Array;
}

/** One image entry of a dataset (mmdet's `data_infos[i]`). */
export interface DataInfo {
  /** Image path relative to `img_prefix` (or absolute). */
  filename: string;
  /** Image width in pixels. */
  width: number;
  /** Image height in pixels. */
  height: number;
  /** Image id (COCO id, VOC file stem, …). */
  id?: number | string;
  /** Annotations in middle format (CustomDataset only; plain arrays are accepted). */
  ann?: {
    bboxes: ArrayLike<number> | number[][];
    labels: ArrayLike<number>;
    bboxes_ignore?: ArrayLike<number> | number[][];
    labels_ignore?: ArrayLike<number>;
  };
  /** Format-specific fields (COCO image entry fields, VOC `xml_path`, …). */
  [key: string]: unknown;
}

/** `img_norm_cfg` as recorded by `Normalize`. */
export interface ImgNormCfg {
  /** Per-channel mean subtracted. */
  mean: Float32Array;
  /** Per-channel standard deviation divided by. */
  std: Float32Array;
  /** Whether BGR was converted to RGB. */
  to_rgb: boolean;
}

/**
 * Per-image meta data handed to the model (mmdet's `img_metas[i]`): shapes are `[h, w, c]`,
 * `scale_factor` is `[w_scale, h_scale, w_scale, h_scale]`.
 */
export interface ImgMeta {
  /** Image path as loaded (prefix joined). */
  filename?: string;
  /** Image path relative to `img_prefix`. */
  ori_filename?: string;
  /** `[h, w, c]` as loaded. */
  ori_shape?: number[];
  /** `[h, w, c]` after resizing. */
  img_shape?: number[];
  /** `[h, w, c]` after padding. */
  pad_shape?: number[];
  /** `[w_scale, h_scale, w_scale, h_scale]` from Resize (float32), or 1. */
  scale_factor?: Float32Array | number;
  /** Whether the image was flipped. */
  flip?: boolean;
  /** "horizontal", "vertical", "diagonal" or null. */
  flip_direction?: string | null;
  /** Normalization that was applied. */
  img_norm_cfg?: ImgNormCfg;
  /** `[H, W]` of the padded batch tensor, added by the detector at forward time. */
  batch_input_shape?: number[];
  /** Further meta keys named in `Collect.meta_keys`. */
  [key: string]: unknown;
}

/**
 * The dict that flows through a pipeline. Keys are mmdet's; `img` is an {@link HwcImage} until
 * `DefaultFormatBundle`/`ImageToTensor` turn it into a CHW {@link HostTensor}. `rng` is the
 * seeded generator random transforms draw from (set by the dataset/loader per sample).
 */
export interface Results {
  /** The dataset entry being loaded. */
  img_info?: DataInfo;
  /** Its annotations (train). */
  ann_info?: AnnInfo;
  /** Folder the file name is relative to. */
  img_prefix?: string | null;
  /** Image path as loaded. */
  filename?: string;
  /** Image path relative to `img_prefix`. */
  ori_filename?: string;
  /** The image: HWC until formatted, then a CHW tensor. */
  img?: HwcImage | HostTensor;
  /** `[h, w, c]` after resizing. */
  img_shape?: number[];
  /** `[h, w, c]` as loaded. */
  ori_shape?: number[];
  /** `[h, w, c]` after padding. */
  pad_shape?: number[];
  /** Target `[w, h]` chosen by Resize (or preset by MultiScaleFlipAug). */
  scale?: [number, number];
  /** Index of the chosen scale, or null when sampled. */
  scale_idx?: number | null;
  /** `[w_scale, h_scale, w_scale, h_scale]` (float32), or a preset number. */
  scale_factor?: Float32Array | number;
  /** Whether Resize kept the aspect ratio. */
  keep_ratio?: boolean;
  /** Whether the image was flipped. */
  flip?: boolean;
  /** Flip direction, or null. */
  flip_direction?: string | null;
  /** Normalization that was applied. */
  img_norm_cfg?: ImgNormCfg;
  /** `[n, 4]` xyxy ground-truth boxes, flat. */
  gt_bboxes?: Float32Array;
  /** `[n]` ground-truth labels. */
  gt_labels?: Int32Array;
  /** `[k, 4]` ignored boxes, flat. */
  gt_bboxes_ignore?: Float32Array;
  /** Keys of the images transforms apply to. */
  img_fields?: string[];
  /** Keys of the box arrays transforms apply to. */
  bbox_fields?: string[];
  /** Metas gathered by Collect. */
  img_metas?: ImgMeta;
  /** Generator for random transforms. */
  rng?: Rng;
  /** Other keys set by transforms (`pad_fixed_size`, `seg_fields`, …). */
  [key: string]: unknown;
}

/**
 * A collated batch: images zero-padded bottom/right to the batch's max H and W and stacked
 * into one `[N, C, H, W]` tensor; per-image metas and ground truth stay lists.
 * Test-time batches (MultiScaleFlipAug) hold one tensor and one meta list per augmentation.
 */
export interface Batch {
  /** `[N, C, H, W]`, NCHW f32 (train), or one such tensor per augmentation (test). */
  img: HostTensor | HostTensor[];
  /** Per image (train) or per augmentation, per image (test). */
  img_metas: ImgMeta[] | ImgMeta[][];
  /** Per image: `[n, 4]` xyxy boxes, flat. */
  gt_bboxes?: Float32Array[];
  /** Per image: `[n]` labels. */
  gt_labels?: Int32Array[];
  /** Per image: `[k, 4]` ignored boxes (when collected). */
  gt_bboxes_ignore?: Float32Array[];
  /** Dataset indices of the images in this batch. */
  indices: number[];
  /** Other collected keys, one entry per image. */
  [key: string]: unknown;
}
