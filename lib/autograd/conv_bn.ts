/**
 * A convolution followed by a frozen (evaluation-mode) BatchNorm and an optional ReLU as one
 * differentiable op: the BatchNorm's running statistics and γ, β are folded into the conv
 * epilogue's per-channel scale and shift (`lib/ops/conv_bn_fold.ts`), so the forward pass is one
 * small fold dispatch plus the conv itself. Gradients reach x, the conv weights, γ and β (each
 * when it requires them); the running statistics never change.
 *
 * With `y = act(conv(x, w)·s + t)`, `s = γ/√(var + eps)`, `t = β − mean·s` and `gy` the output
 * gradient masked by `y > 0`:
 * `grad x = conv_backward_data(gy, w·s)`, `grad w = s·G` with `G = conv_backward_filter(gy, x)`,
 * `grad β = Σ gy`, `grad γ = (Σ_k w·G − mean·Σ gy)/√(var + eps)` per channel.
 *
 * @module
 */
import * as cv from "../ops/conv2d.ts";
import * as bn from "../ops/batch_norm.ts";
import * as ew from "../ops/elementwise.ts";
import { bnFold, bnFoldBackward } from "../ops/conv_bn_fold.ts";
import { isGradEnabled, record, registerGradient } from "./tape.ts";
import { Tensor } from "./tensor.ts";

/** Options of {@linkcode convFrozenBn}. */
export interface ConvFrozenBnOptions {
  /** Stride, one value or [h, w] (default 1). */
  stride?: number | [number, number];
  /** Zero padding on each side (default 0). */
  padding?: number | [number, number];
  /** Spacing of the kernel taps (default 1). */
  dilation?: number | [number, number];
  /** Channel groups (default 1). */
  groups?: number;
  /** The BatchNorm's eps (default 1e-5). */
  eps?: number;
  /** Fused activation (default "none"). */
  act?: "none" | "relu";
}

/**
 * `act(bn_eval(conv(x, w)))`: x [N, Cin, H, W], w [Cout, Cin/groups, KH, KW] (a conv without
 * bias), `gamma`/`beta` [Cout] or null (1 and 0), the running statistics [Cout].
 */
export function convFrozenBn(
  x: Tensor,
  w: Tensor,
  gamma: Tensor | null,
  beta: Tensor | null,
  runningMean: Tensor,
  runningVar: Tensor,
  opts: ConvFrozenBnOptions = {},
): Tensor {
  const geo: cv.Conv2dGeometry = {
    stride: opts.stride,
    padding: opts.padding,
    dilation: opts.dilation,
    groups: opts.groups,
  };
  const eps = opts.eps ?? 1e-5;
  const inputs = [x, w, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])];
  const grad = isGradEnabled() && inputs.some((t) => t.requiresGrad);
  const fold = bnFold(
    gamma?.raw ?? null,
    beta?.raw ?? null,
    runningMean.raw,
    runningVar.raw,
    eps,
    grad && x.requiresGrad ? w.raw : null,
  );
  const y = cv.conv2dForward(x.raw, w.raw, null, {
    ...geo,
    act: opts.act,
    scale: fold.scale,
    shift: fold.shift,
  });
  fold.shift.release();
  const scale = new Tensor(fold.scale);
  const ws = fold.ws ? new Tensor(fold.ws) : null;
  const r = record("convFrozenBn", inputs, new Tensor(y), {
    geo,
    eps,
    relu: opts.act === "relu",
    scale,
    ws,
    runningMean,
    runningVar,
    hasGamma: !!gamma,
    hasBeta: !!beta,
  });
  if (!r.node) {
    scale.dispose();
    ws?.dispose();
  }
  return r;
}

registerGradient("convFrozenBn", (g, n, out) => {
  const [x, w] = n.inputs;
  const gamma = n.ctx.hasGamma ? n.inputs[2] : null;
  const beta = n.ctx.hasBeta ? n.inputs[n.inputs.length - 1] : null;
  const geo: cv.Conv2dGeometry = n.ctx.geo;
  const scale = (n.ctx.scale as Tensor).raw;
  const rm = (n.ctx.runningMean as Tensor).raw, rv = (n.ctx.runningVar as Tensor).raw;
  const needG = !!gamma?.requiresGrad, needB = !!beta?.requiresGrad;
  const gy = n.ctx.relu ? ew.reluGrad(g.raw, out.raw) : g.raw;
  const gt = needG || needB ? bn.channelSums(gy, "sum") : null;
  const gw = w.requiresGrad || needG ? cv.conv2dBackwardFilter(gy, x.raw, w.shape, geo) : null;
  let gx = null;
  if (x.requiresGrad) {
    const ws = n.ctx.ws as Tensor | null;
    if (!ws) {
      throw new ReferenceError(
        "Cannot apply gradient for convFrozenBn: the forward pass ran without the input gradient",
      );
    }
    gx = cv.conv2dBackwardData(gy, ws.raw, x.shape, geo);
  }
  const { dw, dgamma } = gw
    ? bnFoldBackward(gw, w.raw, gt, scale, rm, rv, n.ctx.eps, {
      needDw: w.requiresGrad,
      needDgamma: needG,
    })
    : { dw: null, dgamma: null };
  gw?.release();
  if (gy !== g.raw) gy.release();
  if (gt && !needB) gt.release();
  const wrap = (t: typeof gx) => t ? new Tensor(t) : null;
  const res = [wrap(gx), wrap(dw)];
  if (gamma) res.push(wrap(dgamma));
  if (beta) res.push(needB ? wrap(gt) : null);
  return res;
});
