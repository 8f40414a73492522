/**
 * The float64 loss references of `tests/_reference/` (the definitions the GPU loss kernels are
 * checked against) checked against PyTorch / torchvision fixtures.
 */
import { assert, assertClose, type FixtureArray, loadFixture } from "../../_assert.ts";
import { focalLossRef, sigmoidFocalRef } from "../../_reference/focal_loss_ref.ts";
import { l1LossRef } from "../../_reference/l1_ref.ts";
import { smoothL1LossRef } from "../../_reference/smooth_l1_ref.ts";
import {
  expandOnehotRef,
  sigmoidBceRef,
  softmaxCrossEntropyRef,
} from "../../_reference/cross_entropy_ref.ts";
import { giouLossRef } from "../../_reference/giou_ref.ts";
import { FLOAT32_EPS, weightReduceRef } from "../../_reference/weight_reduce_ref.ts";

type LG = { loss: FixtureArray; grad: FixtureArray };
const TOL = { rtol: 2e-6, atol: 1e-6 };

Deno.test("sigmoidFocalRef() equals torchvision sigmoid_focal_loss values and autograd gradients, |x| up to 100", async () => {
  const fx = await loadFixture<
    {
      logits: FixtureArray;
      targets: FixtureArray;
      cases: (LG & { alpha: number; gamma: number })[];
    }
  >(
    "core/focal_loss.json",
  );
  assert.ok(
    fx.logits.data.includes(50) && fx.logits.data.includes(-50) && fx.logits.data.includes(30),
  );
  for (const c of fx.cases) {
    const r = sigmoidFocalRef(fx.logits.data, fx.targets.data, { alpha: c.alpha, gamma: c.gamma });
    assertClose(r.loss, c.loss.data, { ...TOL, msg: `loss α=${c.alpha} γ=${c.gamma}` });
    assertClose(r.grad, c.grad.data, { ...TOL, msg: `grad α=${c.alpha} γ=${c.gamma}` });
  }
});

Deno.test("sigmoidFocalRef() kernel form equals the stable form for moderate logits and saturates in float32", () => {
  const x = [-12, -3, -0.5, 0, 0.7, 4, 11], y0 = x.map(() => 0), y1 = x.map(() => 1);
  for (const y of [y0, y1]) {
    const s = sigmoidFocalRef(x, y), k = sigmoidFocalRef(x, y, { form: "kernel" });
    assertClose(k.loss, s.loss, { rtol: 1e-9, atol: 1e-12 });
    assertClose(k.grad, s.grad, { rtol: 1e-9, atol: 1e-12 });
    // float32 loses 1 − p to rounding as p → 1, so compare the float32 form only for |x| ≤ 4
    const mid = [1, 2, 3, 4, 5].map((i) => x[i]), yMid = mid.map(() => y[0]);
    assertClose(
      sigmoidFocalRef(mid, yMid, { form: "kernel", f32: true }).loss,
      sigmoidFocalRef(mid, yMid).loss,
      {
        rtol: 1e-5,
        atol: 1e-7,
      },
    );
  }
  // x = 50, y = 0: 1 − p rounds to 0 in float32, ln(max(0, FLT_MIN)) = −87.3 instead of −50
  const stable = sigmoidFocalRef([50], [0]).loss[0],
    kernel = sigmoidFocalRef([50], [0], { form: "kernel", f32: true }).loss[0];
  assertClose(stable, 0.75 * 50, { rtol: 1e-12 });
  assert.ok(kernel > 65, `the float32 kernel form saturates: ${kernel}`);
});

Deno.test("focalLossRef() applies anchor weights, background label and avg_factor like mmdetection", () => {
  // 2 anchors × 3 classes; anchor 1 is background (label 3) with weight 0.5
  const logits = [1, -2, 0.5, -1, 3, 0], labels = [2, 3], weights = [1, 0.5];
  const y = [0, 0, 1, 0, 0, 0];
  const elem = sigmoidFocalRef(logits, y);
  const expected = elem.loss.reduce((s, v, k) => s + v * weights[Math.floor(k / 3)], 0) / 4;
  const r = focalLossRef(logits, labels, { weights, avgFactor: 4 });
  assertClose(r.value as number, expected, { rtol: 1e-12 });
  assertClose(r.grad, elem.grad.map((g, k) => (g * weights[Math.floor(k / 3)]) / 4), {
    rtol: 1e-12,
  });
  const v22 = focalLossRef(logits, labels, {
    weights,
    avgFactor: 4,
    version: "v2.2x",
    lossWeight: 2,
  });
  assertClose(v22.value as number, (2 * expected * 4) / (4 + FLOAT32_EPS), { rtol: 1e-14 });
});

Deno.test("l1LossRef() and smoothL1LossRef() equal torch.nn.functional values and gradients", async () => {
  const fx = await loadFixture<
    Record<string, FixtureArray> & Record<string, LG> & { smooth_l1: Record<string, LG> }
  >(
    "core/losses.json",
  );
  const pred = fx.pred.data, target = fx.target.data, weights = fx.weight.data;
  const l1 = l1LossRef(pred, target, { reduction: "none" });
  assertClose(l1.value as Float64Array, fx.l1_none.loss.data, TOL);
  assertClose(l1.grad, fx.l1_none.grad.data, TOL);
  assert.deepEqual(Array.from(l1.grad.subarray(0, 4)), [0, 0, 0, 0], "abs has gradient 0 at 0");
  const avg = l1LossRef(pred, target, { weights, avgFactor: 7 });
  assertClose(avg.value as number, fx.l1_weighted_avg.loss.data[0], TOL);
  assertClose(avg.grad, fx.l1_weighted_avg.grad.data, TOL);
  for (const key of ["0.11", "1.0"]) {
    const s = smoothL1LossRef(pred, target, { beta: Number(key), reduction: "none" });
    assertClose(s.value as Float64Array, fx.smooth_l1[key].loss.data, {
      ...TOL,
      msg: `beta ${key}`,
    });
    assertClose(s.grad, fx.smooth_l1[key].grad.data, { ...TOL, msg: `beta ${key}` });
  }
  assert.throws(
    () => weightReduceRef([1], null, { reduction: "sum", avgFactor: 2 }),
    /avg_factor can not be used/,
  );
});

Deno.test("sigmoidBceRef() and softmaxCrossEntropyRef() equal PyTorch with weights, pos_weight and ignore_index", async () => {
  // deno-lint-ignore no-explicit-any
  const fx = await loadFixture<any>("core/losses.json");
  const { bce, ce } = fx;
  const x = bce.logits.data;
  const none = sigmoidBceRef(x, bce.targets.data, { reduction: "none" });
  assertClose(none.value as Float64Array, bce.none.loss.data, TOL);
  assertClose(none.grad, bce.none.grad.data, TOL);
  const opts = { weights: bce.weight.data, classWeight: bce.pos_weight.data };
  const mean = sigmoidBceRef(x, bce.targets.data, opts);
  assertClose(mean.value as number, bce.weighted_mean.loss.data[0], TOL);
  assertClose(mean.grad, bce.weighted_mean.grad.data, TOL);
  const avg = sigmoidBceRef(x, bce.targets.data, { ...opts, avgFactor: 4 });
  assertClose(avg.value as number, bce.weighted_avg.loss.data[0], TOL);
  assertClose(avg.grad, bce.weighted_avg.grad.data, TOL);
  const labels = ce.labels.data;
  const ceNone = softmaxCrossEntropyRef(x, labels, { reduction: "none" });
  assertClose(ceNone.value as Float64Array, ce.none.loss.data, TOL);
  assertClose(ceNone.grad, ce.none.grad.data, TOL);
  const w = { weights: ce.weight.data, classWeight: ce.class_weight.data };
  for (
    const [key, o] of [["weighted_mean", {}], ["weighted_sum", { reduction: "sum" }], [
      "weighted_avg",
      { avgFactor: 3 },
    ]] as const
  ) {
    const r = softmaxCrossEntropyRef(x, labels, { ...w, ...o });
    assertClose(r.value as number, ce[key].loss.data[0], { ...TOL, msg: key });
    assertClose(r.grad, ce[key].grad.data, { ...TOL, msg: key });
  }
  const oh = expandOnehotRef([2, 3, 0], 3, [1, 0.5, 2]);
  assert.deepEqual([Array.from(oh.targets), Array.from(oh.weights!)], [
    [0, 0, 1, 0, 0, 0, 1, 0, 0],
    [1, 1, 1, 0.5, 0.5, 0.5, 2, 2, 2],
  ]);
});

Deno.test("giouLossRef() equals mmdetection's GIoU loss (1 − GIoU, eps 1e-7) and its autograd gradient", async () => {
  // deno-lint-ignore no-explicit-any
  const { giou_loss: g } = await loadFixture<any>("core/iou.json");
  const r = giouLossRef(g.pred.data, g.target.data, g.eps);
  assertClose(r.loss, g.loss.data, { rtol: 1e-6, atol: 1e-6 });
  assertClose(r.grad, g.grad.data, { rtol: 1e-4, atol: 1e-6 });
});
