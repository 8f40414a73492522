import { assert, type FixtureArray, loadFixture } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { closeTo } from "./_close.ts";
import { Tensor, tidy } from "../../lib/autograd/tensor.ts";
import { backward } from "../../lib/autograd/tape.ts";
import * as F from "../../lib/autograd/functional.ts";
import { maxPool2d } from "../../lib/autograd/cnn.ts";

interface PoolCase {
  name: string;
  opts: { kernelSize: number; stride: number; padding: number; ceilMode: boolean };
  arrays: Record<string, FixtureArray>;
}

const fixture = await loadFixture<{ cases: PoolCase[] }>("ops/max_pool.json");

gpuTest(
  "maxPool2d() matches PyTorch's output, shape and input gradient (3×3/2 pad 1, ceil mode, 1×1 maps)",
  async () => {
    for (const c of fixture.cases) {
      const A = c.arrays;
      const { y, gx } = tidy(() => {
        const x = Tensor.from(A.x.data, A.x.shape, { requiresGrad: true });
        const y = maxPool2d(x, c.opts);
        backward(F.sum(F.mul(y, Tensor.from(A.gy.data, A.gy.shape))));
        return { y, gx: x.grad! };
      });
      assert.deepEqual([...y.shape], A.y.shape, `${c.name} output shape`);
      closeTo(await y.toArray(), A.y, `${c.name} forward`);
      closeTo(await gx.toArray(), A.gx, `${c.name} grad x`);
      y.dispose();
      gx.dispose();
    }
  },
);

gpuTest("maxPool2d() sends the gradient of a tie to the first maximum, as PyTorch", async () => {
  const gx = tidy(() => {
    const x = Tensor.from([1, 1, 1, 1], [1, 1, 2, 2], { requiresGrad: true });
    backward(F.sum(maxPool2d(x, { kernelSize: 2, stride: 2 })));
    return x.grad!;
  });
  assert.deepEqual([...await gx.toArray()], [1, 0, 0, 0]);
  gx.dispose();
});

gpuTest("maxPool2d() rejects an empty batch and padding above half the kernel", () => {
  tidy(() => {
    assert.throws(
      () => maxPool2d(Tensor.zeros([0, 1, 4, 4]), { kernelSize: 3, stride: 2, padding: 1 }),
      RangeError,
    );
    assert.throws(
      () => maxPool2d(Tensor.zeros([1, 1, 4, 4]), { kernelSize: 3, padding: 2 }),
      /at most half/,
    );
  });
});
