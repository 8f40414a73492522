/**
 * Small kernels of the RoI box head's loss (`kernels/roi_reg_expand.wgsl`,
 * `kernels/roi_cls_acc.wgsl`): class-specific regression targets spread to their label's slots,
 * and the per-row top-1 hits of mmdetection's `accuracy`. No readback.
 *
 * @module
 */
import expandSrc from "../../kernels/roi_reg_expand.wgsl" with { type: "text" };
import accSrc from "../../kernels/roi_cls_acc.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";

/** `kernels/roi_reg_expand.wgsl`. */
export const ROI_REG_EXPAND: KernelSpec = {
  name: "roi_reg_expand",
  source: expandSrc,
  params: "uuuu",
};
/** `kernels/roi_cls_acc.wgsl`. */
export const ROI_CLS_ACC: KernelSpec = { name: "roi_cls_acc", source: accSrc, params: "uuuu" };

/**
 * `[R, 4C]` targets and weights: row r's `[4]` target and weight in the slots of class
 * `labels[r]` (nothing for background labels `≥ C`).
 */
export function expandRegTargets(
  labels: RawTensor,
  targets: RawTensor,
  weights: RawTensor,
  numClasses: number,
): { targets: RawTensor; weights: RawTensor } {
  const R = labels.shape[0];
  if (
    labels.dtype !== "i32" || labels.shape.length !== 1 || targets.size !== R * 4 ||
    weights.size !== R * 4
  ) {
    throw new TypeError(
      `Cannot expand RoI regression targets: labels ${
        fmtShape(labels.shape)
      } ${labels.dtype}, targets ${fmtShape(targets.shape)}, weights ${
        fmtShape(weights.shape)
      }: expected [R] i32 and [R, 4]`,
    );
  }
  const gpu = getGpu();
  const t = gpu.empty([R, 4 * numClasses], "f32", "roi_reg_targets");
  const w = gpu.empty([R, 4 * numClasses], "f32", "roi_reg_weights");
  gpu.dispatch(ROI_REG_EXPAND, {
    bindings: [labels, targets, weights, t, w],
    params: [R, numClasses, 0, 0],
    workgroups: Math.ceil(t.size / 256),
  });
  return { targets: t, weights: w };
}

/** `[R]` f32: 1 where row r's first maximum is `labels[r]` and `weights[r] > 0`. */
export function clsHits(score: RawTensor, labels: RawTensor, weights: RawTensor): RawTensor {
  const [R, C] = score.shape;
  const gpu = getGpu();
  const hit = gpu.empty([R], "f32", "roi_cls_hits");
  gpu.dispatch(ROI_CLS_ACC, {
    bindings: [score, labels, weights, hit],
    params: [R, C, 0, 0],
    workgroups: Math.ceil(R / 256),
  });
  return hit;
}
