/**
 * Gradient entries of the CNN primitives of `cnn.ts`, computed with the raw ops of `lib/ops`
 * (recording is off during `backward`). A fused ReLU masks the output gradient with `y > 0` first
 * (the gradient at exactly 0 is 0, as PyTorch's threshold_backward).
 *
 * @module
 */
import type { RawTensor } from "../gpu/raw_tensor.ts";
import * as ew from "../ops/elementwise.ts";
import * as cv from "../ops/conv2d.ts";
import * as bn from "../ops/batch_norm.ts";
import * as gn from "../ops/group_norm.ts";
import * as pl from "../ops/pool.ts";
import * as ip from "../ops/interpolate.ts";
import { sumMulti } from "../ops/sum_multi.ts";
import { registerGradient, registerGradientParts } from "./tape.ts";
import { type GradNode, Tensor } from "./tensor.ts";

/** `g · (y > 0)`, or `g` itself (a new view) when `relu` is false. */
function reluMask(g: RawTensor, y: RawTensor, relu: boolean): RawTensor {
  if (!relu) return g;
  return ew.reluGrad(g, y);
}

function wrap(t: RawTensor | null): Tensor | null {
  return t ? new Tensor(t) : null;
}

registerGradient("conv2d", (g, n, out) => {
  const [x, w, b] = n.inputs;
  const geo: cv.Conv2dGeometry = n.ctx.geo;
  const gy = reluMask(g.raw, out.raw, n.ctx.relu);
  const gx = x.requiresGrad ? cv.conv2dBackwardData(gy, w.raw, x.shape, geo) : null;
  const gw = w.requiresGrad ? cv.conv2dBackwardFilter(gy, x.raw, w.shape, geo) : null;
  const gb = b?.requiresGrad ? bn.channelSums(gy, "sum") : null;
  if (gy !== g.raw) gy.release();
  const res = [wrap(gx), wrap(gw)];
  if (b) res.push(wrap(gb));
  return res;
});

function batchNormGrads(
  g: RawTensor,
  n: GradNode,
  out: Tensor,
  masked: boolean,
): (Tensor | null)[] {
  const [x] = n.inputs;
  const w = n.ctx.hasWeight ? n.inputs[1] : null;
  const b = n.ctx.hasBias ? n.inputs[1 + (w ? 1 : 0)] : null;
  // the fused ReLU's mask is applied inside the backward kernels (no separate pass) unless the
  // caller masked g already
  const r = bn.batchNormBackward(g, x.raw, (n.ctx.saved as Tensor).raw, {
    training: n.ctx.training,
    needDx: x.requiresGrad,
    needDw: !!w?.requiresGrad,
    needDb: !!b?.requiresGrad,
    reluOut: n.ctx.relu && !masked ? out.raw : null,
  });
  const res = [wrap(r.dx)];
  if (w) res.push(wrap(r.dw));
  if (b) res.push(wrap(r.db));
  return res;
}

// With a residual, the masked gradient is also the residual's: it is formed once (summed with
// the other parts and masked in one pass when the output fans out).
registerGradient("batchNorm2d", (g, n, out) => {
  if (!n.ctx.hasResidual) return batchNormGrads(g.raw, n, out, false);
  if (!n.ctx.relu) return [...batchNormGrads(g.raw, n, out, true), g];
  const gm = new Tensor(ew.reluGrad(g.raw, out.raw));
  return [...batchNormGrads(gm.raw, n, out, true), gm];
});
registerGradientParts("batchNorm2d", (parts, n, out) => {
  const raws = parts.map((p) => p.raw);
  if (!n.ctx.hasResidual) return batchNormGrads(sumMulti([raws])[0], n, out, false);
  const gm = new Tensor(sumMulti([raws], n.ctx.relu ? [out.raw] : undefined)[0]);
  return [...batchNormGrads(gm.raw, n, out, true), gm];
});

registerGradient("groupNorm", (g, n, out) => {
  const [x] = n.inputs;
  const w = n.ctx.hasWeight ? n.inputs[1] : null;
  const b = n.ctx.hasBias ? n.inputs[n.inputs.length - 1] : null;
  const r = gn.groupNormBackward(
    g.raw,
    x.raw,
    (n.ctx.stats as Tensor).raw,
    n.ctx.groups,
    w?.raw ?? null,
    {
      dx: x.requiresGrad,
      dw: !!w?.requiresGrad,
      db: !!b?.requiresGrad,
    },
    n.ctx.relu ? out.raw : null,
  );
  const res = [wrap(r.dx)];
  if (w) res.push(wrap(r.dw));
  if (b) res.push(wrap(r.db));
  return res;
});

registerGradient("maxPool2d", (g, n) => {
  const x = n.inputs[0];
  return [
    new Tensor(pl.maxPool2dBackward(g.raw, (n.ctx.argmax as Tensor).raw, x.shape, n.ctx.opts)),
  ];
});

registerGradient("interpolateNearest", (g, n) => {
  const x = n.inputs[0];
  return [new Tensor(ip.interpolateNearestBackward(g.raw, x.shape, n.ctx.opts))];
});

registerGradient("affineChannel", (g, n, out) => {
  const [x, scale, shift] = n.inputs;
  const gy = reluMask(g.raw, out.raw, n.ctx.relu);
  const gx = x.requiresGrad ? cv.channelAffine(gy, scale.raw, null) : null;
  const gs = scale.requiresGrad ? bn.channelSums(gy, "dot", { y: x.raw }) : null;
  const gt = shift.requiresGrad ? bn.channelSums(gy, "sum") : null;
  if (gy !== g.raw) gy.release();
  return [wrap(gx), wrap(gs), wrap(gt)];
});
