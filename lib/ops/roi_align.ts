/**
 * RoIAlign (mmcv's `RoIAlign` with `pool_mode="avg"`, torchvision's `roi_align`) over NCHW
 * features, forward and an atomic-free backward (`kernels/roi_align*.wgsl`), batched over every
 * RoI of every image. With `level` set, only the RoIs that mmdetection's `map_roi_levels` sends to
 * that pyramid level are written / contribute, so `SingleRoIExtractor` runs one dispatch per level
 * into one output without reading the levels back.
 *
 * @module
 */
import fwdSrc from "../../kernels/roi_align.wgsl" with { type: "text" };
import bwdSrc from "../../kernels/roi_align_backward.wgsl" with { type: "text" };
import segSrc from "../../kernels/roi_align_segments.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";
import { checkBindingSize } from "./conv2d.ts";

const PARAMS = "uuuuuuuiufiufuuu";
/** `kernels/roi_align.wgsl`. */
export const ROI_ALIGN: KernelSpec = { name: "roi_align", source: fwdSrc, params: PARAMS };
/** `kernels/roi_align_backward.wgsl`. */
export const ROI_ALIGN_BACKWARD: KernelSpec = {
  name: "roi_align_backward",
  source: bwdSrc,
  params: PARAMS,
};

/** `kernels/roi_align_segments.wgsl`: the RoIs of each image (and level), for the backward. */
export const ROI_ALIGN_SEGMENTS: KernelSpec = {
  name: "roi_align_segments",
  source: segSrc,
  params: PARAMS,
};

/** Channels one backward thread handles (`CG` in `kernels/roi_align_backward.wgsl`). */
export const ROI_ALIGN_BACKWARD_CHANNELS = 8;

/** Channels one forward thread pools (`CG` of `kernels/roi_align.wgsl`). */
export const ROI_ALIGN_CHANNELS = 8;

/** Options of {@linkcode roiAlignForward} (mmcv's `RoIAlign` arguments, camelCase). */
export interface RoiAlignOptions {
  /** `[outH, outW]` (at most 32 each). */
  outputSize: [number, number];
  /** Multiplier from RoI coordinates to feature-map pixels (`1 / stride`). */
  spatialScale: number;
  /** Samples per bin along each axis; 0: adaptive `ceil(roi_size / bins)` (default 0). */
  samplingRatio?: number;
  /** Half-pixel offset (mmcv/torchvision `aligned`, default true). */
  aligned?: boolean;
  /**
   * Only the RoIs mapped to this pyramid level (`map_roi_levels`) are written; others keep what
   * the output holds. Needs `numLevels` and `finestScale`.
   */
  level?: number;
  /** Number of pyramid levels (with `level`). */
  numLevels?: number;
  /** `finest_scale` of `map_roi_levels` (with `level`, default 56). */
  finestScale?: number;
}

function params(x: readonly number[], k: number, o: RoiAlignOptions): number[] {
  const [oh, ow] = o.outputSize;
  const sr = o.samplingRatio ?? 0;
  if (![oh, ow].every((v) => Number.isInteger(v) && v >= 1 && v <= 32)) {
    throw new RangeError(
      `Cannot run roiAlign with output_size [${oh}, ${ow}]: each side must be an integer in [1, 32]`,
    );
  }
  if (!Number.isInteger(sr) || sr < 0) {
    throw new RangeError(
      `Cannot run roiAlign with sampling_ratio ${sr}: use 0 (adaptive) or a positive integer`,
    );
  }
  if (!(o.spatialScale > 0)) {
    throw new RangeError(
      `Cannot run roiAlign with spatial_scale ${o.spatialScale}: it must be positive`,
    );
  }
  const level = o.level ?? -1;
  const numLevels = o.numLevels ?? 1;
  if (level >= 0 && !(Number.isInteger(level) && level < numLevels)) {
    throw new RangeError(
      `Cannot run roiAlign for level ${level}: it must be an integer in [0, numLevels ${numLevels})`,
    );
  }
  return [
    k,
    x[1],
    x[2],
    x[3],
    oh,
    ow,
    x[0],
    sr,
    o.aligned === false ? 0 : 1,
    o.spatialScale,
    level,
    numLevels,
    o.finestScale ?? 56,
    0,
    0,
    0,
  ];
}

function checkInputs(what: string, x: readonly number[], rois: RawTensor): void {
  if (x.length !== 4) {
    throw new TypeError(`Cannot run ${what}: features ${fmtShape(x)} must be [N, C, H, W]`);
  }
  if (rois.shape.length !== 2 || rois.shape[1] !== 5 || rois.dtype !== "f32") {
    throw new TypeError(
      `Cannot run ${what}: rois ${
        fmtShape(rois.shape)
      } ${rois.dtype} must be [K, 5] f32 (batch index, x1, y1, x2, y2)`,
    );
  }
}

/**
 * `out [K, C, outH, outW]` of features `x [N, C, H, W]` and `rois [K, 5]`; rows with a batch
 * index outside `[0, N)` (e.g. −1 padding) give 0. With `into`, writes into that tensor instead
 * (the per-level dispatches of `SingleRoIExtractor`).
 */
export function roiAlignForward(
  x: RawTensor,
  rois: RawTensor,
  opts: RoiAlignOptions,
  into?: RawTensor,
): RawTensor {
  checkInputs("roiAlign", x.shape, rois);
  checkBindingSize("roiAlign", "input", x.shape);
  const K = rois.shape[0];
  const shape = [K, x.shape[1], opts.outputSize[0], opts.outputSize[1]];
  checkBindingSize("roiAlign", "output", shape);
  const gpu = getGpu();
  if (into && into.shape.some((d, i) => d !== shape[i])) {
    throw new TypeError(
      `Cannot run roiAlign into ${fmtShape(into.shape)}: expected ${fmtShape(shape)}`,
    );
  }
  const y = into ?? gpu.empty(shape, "f32", "roi_align");
  // one thread per RoI, bin and group of ROI_ALIGN_CHANNELS channels
  const groups = K * Math.ceil(x.shape[1] / ROI_ALIGN_CHANNELS) * shape[2] * shape[3];
  gpu.dispatch(ROI_ALIGN, {
    bindings: [x, rois, y],
    params: params(x.shape, K, opts),
    workgroups: Math.ceil(groups / 256),
  });
  return y;
}

/**
 * The feature gradient `dx [N, C, H, W]` of {@linkcode roiAlignForward} from `dy [K, C, outH,
 * outW]` (deterministic: each input element gathers from the RoIs whose samples touch it).
 */
export function roiAlignBackward(
  dy: RawTensor,
  rois: RawTensor,
  xShape: readonly number[],
  opts: RoiAlignOptions,
): RawTensor {
  checkInputs("the roiAlign backward pass", xShape, rois);
  const K = rois.shape[0];
  const shape = [K, xShape[1], opts.outputSize[0], opts.outputSize[1]];
  if (dy.shape.length !== 4 || dy.shape.some((d, i) => d !== shape[i])) {
    throw new TypeError(
      `Cannot run the roiAlign backward pass: the gradient has shape ${
        fmtShape(dy.shape)
      }, expected ${fmtShape(shape)}`,
    );
  }
  const gpu = getGpu();
  const dx = gpu.empty(xShape, "f32", "roi_align_dx");
  const prm = params(xShape, K, opts);
  const N = xShape[0];
  const list = gpu.empty([Math.max(1, N * K)], "u32", "roi_align_list");
  const counts = gpu.empty([Math.max(1, N)], "u32", "roi_align_counts");
  gpu.dispatch(ROI_ALIGN_SEGMENTS, {
    bindings: [rois, list, counts],
    params: prm,
    workgroups: Math.ceil(N / 64),
  });
  gpu.dispatch(ROI_ALIGN_BACKWARD, {
    bindings: [dy, rois, list, counts, dx],
    params: prm,
    // one thread per position and group of ROI_ALIGN_BACKWARD_CHANNELS channels
    workgroups: Math.ceil(
      (xShape[0] * Math.ceil(xShape[1] / ROI_ALIGN_BACKWARD_CHANNELS) * xShape[2] * xShape[3]) /
        256,
    ),
  });
  list.release();
  counts.release();
  return dx;
}
