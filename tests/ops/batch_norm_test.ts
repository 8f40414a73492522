import { assert, type FixtureArray, loadFixture } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { closeTo } from "./_close.ts";
import { Tensor, tidy } from "../../lib/autograd/tensor.ts";
import { backward, noGrad } from "../../lib/autograd/tape.ts";
import * as F from "../../lib/autograd/functional.ts";
import { batchNorm2d } from "../../lib/autograd/cnn.ts";

interface BnCase {
  name: string;
  opts: { training: boolean; act: "none" | "relu"; momentum: number; eps: number };
  arrays: Record<string, FixtureArray>;
}

const fixture = await loadFixture<{ cases: BnCase[] }>("ops/batch_norm.json");

gpuTest(
  "batchNorm2d() matches PyTorch in training and eval mode: output, running statistics and gradients",
  async () => {
    for (const c of fixture.cases) {
      const A = c.arrays;
      const rm = Tensor.from(A.running_mean.data, A.running_mean.shape);
      const rv = Tensor.from(A.running_var.data, A.running_var.shape);
      const { y, grads } = tidy(() => {
        const x = Tensor.from(A.x.data, A.x.shape, { requiresGrad: true });
        const w = A.w ? Tensor.from(A.w.data, A.w.shape, { requiresGrad: true }) : null;
        const b = A.b ? Tensor.from(A.b.data, A.b.shape, { requiresGrad: true }) : null;
        const y = batchNorm2d(x, rm, rv, w, b, c.opts);
        backward(F.sum(F.mul(y, Tensor.from(A.gy.data, A.gy.shape))));
        return { y, grads: [x.grad, w?.grad ?? null, b?.grad ?? null] };
      });
      closeTo(await y.toArray(), A.y, `${c.name} forward`);
      closeTo(await rm.toArray(), A.running_mean_after, `${c.name} running_mean`);
      closeTo(await rv.toArray(), A.running_var_after, `${c.name} running_var`);
      closeTo(await grads[0]!.toArray(), A.gx, `${c.name} grad x`);
      if (A.w) closeTo(await grads[1]!.toArray(), A.gw, `${c.name} grad weight`);
      if (A.b) closeTo(await grads[2]!.toArray(), A.gb, `${c.name} grad bias`);
      for (const t of [y, rm, rv, ...grads]) t?.dispose();
    }
  },
);

gpuTest(
  "batchNorm2d() with frozen weight and bias gives them no gradient and still updates running stats under noGrad",
  async () => {
    const c = fixture.cases.find((k) => k.name === "train")!;
    const A = c.arrays;
    const rm = Tensor.from(A.running_mean.data, A.running_mean.shape);
    const rv = Tensor.from(A.running_var.data, A.running_var.shape);
    const w = Tensor.from(A.w.data, A.w.shape), b = Tensor.from(A.b.data, A.b.shape);
    const gx = tidy(() => {
      const x = Tensor.from(A.x.data, A.x.shape, { requiresGrad: true });
      const y = batchNorm2d(x, rm, rv, w, b, c.opts);
      backward(F.sum(F.mul(y, Tensor.from(A.gy.data, A.gy.shape))));
      return x.grad!;
    });
    closeTo(await gx.toArray(), A.gx, "grad x with frozen affine");
    assert.equal(w.grad, null);
    assert.equal(b.grad, null);
    // a second forward in training mode without gradients applies the momentum update again
    tidy(() => noGrad(() => batchNorm2d(Tensor.from(A.x.data, A.x.shape), rm, rv, w, b, c.opts)));
    const m1 = A.running_mean_after.data, m0 = A.running_mean.data;
    const want = m1.map((v, i) => 0.9 * v + (v - 0.9 * m0[i]));
    closeTo(await rm.toArray(), { data: want }, "running_mean after two updates");
    for (const t of [rm, rv, w, b, gx]) t.dispose();
  },
);

gpuTest(
  "batchNorm2d() rejects an empty batch, one value per channel in training, and mismatched parameters",
  () => {
    const rm = Tensor.zeros([3]), rv = Tensor.zeros([3]);
    tidy(() => {
      assert.throws(
        () => batchNorm2d(Tensor.zeros([0, 3, 4, 4]), rm, rv, null, null, { training: true }),
        /empty batch/,
      );
      assert.throws(
        () => batchNorm2d(Tensor.zeros([1, 3, 1, 1]), rm, rv, null, null, { training: true }),
        /more than 1 value per channel/,
      );
      assert.throws(
        () =>
          batchNorm2d(Tensor.zeros([2, 3, 2, 2]), rm, rv, Tensor.zeros([4]), null, {
            training: true,
          }),
        TypeError,
      );
    });
    rm.dispose();
    rv.dispose();
  },
);
