/**
 * A frozen (evaluation-mode) BatchNorm folded into the epilogue of the conv before it
 * (`kernels/bn_fold*.wgsl`): the per-channel scale and shift from γ, β and the running
 * statistics in one small dispatch, and the gradients of w and γ from the unscaled filter
 * gradient in one more. `lib/autograd/conv_bn.ts` builds the differentiable op on these.
 *
 * @module
 */
import foldSrc from "../../kernels/bn_fold.wgsl" with { type: "text" };
import foldBackwardSrc from "../../kernels/bn_fold_backward.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu, inPlaceWindowBytes } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";

/** `kernels/bn_fold.wgsl`. */
export const BN_FOLD: KernelSpec = { name: "bn_fold", source: foldSrc, params: "uufu" };
/** `kernels/bn_fold_backward.wgsl`. */
export const BN_FOLD_BACKWARD: KernelSpec = {
  name: "bn_fold_backward",
  source: foldBackwardSrc,
  params: "uufu",
};

function checkVec(t: RawTensor | null, c: number, what: string): void {
  if (t && (t.size !== c || t.dtype !== "f32")) {
    throw new TypeError(
      `Cannot fold a frozen BatchNorm(${c}) into a conv: ${what} has shape ${
        fmtShape(t.shape)
      } ${t.dtype}, expected [${c}] f32`,
    );
  }
}

/** The result of {@linkcode bnFold}. */
export interface BnFold {
  /** `[C]` γ/√(running_var + eps). */
  scale: RawTensor;
  /** `[C]` β − running_mean·scale. */
  shift: RawTensor;
  /** The conv weights scaled per output channel (when asked for), for the input gradient. */
  ws: RawTensor | null;
}

/**
 * Folds BatchNorm statistics and affine parameters (`gamma`/`beta` null: 1 and 0) into a
 * per-channel scale and shift; with `w` (`[C, …]` conv weights) also returns `w·scale[c]`.
 */
export function bnFold(
  gamma: RawTensor | null,
  beta: RawTensor | null,
  runningMean: RawTensor,
  runningVar: RawTensor,
  eps: number,
  w: RawTensor | null = null,
): BnFold {
  const c = runningMean.size;
  checkVec(gamma, c, "weight");
  checkVec(beta, c, "bias");
  checkVec(runningVar, c, "running_var");
  if (w && w.shape[0] !== c) {
    throw new TypeError(
      `Cannot fold a frozen BatchNorm(${c}) into a conv with weights ${
        fmtShape(w.shape)
      }: the conv must have ${c} output channels`,
    );
  }
  const gpu = getGpu();
  const scale = gpu.empty([c], "f32", "bn_fold_scale");
  const shift = gpu.empty([c], "f32", "bn_fold_shift");
  // room for the direct kernels' uniform windows over the folded weight (no staging copy)
  const ws = w ? gpu.empty(w.shape, "f32", "bn_fold_ws", inPlaceWindowBytes(w.size)) : null;
  const spare = ws ? null : gpu.empty([1], "f32", "bn_fold_unused");
  gpu.dispatch(BN_FOLD, {
    bindings: [
      gamma ?? runningMean,
      beta ?? runningMean,
      runningMean,
      runningVar,
      w ?? runningMean,
      scale,
      shift,
      ws ?? spare!, // not written without NEED_WS
    ],
    params: [c, w ? w.size / c : 0, eps, 0],
    overrides: { HAS_W: gamma ? 1 : 0, HAS_B: beta ? 1 : 0, NEED_WS: ws ? 1 : 0 },
    workgroups: Math.ceil(c / 64),
  });
  spare?.release();
  return { scale, shift, ws };
}

/**
 * From `gw` (the filter gradient of the unscaled conv, `[C, …]`), the conv weights `w`, `gt`
 * (`[C]` Σ of the masked output gradient: the shift's gradient) and the fold's `scale`: the
 * weight gradient `scale[c]·gw` (when `needDw`) and γ's gradient (when `needDgamma`).
 */
export function bnFoldBackward(
  gw: RawTensor,
  w: RawTensor,
  gt: RawTensor | null,
  scale: RawTensor,
  runningMean: RawTensor,
  runningVar: RawTensor,
  eps: number,
  opts: { needDw: boolean; needDgamma: boolean },
): { dw: RawTensor | null; dgamma: RawTensor | null } {
  const c = scale.size;
  if (gw.size !== w.size || w.shape[0] !== c) {
    throw new TypeError(
      `Cannot run the folded BatchNorm backward pass: filter gradient ${
        fmtShape(gw.shape)
      }, weights ${fmtShape(w.shape)}, ${c} channels`,
    );
  }
  if (opts.needDgamma && !gt) {
    throw new TypeError("Cannot compute the folded BatchNorm's weight gradient without Σ gy");
  }
  if (!opts.needDw && !opts.needDgamma) return { dw: null, dgamma: null };
  const gpu = getGpu();
  const dw = opts.needDw ? gpu.empty(w.shape, "f32", "bn_fold_dw") : null;
  const dgamma = opts.needDgamma ? gpu.empty([c], "f32", "bn_fold_dgamma") : null;
  const spare = dw && dgamma ? null : gpu.empty([1], "f32", "bn_fold_unused");
  gpu.dispatch(BN_FOLD_BACKWARD, {
    bindings: [gw, w, gt ?? scale, scale, runningMean, runningVar, dw ?? spare!, dgamma ?? spare!],
    params: [c, w.size / c, eps, 0],
    overrides: {
      WG: gpu.info.isFallbackAdapter ? 8 : 64,
      NEED_DW: dw ? 1 : 0,
      NEED_DG: dgamma ? 1 : 0,
    },
    workgroups: c,
  });
  spare?.release();
  return { dw, dgamma };
}
