/**
 * mmdetection v2.25's `SingleRoIExtractor`: each RoI is pooled (RoIAlign) from one FPN level,
 * chosen by its scale (`map_roi_levels`: `floor(log2(sqrt(w·h) / finest_scale + 1e-6))` clamped to
 * the levels). Levels are computed inside the RoIAlign kernels, one dispatch per level into one
 * output, so no readback is needed.
 *
 * @module
 */
import { roiAlignLevels } from "../../../autograd/roi_align.ts";
import type { Tensor } from "../../../autograd/tensor.ts";
import { Module } from "../../../nn/module.ts";
import { HEADS } from "../../registry.ts";

/** `roi_layer` of the extractor: mmcv's `RoIAlign` settings. */
export interface RoiLayerCfg {
  /** `"RoIAlign"` (the only supported layer). */
  type: string;
  /** Output bins, one number or `[h, w]`. */
  output_size: number | [number, number];
  /** Default 0 (adaptive). */
  sampling_ratio?: number;
  /** Only `"avg"` is supported (default). */
  pool_mode?: string;
  /** Default true. */
  aligned?: boolean;
  /** mmcv's legacy flag; refused when true. */
  use_torchvision?: boolean;
}

/** Config of `SingleRoIExtractor` (mmdetection keys). */
export interface SingleRoIExtractorCfg {
  /** RoIAlign settings. */
  roi_layer: RoiLayerCfg;
  /** Channels of the pooled features (the neck's). */
  out_channels: number;
  /** Stride of each level used (e.g. `[4, 8, 16, 32]`). */
  featmap_strides: number[];
  /** Default 56. */
  finest_scale?: number;
  /** Not supported (refused unless null). */
  init_cfg?: unknown;
  /** Registry name. */
  type?: string;
}

/**
 * Pools `[K, C, out, out]` RoI features from the first `featmap_strides.length` levels.
 *
 * @example
 * ```ts ignore
 * const ext = HEADS.build({ type: "SingleRoIExtractor", roi_layer: { type: "RoIAlign",
 *   output_size: 7, sampling_ratio: 0 }, out_channels: 256, featmap_strides: [4, 8, 16, 32] });
 * const feats = ext.forward(x, rois); // rois [K, 5]
 * ```
 */
export class SingleRoIExtractor extends Module {
  /** `[h, w]` of the pooled features. */
  readonly outputSize: [number, number];
  /** Pooled channels. */
  readonly outChannels: number;
  /** Level strides. */
  readonly featmapStrides: number[];
  /** `finest_scale`. */
  readonly finestScale: number;
  /** RoIAlign `sampling_ratio`. */
  readonly samplingRatio: number;
  /** RoIAlign `aligned`. */
  readonly aligned: boolean;

  /** Reads and validates the config. */
  constructor(cfg: SingleRoIExtractorCfg) {
    super();
    const l = cfg.roi_layer;
    if (l?.type !== "RoIAlign") {
      throw new RangeError(
        `Cannot build SingleRoIExtractor: roi_layer type "${l?.type}" is not supported: use "RoIAlign"`,
      );
    }
    if ((l.pool_mode ?? "avg") !== "avg" || l.use_torchvision) {
      throw new RangeError(
        `Cannot build SingleRoIExtractor: roi_layer pool_mode "${l.pool_mode}" / use_torchvision is not supported: use pool_mode "avg"`,
      );
    }
    const os = l.output_size;
    this.outputSize = typeof os === "number" ? [os, os] : [os[0], os[1]];
    this.samplingRatio = l.sampling_ratio ?? 0;
    this.aligned = l.aligned ?? true;
    if (!Array.isArray(cfg.featmap_strides) || cfg.featmap_strides.length === 0) {
      throw new TypeError(
        `Cannot build SingleRoIExtractor: featmap_strides must be a non-empty list, got ${
          JSON.stringify(cfg.featmap_strides)
        }`,
      );
    }
    this.featmapStrides = [...cfg.featmap_strides];
    this.outChannels = cfg.out_channels;
    this.finestScale = cfg.finest_scale ?? 56;
  }

  /** Number of levels pooled from. */
  get numInputs(): number {
    return this.featmapStrides.length;
  }

  /**
   * `feats` (at least `numInputs` levels `[N, C, H_l, W_l]`) and `rois` `[K, 5]` → `[K, C, h, w]`
   * (rows with batch index −1 give zeros).
   */
  forward(feats: readonly Tensor[], rois: Tensor): Tensor {
    const L = this.numInputs;
    if (feats.length < L) {
      throw new RangeError(
        `Cannot extract RoI features: ${feats.length} feature levels for ${L} featmap_strides`,
      );
    }
    if (feats[0].shape[1] !== this.outChannels) {
      throw new TypeError(
        `Cannot extract RoI features: features have ${
          feats[0].shape[1]
        } channels, out_channels is ${this.outChannels}`,
      );
    }
    return roiAlignLevels(feats.slice(0, L), rois, {
      outputSize: this.outputSize,
      spatialScales: this.featmapStrides.map((s) => 1 / s),
      samplingRatio: this.samplingRatio,
      aligned: this.aligned,
      finestScale: this.finestScale,
    });
  }
}

HEADS.register("SingleRoIExtractor", SingleRoIExtractor);
