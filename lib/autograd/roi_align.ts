/**
 * Differentiable RoIAlign on {@linkcode Tensor}: one level (`roiAlign`, mmcv `RoIAlign`) or every
 * pyramid level into one output (`roiAlignLevels`, what `SingleRoIExtractor` runs). Gradients go
 * to the features only (RoIs are constants, as mmdetection detaches proposals).
 *
 * @module
 */
import * as ra from "../ops/roi_align.ts";
import { getGpu } from "../gpu/runtime.ts";
import { record, registerGradient } from "./tape.ts";
import { Tensor } from "./tensor.ts";

export type { RoiAlignOptions } from "../ops/roi_align.ts";

/**
 * `[K, C, outH, outW]` RoI features of `x [N, C, H, W]` at `rois [K, 5]` (batch index, x1, y1,
 * x2, y2 in input pixels; rows with batch index −1 give 0).
 */
export function roiAlign(x: Tensor, rois: Tensor, opts: ra.RoiAlignOptions): Tensor {
  const o = { ...opts, level: undefined };
  return record("roiAlign", [x, rois], new Tensor(ra.roiAlignForward(x.raw, rois.raw, o)), {
    opts: o,
  });
}

/** Options of {@linkcode roiAlignLevels}. */
export interface RoiAlignLevelsOptions {
  /** `[outH, outW]`. */
  outputSize: [number, number];
  /** One per level: `1 / featmap_stride`. */
  spatialScales: number[];
  /** Default 0 (adaptive). */
  samplingRatio?: number;
  /** Default true. */
  aligned?: boolean;
  /** `finest_scale` of `map_roi_levels` (default 56). */
  finestScale?: number;
}

/**
 * mmdetection's `SingleRoIExtractor` pooling: every RoI is pooled from the level
 * `clamp(floor(log2(sqrt(w·h) / finest_scale + 1e-6)), 0, L − 1)`, computed in the kernels (no
 * readback); one dispatch per level into one `[K, C, outH, outW]` output.
 */
export function roiAlignLevels(
  feats: readonly Tensor[],
  rois: Tensor,
  opts: RoiAlignLevelsOptions,
): Tensor {
  const L = feats.length;
  if (L === 0 || opts.spatialScales.length !== L) {
    throw new RangeError(
      `Cannot pool RoIs from ${L} feature levels with ${opts.spatialScales.length} featmap_strides: give one stride per level`,
    );
  }
  const K = rois.shape[0], C = feats[0].shape[1];
  for (const f of feats) {
    if (f.shape[1] !== C || f.shape[0] !== feats[0].shape[0]) {
      throw new TypeError(
        `Cannot pool RoIs: feature levels [${
          feats.map((t) => `[${t.shape.join(", ")}]`).join(", ")
        }] differ in batch size or channels`,
      );
    }
  }
  const out = getGpu().zeros([K, C, ...opts.outputSize], "f32", "roi_feats");
  const per = feats.map((_, l) => levelOpts(opts, l, L));
  feats.forEach((f, l) => ra.roiAlignForward(f.raw, rois.raw, per[l], out));
  return record("roiAlignLevels", [...feats, rois], new Tensor(out), { per });
}

function levelOpts(o: RoiAlignLevelsOptions, l: number, L: number): ra.RoiAlignOptions {
  return {
    outputSize: o.outputSize,
    spatialScale: o.spatialScales[l],
    samplingRatio: o.samplingRatio ?? 0,
    aligned: o.aligned ?? true,
    level: L > 1 ? l : undefined,
    numLevels: L,
    finestScale: o.finestScale ?? 56,
  };
}

registerGradient("roiAlign", (g, n) => {
  const [x, rois] = n.inputs;
  return [
    x.requiresGrad ? new Tensor(ra.roiAlignBackward(g.raw, rois.raw, x.shape, n.ctx.opts)) : null,
    null,
  ];
});

registerGradient("roiAlignLevels", (g, n) => {
  const feats = n.inputs.slice(0, -1);
  const rois = n.inputs[n.inputs.length - 1];
  const per: ra.RoiAlignOptions[] = n.ctx.per;
  return [
    ...feats.map((f, l) =>
      f.requiresGrad ? new Tensor(ra.roiAlignBackward(g.raw, rois.raw, f.shape, per[l])) : null
    ),
    null,
  ];
});
