import { assert } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { gradcheck } from "../_gradcheck.ts";
import { Rng } from "../_reference/rng.ts";
import { focalLossRef } from "../_reference/focal_loss_ref.ts";
import { smoothL1LossRef } from "../_reference/smooth_l1_ref.ts";
import { giouLossRef } from "../_reference/giou_ref.ts";
import {
  expandOnehotRef,
  sigmoidBceRef,
  softmaxCrossEntropyRef,
} from "../_reference/cross_entropy_ref.ts";
import * as L from "../../lib/autograd/losses.ts";
import { backward } from "../../lib/autograd/tape.ts";
import { Tensor, tidy } from "../../lib/autograd/tensor.ts";

gpuTest(
  "fused loss gradients pass finite-difference checks (focal, BCE, CE, smooth L1, GIoU)",
  async () => {
    const r = new Rng(9);
    const M = 6, C = 4;
    const x = Float32Array.from({ length: M * C }, () => r.uniform(-3, 3));
    const labels = Float32Array.from({ length: M }, () => r.int(0, C + 1));
    const wts = Float32Array.from({ length: M }, () => r.uniform(0.2, 1));
    const refFocal = ([p, l, w]: Float64Array[]) =>
      Float64Array.of(
        focalLossRef(p, Int32Array.from(l), { weights: w, avgFactor: 3 }).value as number,
      );
    await gradcheck("focal", {
      inputs: [
        { shape: [M, C], data: x },
        { shape: [M], data: labels, noGrad: true, dtype: "i32" },
        { shape: [M], data: wts, noGrad: true },
      ],
      gpu: ([p, l, w]) => L.sigmoidFocalLoss(p, l, { weight: w, avgFactor: 3 }),
      ref: refFocal,
      rtol: 2e-3,
      atol: 1e-4,
    });
    await gradcheck("bce", {
      inputs: [
        { shape: [M, C], data: x },
        { shape: [M], data: labels, noGrad: true, dtype: "i32" },
        { shape: [M], data: wts, noGrad: true },
      ],
      gpu: ([p, l, w]) => L.sigmoidBinaryCrossEntropy(p, l, { weight: w, avgFactor: 2 }),
      ref: ([p, l, w]) => {
        const e = expandOnehotRef(Int32Array.from(l), C, w);
        return Float64Array.of(
          sigmoidBceRef(p, e.targets, { weights: e.weights, avgFactor: 2 }).value as number,
        );
      },
      rtol: 2e-3,
      atol: 1e-4,
    });
    const ceLabels = labels.map((v) => (v === C ? -100 : v));
    await gradcheck("softmax ce", {
      inputs: [{ shape: [M, C], data: x }, {
        shape: [M],
        data: ceLabels,
        noGrad: true,
        dtype: "i32",
      }, { shape: [M], data: wts, noGrad: true }],
      gpu: ([p, l, w]) => L.softmaxCrossEntropy(p, l, { weight: w }),
      ref: ([p, l, w]) =>
        Float64Array.of(
          softmaxCrossEntropyRef(p, Int32Array.from(l), { weights: w }).value as number,
        ),
      rtol: 2e-3,
      atol: 1e-4,
    });
    const d = Float32Array.from({ length: 24 }, () => r.uniform(-1, 1)),
      tt = Float32Array.from(
        { length: 24 },
        (_, i) => d[i] + (i % 3 === 0 ? 0.05 : 0.5) * (i % 2 ? 1 : -1),
      );
    await gradcheck("smooth l1", {
      inputs: [{ shape: [6, 4], data: d }, { shape: [6, 4], data: tt, noGrad: true }],
      gpu: ([p, t]) => L.l1Loss(p, t, { beta: 0.11, reduction: "sum" }),
      ref: ([p, t]) =>
        Float64Array.of(smoothL1LossRef(p, t, { beta: 0.11, reduction: "sum" }).value as number),
      eps: 1e-4,
      rtol: 2e-3,
      atol: 1e-4,
    });
    const boxes = r.boxes(5, { minWh: 4, maxWh: 20 }), tgt = r.boxes(5, { minWh: 4, maxWh: 20 });
    await gradcheck("giou", {
      inputs: [{ shape: [5, 4], data: boxes }, { shape: [5, 4], data: tgt, noGrad: true }],
      gpu: ([p, t]) => L.giouLoss(p, t, { reduction: "sum" }),
      ref: ([p, t]) => Float64Array.of(giouLossRef(p, t, 1e-6).loss.reduce((a, b) => a + b, 0)),
      eps: 1e-3,
      rtol: 5e-3,
      atol: 1e-4,
    });
  },
);

gpuTest(
  "fused losses with a GPU avg_factor never read back, and reject avg_factor with reduction sum",
  async (gpu) => {
    const before = gpu.stats().readbacks;
    const loss = tidy(() => {
      const x = Tensor.from(Float32Array.from({ length: 40 }, (_, i) => i / 10 - 2), [10, 4], {
        requiresGrad: true,
      });
      const l = L.sigmoidFocalLoss(
        x,
        Tensor.from(Int32Array.from({ length: 10 }, (_, i) => i % 5), [10], { dtype: "i32" }),
        { avgFactor: Tensor.from([4], []) },
      );
      backward(l);
      return l;
    });
    assert.equal(gpu.stats().readbacks, before, "no readback inside the loss and its backward");
    assert.ok(Number.isFinite(await loss.item()));
    loss.dispose();
    const x = Tensor.from([1, 2, 3, 4], [1, 4]);
    assert.throws(
      () => L.l1Loss(x, x, { reduction: "sum", avgFactor: 2 }),
      /avg_factor can not be used with reduction "sum"/,
    );
    assert.throws(
      () => L.sigmoidFocalLoss(x, Tensor.from([0, 1], [2], { dtype: "i32" })),
      /neither \[2, K\] nor a conv output/,
    );
    x.dispose();
  },
);
