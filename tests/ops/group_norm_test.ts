import { assert, type FixtureArray, loadFixture } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { closeTo } from "./_close.ts";
import { Tensor, tidy } from "../../lib/autograd/tensor.ts";
import { backward } from "../../lib/autograd/tape.ts";
import * as F from "../../lib/autograd/functional.ts";
import { groupNorm } from "../../lib/autograd/cnn.ts";

interface GnCase {
  name: string;
  opts: { groups: number; eps: number };
  arrays: Record<string, FixtureArray>;
}

const fixture = await loadFixture<{ cases: GnCase[] }>("ops/group_norm.json");

gpuTest("groupNorm() matches PyTorch's output and gradients for x, weight and bias", async () => {
  for (const c of fixture.cases) {
    const A = c.arrays;
    const { y, grads } = tidy(() => {
      const x = Tensor.from(A.x.data, A.x.shape, { requiresGrad: true });
      const w = A.w ? Tensor.from(A.w.data, A.w.shape, { requiresGrad: true }) : null;
      const b = A.b ? Tensor.from(A.b.data, A.b.shape, { requiresGrad: true }) : null;
      const y = groupNorm(x, c.opts.groups, w, b, c.opts.eps);
      backward(F.sum(F.mul(y, Tensor.from(A.gy.data, A.gy.shape))));
      return { y, grads: [x.grad, w?.grad ?? null, b?.grad ?? null] };
    });
    closeTo(await y.toArray(), A.y, `${c.name} forward`);
    closeTo(await grads[0]!.toArray(), A.gx, `${c.name} grad x`);
    if (A.w) closeTo(await grads[1]!.toArray(), A.gw, `${c.name} grad weight`);
    if (A.b) closeTo(await grads[2]!.toArray(), A.gb, `${c.name} grad bias`);
    for (const t of [y, ...grads]) t?.dispose();
  }
});

gpuTest(
  "groupNorm() rejects channels that do not divide into the groups and an empty batch",
  () => {
    tidy(() => {
      assert.throws(
        () => groupNorm(Tensor.zeros([1, 6, 2, 2]), 4, null, null),
        (e: Error) => e instanceof TypeError && /6 channels/.test(e.message),
      );
      assert.throws(() => groupNorm(Tensor.zeros([0, 4, 2, 2]), 2, null, null), RangeError);
    });
  },
);
