import { assert, assertClose } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import * as F from "../../lib/autograd/mod.ts";
import { backward, keep, Tensor, tidy } from "../../lib/autograd/mod.ts";
import { unary } from "../../lib/ops/elementwise.ts";
import { KernelError } from "../../lib/gpu/kernel.ts";
import { bucketSize } from "../../lib/gpu/pool.ts";

Deno.test("bucketSize() rounds to powers of two below 1 MiB and to eighths above", () => {
  assert.equal(bucketSize(1), 16);
  assert.equal(bucketSize(17), 32);
  assert.equal(bucketSize(1000), 1024);
  assert.equal(bucketSize(1 << 20), 1 << 20);
  assert.equal(bucketSize((1 << 20) + 1), (1 << 20) + (1 << 17));
  assert.equal(bucketSize(3_000_000), 3_145_728); // 2 MiB + 4 × 256 KiB
});

gpuTest("dispatch() folds grids over 65535 workgroups into 2-D", async (gpu) => {
  const n = 65536 * 256 + 300; // 65538 workgroups of 256
  const x = F.full([n], 2);
  const y = new Tensor(unary(x.raw, "mulScalar", 3));
  const host = await y.toArray();
  assert.equal(host[0], 6);
  assert.equal(host[n - 1], 6);
  assert.equal(host[65535 * 256 + 17], 6);
  x.dispose();
  y.dispose();
  assert.ok(gpu.stats().dispatches > 0);
});

gpuTest("tidy() releases intermediates and keeps returned tensors", (gpu) => {
  const before = gpu.stats().bytesLive;
  const kept = tidy(() => {
    const a = Tensor.from([1, 2, 3], [3]);
    const b = F.mul(a, a);
    F.add(b, b); // dropped
    return F.sum(b);
  });
  const mid = gpu.stats().bytesLive;
  assert.ok(mid > before, "the returned tensor is still alive");
  kept.dispose();
  assert.equal(gpu.stats().bytesLive, before);
});

gpuTest("backward() accumulates through fan-out and keeps leaf gradients past tidy()", async () => {
  const x = Tensor.from([1, -2, 3], [3], { requiresGrad: true });
  keep(x);
  tidy(() => {
    // y = x·x + 3x + x  →  dy/dx = 2x + 4
    const y = F.sum(F.add(F.add(F.mul(x, x), F.mulScalar(x, 3)), x));
    backward(y);
  });
  assertClose(await x.grad!.toArray(), [6, 0, 10]);
  tidy(() => backward(F.sum(F.mulScalar(x, 2)))); // accumulates
  assertClose(await x.grad!.toArray(), [8, 2, 12]);
  x.dispose();
});

gpuTest("a WGSL error names the kernel file and line", async (gpu) => {
  const broken = {
    name: "broken_test",
    source: "@compute @workgroup_size(1)\nfn main() {\n  let x: u32 = oops;\n}\n",
  };
  gpu.kernel(broken);
  await assert.rejects(() => gpu.pipelines.checkErrors(), (e: Error) => {
    assert.ok(e instanceof KernelError);
    assert.match(e.message, /broken_test\.wgsl/);
    assert.match(e.message, /line 3/);
    return true;
  });
});

gpuTest(
  "a tensor larger than one storage binding is refused with its name, size and the limit",
  (gpu) => {
    const lim = gpu.info.limits.maxStorageBufferBindingSize;
    const n = Math.floor(lim / 4) + 1024;
    assert.throws(() => gpu.empty([n], "f32", "huge_activation"), (e: Error) => {
      assert.ok(e instanceof RangeError);
      assert.match(e.message, /huge_activation/);
      assert.match(e.message, new RegExp(String(lim)));
      return true;
    });
  },
);

gpuTest(
  "recording ops performs no readback; toArray() is the only synchronisation point",
  async (gpu) => {
    const r0 = gpu.stats().readbacks;
    const out = tidy(() => {
      let t = Tensor.from(new Float32Array(1000).fill(1), [10, 100], { requiresGrad: true });
      for (let i = 0; i < 20; i++) t = F.relu(F.addScalar(t, 0.5));
      const l = F.mean(t);
      backward(l);
      return l;
    });
    assert.equal(gpu.stats().readbacks, r0);
    assertClose(await out.toArray(), [11]);
    assert.equal(gpu.stats().readbacks, r0 + 1);
    out.dispose();
  },
);

gpuTest("readMany() reads several tensors with one readback", async (gpu) => {
  const a = Tensor.from([1, 2], [2]),
    b = Tensor.from([7], [1], { dtype: "i32" }),
    c = Tensor.zeros([0]);
  const r0 = gpu.stats().readbacks;
  const [ha, hb, hc] = await gpu.readMany([a.raw, b.raw, c.raw]);
  assert.equal(gpu.stats().readbacks, r0 + 1);
  assert.deepEqual([...ha], [1, 2]);
  assert.ok(hb instanceof Int32Array);
  assert.deepEqual([...hb], [7]);
  assert.equal(hc.length, 0);
  for (const t of [a, b, c]) t.dispose();
});

gpuTest("using a disposed tensor throws a clear error", () => {
  const a = Tensor.from([1], [1], { label: "gone" });
  a.dispose();
  assert.throws(() => F.neg(a), /Cannot use tensor "gone" \[1\]: it was disposed/);
});

gpuTest(
  "bind groups are reused for repeated dispatches and never alias other buffers",
  async (gpu) => {
    // the same op on the same pooled buffers and uniform offsets, flush after flush: cache hits
    const x = F.full([64], 2);
    const results: number[] = [];
    for (let i = 0; i < 4; i++) {
      const y = new Tensor(unary(x.raw, "mulScalar", i + 1));
      results.push((await y.toArray())[0]);
      y.dispose();
    }
    assert.deepEqual(results, [2, 4, 6, 8]); // parameters change while the bind group is reused
    const hits = gpu.stats().bindGroupHits;
    const again = new Tensor(unary(x.raw, "mulScalar", 5));
    assert.equal((await again.toArray())[0], 10);
    assert.ok(gpu.stats().bindGroupHits > hits, "a repeated dispatch reuses its bind group");
    // a different input buffer of the same size gets its own bind group: the values differ
    const z = F.full([64], 7);
    const w = new Tensor(unary(z.raw, "mulScalar", 5));
    assert.equal((await w.toArray())[0], 35);
    for (const t of [x, again, z, w]) t.dispose();
  },
);
