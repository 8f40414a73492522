import { assert, assertClose, type FixtureArray, loadFixture } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { Rng } from "../_reference/rng.ts";
import { focalLossRef } from "../_reference/focal_loss_ref.ts";
import { l1LossRef } from "../_reference/l1_ref.ts";
import { smoothL1LossRef } from "../_reference/smooth_l1_ref.ts";
import { giouLossRef } from "../_reference/giou_ref.ts";
import * as F from "../../lib/autograd/functional.ts";
import * as L from "../../lib/autograd/losses.ts";
import { backward } from "../../lib/autograd/tape.ts";
import { Tensor, tidy } from "../../lib/autograd/tensor.ts";

type Arr = FixtureArray;
const nan = (xs: (number | null)[]) => xs.map((v) => v ?? NaN);

/** Runs `fn` on tensors made from `inputs` (the first one differentiable), back-propagates Σ loss. */
async function lossAndGrad(
  inputs: { data: ArrayLike<number>; shape: number[]; dtype?: "f32" | "i32" }[],
  fn: (xs: Tensor[]) => Tensor,
): Promise<{ loss: Float32Array; grad: Float32Array }> {
  const { loss, grad } = tidy(() => {
    const xs = inputs.map((x, i) =>
      Tensor.from(x.data, x.shape, { dtype: x.dtype ?? "f32", requiresGrad: i === 0 })
    );
    const y = fn(xs);
    backward(y.size === 1 ? y : F.sum(y));
    return { loss: y, grad: xs[0].grad! };
  });
  const [l, g] = await Promise.all([loss.toArray(), grad.toArray()]);
  loss.dispose();
  grad.dispose();
  return { loss: l as Float32Array, grad: g as Float32Array };
}

gpuTest(
  "sigmoidFocalLoss() equals torchvision's sigmoid_focal_loss and its gradient, finite for |logit| up to 100",
  async () => {
    const fx = await loadFixture<
      { logits: Arr; targets: Arr; cases: { alpha: number; gamma: number; loss: Arr; grad: Arr }[] }
    >("core/focal_loss.json");
    for (const c of fx.cases) {
      const r = await lossAndGrad(
        [{ data: fx.logits.data, shape: fx.logits.shape }, {
          data: fx.targets.data,
          shape: fx.targets.shape,
        }],
        ([x, t]) => L.sigmoidFocalLoss(x, t, { alpha: c.alpha, gamma: c.gamma, reduction: "none" }),
      );
      assert.ok(r.loss.every(Number.isFinite) && r.grad.every(Number.isFinite), "finite");
      assertClose(r.loss, c.loss.data, { rtol: 1e-5, atol: 1e-7, msg: `loss alpha ${c.alpha}` });
      assertClose(r.grad, c.grad.data, { rtol: 1e-5, atol: 1e-7, msg: `grad alpha ${c.alpha}` });
    }
  },
);

gpuTest(
  "sigmoidFocalLoss() with labels, row weights and a GPU avg_factor equals the float64 reference (mean, sum, none)",
  async () => {
    const r = new Rng(3);
    const M = 300, C = 7;
    const x = Float32Array.from({ length: M * C }, () => r.uniform(-8, 8));
    const labels = Int32Array.from({ length: M }, () => r.int(0, C + 2)); // C and C+1: background
    const w = Float32Array.from({ length: M }, () => r.int(0, 3) / 2);
    const cases = [
      { reduction: "mean" as const, avg: 37, gpuAvg: true, lossWeight: 2 },
      { reduction: "mean" as const, avg: 11, gpuAvg: false, lossWeight: 1 },
      { reduction: "mean" as const, avg: null, gpuAvg: false, lossWeight: 1 },
      { reduction: "sum" as const, avg: null, gpuAvg: false, lossWeight: 0.5 },
      { reduction: "none" as const, avg: 5, gpuAvg: false, lossWeight: 3 },
    ];
    for (const c of cases) {
      const got = await lossAndGrad([{ data: x, shape: [M, C] }, {
        data: labels,
        shape: [M],
        dtype: "i32",
      }, { data: w, shape: [M] }], ([p, t, wt]) =>
        L.sigmoidFocalLoss(p, t, {
          weight: wt,
          reduction: c.reduction,
          lossWeight: c.lossWeight,
          avgFactor: c.avg === null ? null : c.gpuAvg ? Tensor.from([c.avg], []) : c.avg,
        }));
      const ref = focalLossRef(x, labels, {
        weights: w,
        reduction: c.reduction,
        avgFactor: c.reduction === "none" ? null : c.avg,
        lossWeight: c.lossWeight,
      });
      assertClose(got.loss, typeof ref.value === "number" ? [ref.value] : ref.value, {
        rtol: 1e-4,
        atol: 1e-6,
        msg: `${c.reduction} loss`,
      });
      assertClose(got.grad, ref.grad, { rtol: 1e-4, atol: 1e-7, msg: `${c.reduction} grad` });
    }
  },
);

gpuTest(
  "fused losses read a conv output [N, A*K, H, W] in mmdetection's permute(0, 2, 3, 1) row order",
  async () => {
    const r = new Rng(8);
    const [N, A, H, W, C] = [2, 3, 4, 5, 4];
    const M = N * H * W * A;
    const rowsOf = (conv: Float32Array, K: number) => {
      const rows = new Float32Array(conv.length);
      for (let n = 0; n < N; n++) {
        for (let ch = 0; ch < A * K; ch++) {
          for (let y = 0; y < H; y++) {
            for (let xx = 0; xx < W; xx++) {
              rows[(((n * H + y) * W + xx) * A + Math.floor(ch / K)) * K + (ch % K)] =
                conv[((n * A * K + ch) * H + y) * W + xx];
            }
          }
        }
      }
      return rows;
    };
    const cls = Float32Array.from({ length: N * A * C * H * W }, () => r.uniform(-4, 4));
    const labels = Int32Array.from({ length: M }, () => r.int(0, C + 1));
    const conv = await lossAndGrad([{ data: cls, shape: [N, A * C, H, W] }, {
      data: labels,
      shape: [M],
      dtype: "i32",
    }], ([p, t]) => L.sigmoidFocalLoss(p, t, { avgFactor: 9 }));
    const rows = await lossAndGrad([{ data: rowsOf(cls, C), shape: [M, C] }, {
      data: labels,
      shape: [M],
      dtype: "i32",
    }], ([p, t]) => L.sigmoidFocalLoss(p, t, { avgFactor: 9 }));
    assertClose(conv.loss, rows.loss, { rtol: 1e-6, msg: "focal loss" });
    assertClose(rowsOf(conv.grad, C), rows.grad, { rtol: 1e-6, atol: 1e-9, msg: "focal gradient" });
    const reg = Float32Array.from({ length: N * A * 4 * H * W }, () => r.uniform(-1, 1));
    const tgt = Float32Array.from({ length: M * 4 }, () => r.uniform(-1, 1));
    const bw = Float32Array.from({ length: M * 4 }, () => r.int(0, 2));
    const l1c = await lossAndGrad([{ data: reg, shape: [N, A * 4, H, W] }, {
      data: tgt,
      shape: [M, 4],
    }, { data: bw, shape: [M, 4] }], ([p, t, w]) => L.l1Loss(p, t, { weight: w, avgFactor: 7 }));
    const ref = l1LossRef(rowsOf(reg, 4), tgt, { weights: bw, avgFactor: 7 });
    assertClose(l1c.loss, [ref.value as number], { rtol: 1e-5, msg: "L1 loss" });
    assertClose(rowsOf(l1c.grad, 4), ref.grad, { rtol: 1e-5, atol: 1e-8, msg: "L1 gradient" });
    const ce = await lossAndGrad([{ data: cls, shape: [N, A * C, H, W] }, {
      data: labels,
      shape: [M],
      dtype: "i32",
    }], ([p, t]) => L.softmaxCrossEntropy(p, t, {}));
    const ceRows = await lossAndGrad([{ data: rowsOf(cls, C), shape: [M, C] }, {
      data: labels.map((v) => (v === C ? -100 : v)),
      shape: [M],
      dtype: "i32",
    }], ([p, t]) => L.softmaxCrossEntropy(p, t, {}));
    assertClose(ce.loss, ceRows.loss, {
      rtol: 1e-6,
      msg: "CE loss (label C = out of range = ignored)",
    });
    assertClose(rowsOf(ce.grad, C), ceRows.grad, { rtol: 1e-6, atol: 1e-9, msg: "CE gradient" });
  },
);

type LossesFixture = {
  pred: Arr;
  target: Arr;
  weight: Arr;
  l1_none: { loss: Arr; grad: Arr };
  l1_weighted_avg: { loss: Arr; grad: Arr };
  smooth_l1: Record<string, { loss: Arr; grad: Arr }>;
  bce:
    & { logits: Arr; targets: Arr; weight: Arr; pos_weight: Arr }
    & Record<string, { loss: Arr; grad: Arr }>;
  ce:
    & { logits: Arr; labels: Arr; weight: Arr; class_weight: Arr }
    & Record<string, { loss: Arr; grad: Arr }>;
};

gpuTest(
  "L1, smooth L1, BCE-with-logits and softmax cross-entropy equal PyTorch (values and gradients)",
  async () => {
    const fx = await loadFixture<LossesFixture>("core/losses.json");
    const p = { data: fx.pred.data, shape: fx.pred.shape },
      t = { data: fx.target.data, shape: fx.target.shape };
    const w = { data: fx.weight.data, shape: fx.weight.shape };
    const check = (
      got: { loss: Float32Array; grad: Float32Array },
      ex: { loss: Arr; grad: Arr },
      msg: string,
    ) => {
      assertClose(got.loss, ex.loss.data, { rtol: 1e-5, atol: 1e-7, msg: `${msg} loss` });
      assertClose(got.grad, ex.grad.data, { rtol: 1e-5, atol: 1e-7, msg: `${msg} grad` });
    };
    check(
      await lossAndGrad([p, t], ([a, b]) => L.l1Loss(a, b, { reduction: "none" })),
      fx.l1_none,
      "l1 none",
    );
    check(
      await lossAndGrad([p, t, w], ([a, b, c]) => L.l1Loss(a, b, { weight: c, avgFactor: 7 })),
      fx.l1_weighted_avg,
      "l1 avg",
    );
    for (const beta of ["0.11", "1.0"]) {
      check(
        await lossAndGrad(
          [p, t],
          ([a, b]) => L.l1Loss(a, b, { reduction: "none", beta: Number(beta) }),
        ),
        fx.smooth_l1[beta],
        `smooth l1 ${beta}`,
      );
      const ref = smoothL1LossRef(fx.pred.data, fx.target.data, {
        beta: Number(beta),
        reduction: "none",
      });
      assertClose(ref.value as Float64Array, fx.smooth_l1[beta].loss.data, {
        rtol: 1e-5,
        atol: 1e-7,
        msg: "reference sanity",
      });
    }
    const b = fx.bce;
    const logits = { data: b.logits.data, shape: b.logits.shape },
      tg = { data: b.targets.data, shape: b.targets.shape };
    const bw = { data: b.weight.data, shape: b.weight.shape },
      pw = { data: b.pos_weight.data, shape: b.pos_weight.shape };
    check(
      await lossAndGrad(
        [logits, tg],
        ([x, y]) => L.sigmoidBinaryCrossEntropy(x, y, { reduction: "none" }),
      ),
      b.none,
      "bce none",
    );
    check(
      await lossAndGrad(
        [logits, tg, bw, pw],
        ([x, y, ww, cw]) => L.sigmoidBinaryCrossEntropy(x, y, { weight: ww, classWeight: cw }),
      ),
      b.weighted_mean,
      "bce mean",
    );
    check(
      await lossAndGrad(
        [logits, tg, bw, pw],
        ([x, y, ww, cw]) =>
          L.sigmoidBinaryCrossEntropy(x, y, { weight: ww, classWeight: cw, avgFactor: 4 }),
      ),
      b.weighted_avg,
      "bce avg",
    );
    const c = fx.ce;
    const cl = { data: c.logits.data, shape: c.logits.shape },
      lab = { data: c.labels.data, shape: c.labels.shape, dtype: "i32" as const };
    const sw = { data: c.weight.data, shape: c.weight.shape },
      cw = { data: c.class_weight.data, shape: c.class_weight.shape };
    check(
      await lossAndGrad([cl, lab], ([x, y]) => L.softmaxCrossEntropy(x, y, { reduction: "none" })),
      c.none,
      "ce none",
    );
    check(
      await lossAndGrad(
        [cl, lab, sw, cw],
        ([x, y, ww, cc]) => L.softmaxCrossEntropy(x, y, { weight: ww, classWeight: cc }),
      ),
      c.weighted_mean,
      "ce mean",
    );
    check(
      await lossAndGrad(
        [cl, lab, sw, cw],
        ([x, y, ww, cc]) =>
          L.softmaxCrossEntropy(x, y, { weight: ww, classWeight: cc, reduction: "sum" }),
      ),
      c.weighted_sum,
      "ce sum",
    );
    check(
      await lossAndGrad(
        [cl, lab, sw, cw],
        ([x, y, ww, cc]) =>
          L.softmaxCrossEntropy(x, y, { weight: ww, classWeight: cc, avgFactor: 3 }),
      ),
      c.weighted_avg,
      "ce avg",
    );
  },
);

gpuTest(
  "giouLoss() equals mmdetection's giou_loss and PyTorch's gradient; zero weights never give NaN",
  async () => {
    const fx = await loadFixture<
      { giou_loss: { pred: Arr; target: Arr; eps: number; loss: Arr; grad: Arr } }
    >("core/iou.json");
    const g = fx.giou_loss;
    const got = await lossAndGrad([{ data: g.pred.data, shape: g.pred.shape }, {
      data: g.target.data,
      shape: g.target.shape,
    }], ([p, t]) => L.giouLoss(p, t, { eps: g.eps, reduction: "none" }));
    assertClose(got.loss, nan(g.loss.data), { rtol: 1e-5, atol: 1e-6, msg: "loss" });
    assertClose(got.grad, nan(g.grad.data), { rtol: 1e-4, atol: 1e-6, msg: "grad" });
    const r = new Rng(4);
    const pred = r.boxes(20, { maxWh: 20 }), target = r.boxes(20, { maxWh: 20 });
    const ref = giouLossRef(pred, target, 1e-6);
    const w = Float32Array.from({ length: 20 }, () => r.int(0, 3));
    const mean = await lossAndGrad(
      [{ data: pred, shape: [20, 4] }, { data: target, shape: [20, 4] }, { data: w, shape: [20] }],
      ([p, t, ww]) => L.giouLoss(p, t, { weight: ww, avgFactor: 6, lossWeight: 2 }),
    );
    assertClose(mean.loss, [2 * ref.loss.reduce((s, v, i) => s + v * w[i], 0) / 6], {
      rtol: 1e-5,
      msg: "weighted mean",
    });
    assertClose(mean.grad, ref.grad.map((v, k) => (2 * v * w[Math.floor(k / 4)]) / 6), {
      rtol: 2e-3,
      atol: 1e-5,
      msg: "weighted grad",
    });
    const degenerate = await lossAndGrad([{ data: [5, 5, 5, 5, 0, 0, 1, 1], shape: [2, 4] }, {
      data: [5, 5, 5, 5, 0, 0, 2, 2],
      shape: [2, 4],
    }, { data: [0, 1], shape: [2] }], ([p, t, ww]) => L.giouLoss(p, t, { weight: ww, eps: 0 }));
    assert.ok(
      degenerate.loss.every(Number.isFinite) && degenerate.grad.every(Number.isFinite),
      "no NaN from a zero-weight degenerate pair",
    );
  },
);
