import { assert, type FixtureArray, loadFixture } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { closeTo } from "./_close.ts";
import { Tensor, tidy } from "../../lib/autograd/tensor.ts";
import { backward } from "../../lib/autograd/tape.ts";
import * as F from "../../lib/autograd/functional.ts";
import { interpolateNearest } from "../../lib/autograd/cnn.ts";

interface InterpCase {
  name: string;
  opts: { size?: [number, number]; scaleFactor?: number };
  arrays: Record<string, FixtureArray>;
}

const fixture = await loadFixture<{ cases: InterpCase[] }>("ops/interpolate.json");

gpuTest(
  "interpolateNearest() matches PyTorch to a size and by a scale factor, with gradients",
  async () => {
    for (const c of fixture.cases) {
      const A = c.arrays;
      const { y, gx } = tidy(() => {
        const x = Tensor.from(A.x.data, A.x.shape, { requiresGrad: true });
        const y = interpolateNearest(x, c.opts);
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

gpuTest(
  "interpolateNearest() refuses an output above one storage binding and ambiguous options",
  (gpu) => {
    tidy(() => {
      const x = Tensor.zeros([1, 1, 1, 1]);
      const side = Math.ceil(Math.sqrt(gpu.info.limits.maxStorageBufferBindingSize / 4)) + 1;
      assert.throws(
        () => interpolateNearest(x, { size: [side, side] }),
        /maxStorageBufferBindingSize/,
      );
      assert.throws(() => interpolateNearest(x, { size: [2, 2], scaleFactor: 2 }), /exactly one/);
    });
  },
);
