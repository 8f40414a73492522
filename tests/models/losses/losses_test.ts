import { assert, assertClose } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import { Rng } from "../../_reference/rng.ts";
import { focalLossRef } from "../../_reference/focal_loss_ref.ts";
import { l1LossRef } from "../../_reference/l1_ref.ts";
import { FLOAT32_EPS } from "../../_reference/weight_reduce_ref.ts";
import { Tensor, tidy } from "../../../lib/autograd/tensor.ts";
import "../../../lib/models/losses/mod.ts";
import type { Loss } from "../../../lib/models/losses/mod.ts";
import { LOSSES } from "../../../lib/models/registry.ts";

const build = (cfg: Record<string, unknown> & { type: string }) => LOSSES.build(cfg) as Loss;

async function value(fn: () => Tensor): Promise<number[]> {
  const t = tidy(fn);
  const v = Array.from(await t.toArray());
  t.dispose();
  return v;
}

gpuTest(
  "LOSSES builds FocalLoss, L1Loss, SmoothL1Loss, CrossEntropyLoss and GIoULoss with mmdetection's keys",
  async () => {
    for (const type of ["FocalLoss", "L1Loss", "SmoothL1Loss", "CrossEntropyLoss", "GIoULoss"]) {
      const l = build({ type, loss_weight: 2, reduction: "sum" });
      assert.equal(l.lossWeight, 2, type);
      assert.equal(l.reduction, "sum", type);
    }
    assert.throws(
      () => build({ type: "FocalLoss", use_sigmoid: false }),
      /FocalLoss: .*only the sigmoid focal loss is supported/,
    );
    assert.throws(() => build({ type: "L1Loss", reduction: "avg" }), /L1Loss: .*reduction "avg"/);
    assert.throws(() => build({ type: "SmoothL1Loss", beta: 0 }), /beta must be > 0/);
    assert.throws(
      () => build({ type: "CrossEntropyLoss", use_mask: true }),
      /use_mask is not supported/,
    );
    assert.throws(() => build({ type: "FocalLos" }), /did you mean "FocalLoss"/);
  },
);

gpuTest(
  "losses follow weight_reduce_loss: loss_weight, reduction_override, avg_factor as number or GPU tensor, v2.2x eps",
  async () => {
    const r = new Rng(2);
    const M = 40, C = 5;
    const x = Float32Array.from({ length: M * C }, () => r.uniform(-5, 5));
    const labels = Int32Array.from({ length: M }, () => r.int(0, C + 1));
    const w = Float32Array.from({ length: M }, () => r.int(0, 2));
    const focal = build({
      type: "FocalLoss",
      use_sigmoid: true,
      gamma: 2,
      alpha: 0.25,
      loss_weight: 1.5,
    });
    const args = () =>
      [
        Tensor.from(x, [M, C]),
        Tensor.from(labels, [M], { dtype: "i32" }),
        Tensor.from(w, [M]),
      ] as const;
    const ref = (o: Parameters<typeof focalLossRef>[2]) =>
      focalLossRef(x, labels, { weights: w, lossWeight: 1.5, ...o }).value;
    const [p1, t1, w1] = args();
    assertClose(
      await value(() => focal.forward(p1, t1, { weight: w1, avgFactor: Tensor.from([6], []) })),
      [ref({ avgFactor: 6 }) as number],
      { msg: "GPU avg_factor" },
    );
    assertClose(await value(() => focal.forward(p1, t1, { weight: w1, avgFactor: 6 })), [
      ref({ avgFactor: 6 }) as number,
    ], { msg: "number avg_factor" });
    assertClose(
      await value(() => focal.forward(p1, t1, { weight: w1, reductionOverride: "sum" })),
      [ref({ reduction: "sum" }) as number],
      { msg: "sum" },
    );
    assertClose(await value(() => focal.forward(p1, t1, { weight: w1 })), [ref({}) as number], {
      msg: "mean over elements",
    });
    assertClose(
      await value(() => focal.forward(p1, t1, { weight: w1, reductionOverride: "none" })),
      ref({ reduction: "none" }) as Float64Array,
      { msg: "none" },
    );
    const eps = build({ type: "FocalLoss", loss_weight: 1.5, avg_factor_eps: true });
    assertClose(
      await value(() => eps.forward(p1, t1, { weight: w1, avgFactor: Tensor.from([6], []) })),
      [ref({ avgFactor: 6, version: "v2.2x" }) as number],
      { rtol: 1e-6, msg: "v2.2x eps" },
    );
    assert.ok(FLOAT32_EPS > 0);
    const l1 = build({ type: "L1Loss", loss_weight: 0.5 });
    const d = Float32Array.from({ length: 12 }, () => r.uniform(-1, 1)),
      t = Float32Array.from({ length: 12 }, () => r.uniform(-1, 1));
    assertClose(
      await value(() =>
        l1.forward(Tensor.from(d, [3, 4]), Tensor.from(t, [3, 4]), { avgFactor: 2 })
      ),
      [l1LossRef(d, t, { avgFactor: 2, lossWeight: 0.5 }).value as number],
    );
    assert.deepEqual(
      await value(() => l1.forward(Tensor.zeros([0, 4]), Tensor.zeros([0, 4]))),
      [0],
      "empty targets give 0 (mmdetection's L1Loss)",
    );
    assert.throws(
      () =>
        tidy(() =>
          l1.forward(Tensor.from(d, [3, 4]), Tensor.from(t, [3, 4]), {
            avgFactor: 2,
            reductionOverride: "sum",
          })
        ),
      /avg_factor can not be used/,
    );
  },
);

gpuTest(
  "CrossEntropyLoss with use_sigmoid and class_weight equals the one-hot binary cross-entropy",
  async () => {
    const ce = build({ type: "CrossEntropyLoss", use_sigmoid: true, class_weight: [1, 2, 0.5] });
    const x = [0.3, -1, 2, 4, 0, -3], labels = [2, 3];
    const got = await value(() =>
      ce.forward(Tensor.from(x, [2, 3]), Tensor.from(labels, [2], { dtype: "i32" }))
    );
    const sp = (z: number) => Math.log1p(Math.exp(z));
    // row 0: label 2 (pos_weight 0.5), row 1: label 3 = out of range, all negative
    const expected = (sp(0.3) + sp(-1) + 0.5 * sp(-2) + sp(4) + sp(0) + sp(-3)) / 6;
    assertClose(got, [expected], { rtol: 1e-6 });
  },
);
