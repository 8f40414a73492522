/**
 * Gradient entries of the fused losses of `losses.ts`: each forward kernel already wrote
 * d(loss)/d(pred) for a unit upstream gradient into `ctx.grad`, so backward is one multiplication
 * by the upstream gradient (a scalar `[]` for reduced losses, elementwise for `reduction: "none"`).
 *
 * @module
 */
import { binary } from "../ops/elementwise.ts";
import { getGpu } from "../gpu/runtime.ts";
import { isOnes, registerGradient } from "./tape.ts";
import { Tensor } from "./tensor.ts";
import type { GradNode } from "./tensor.ts";

function scaled(g: Tensor, node: GradNode): (Tensor | null)[] {
  const grad = node.ctx.grad;
  if (!grad) {
    throw new ReferenceError(
      `Cannot apply gradient for ${node.op}: the forward pass did not compute one (it ran without gradients)`,
    );
  }
  const out: (Tensor | null)[] = node.inputs.map(() => null);
  // a unit upstream gradient (a loss summed straight into the root): the stored gradient as is
  if (isOnes(g) && g.size === 1) {
    out[0] = new Tensor(getGpu().view(grad, grad.shape));
    return out;
  }
  // The stored gradient has pred's shape. The upstream gradient is a scalar (reduced losses), has
  // pred's size (elementwise 'none'), or one value per row ('none' of per-row losses: CE, GIoU).
  let gv = g.raw;
  if (g.size === grad.size) gv = g.raw.shareWith(grad.shape);
  else if (g.size !== 1) gv = g.raw.shareWith([g.size, ...grad.shape.slice(1).map(() => 1)]);
  out[0] = new Tensor(binary(grad, gv, "mul"));
  if (gv !== g.raw) gv.release();
  return out;
}

for (
  const op of [
    "sigmoid_focal_loss",
    "sigmoid_bce_loss",
    "l1_loss",
    "smooth_l1_loss",
    "softmax_ce_loss",
    "giou_loss",
  ]
) {
  registerGradient(op, scaled);
}
