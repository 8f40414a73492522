import { assert } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import * as F from "../../lib/autograd/mod.ts";
import { backward, keep, Tensor, tidy } from "../../lib/autograd/mod.ts";

gpuTest(
  "1,000 iterations of a small forward+backward+update leave pool bytes-live flat",
  async (gpu) => {
    const w = keep(
      Tensor.from(new Float32Array(64).map((_, i) => Math.sin(i) * 0.1), [8, 8], {
        requiresGrad: true,
      }),
    );
    const x = keep(Tensor.from(new Float32Array(32).map((_, i) => Math.cos(i)), [4, 8]));
    let w2 = w;
    const step = () =>
      tidy(() => {
        const h = F.relu(F.matmul(x, w2));
        const loss = F.mean(F.mul(h, h));
        backward(loss);
        const next = F.noGrad(() => F.sub(w2, F.mulScalar(w2.grad!, 0.1))); // SGD update as a new tensor
        return { next, loss };
      });
    // warm up: pipelines and pool buckets
    for (let i = 0; i < 10; i++) {
      const { next, loss } = step();
      w2.grad?.dispose();
      if (w2 !== w) w2.dispose();
      loss.dispose();
      w2 = next;
      w2.requiresGrad = true;
    }
    await gpu.sync();
    const live0 = gpu.stats().bytesLive;
    const created0 = gpu.stats().buffersCreated;
    let lastLoss = 0;
    for (let i = 0; i < 1000; i++) {
      const { next, loss } = step();
      w2.grad?.dispose();
      if (w2 !== w) w2.dispose();
      if (i === 999) lastLoss = await loss.item();
      loss.dispose();
      w2 = next;
      w2.requiresGrad = true;
      assert.equal(gpu.stats().bytesLive, live0, `bytes live changed at iteration ${i}`);
    }
    assert.ok(Number.isFinite(lastLoss));
    assert.equal(
      gpu.stats().buffersCreated,
      created0,
      "no new buffers after warm-up: the pool serves every allocation",
    );
    w.dispose();
    w2.dispose();
    x.dispose();
  },
);
