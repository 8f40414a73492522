import { assert } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { getGpu } from "../../lib/gpu/runtime.ts";
import type { RawTensor } from "../../lib/gpu/raw_tensor.ts";
import { adamwStep, sgdStep } from "../../lib/ops/optim.ts";
import { adamwStepMulti, multiSlots, sgdStepMulti } from "../../lib/ops/optim_multi.ts";
import { randArray, rng } from "../_reference/rng.ts";

// 37 tensors of mixed sizes (1 element, not a multiple of 256, several workgroups, also at 16
// elements per thread): more than one chunk of slots, so chunking and the per-tensor workgroup
// offsets are exercised.
const SIZES = Array.from(
  { length: 37 },
  (_, i) => [1, 3, 255, 256, 257, 700, 1500, 9000][i % 8] + i,
);

function tensors(seed: number, n: number): Float32Array[] {
  const r = rng(seed);
  return SIZES.slice(0, n).map((s) => Float32Array.from(randArray(r, s, -1, 1)));
}

async function readAll(ts: RawTensor[]): Promise<Float32Array[]> {
  return (await getGpu().readMany(ts)) as Float32Array[];
}

function bitsEqual(a: Float32Array[], b: Float32Array[], what: string): void {
  for (let i = 0; i < a.length; i++) {
    const ua = new Uint32Array(a[i].buffer), ub = new Uint32Array(b[i].buffer);
    for (let j = 0; j < ua.length; j++) {
      if (ua[j] !== ub[j]) {
        throw new Error(`${what}: tensor ${i} element ${j}: ${a[i][j]} (per tensor) vs ${b[i][j]}`);
      }
    }
  }
}

gpuTest(
  "multi-tensor SGD is bit-identical to the per-tensor kernel, in ⌈n / slots⌉ dispatches",
  async () => {
    const gpu = getGpu();
    const n = SIZES.length;
    const up = (a: Float32Array) => gpu.upload(a, [a.length], "f32");
    const p0 = tensors(1, n), g0 = tensors(2, n), g1 = tensors(3, n);
    // per tensor: groups alternate lr / wd / nesterov / dampening, a third has no momentum
    const opts = (i: number, first: boolean) => ({
      lr: [0.1, 0.01, 0.003][i % 3],
      momentum: i % 3 === 2 ? 0 : 0.9,
      dampening: i % 5 === 1 ? 0.1 : 0,
      weightDecay: i % 2 ? 1e-4 : 0,
      nesterov: i % 5 === 0 && i % 3 !== 2,
      first,
    });
    const pa = p0.map(up), pb = p0.map(up);
    const ba = p0.map((a) => gpu.zeros([a.length], "f32")),
      bb = p0.map((a) => gpu.zeros([a.length], "f32"));
    for (const [step, grads] of [g0, g1].entries()) {
      const ga = grads.map(up);
      for (let i = 0; i < n; i++) {
        const o = opts(i, step === 0);
        sgdStep(pa[i], ga[i], o.momentum ? ba[i] : pa[i], o);
      }
      const d0 = gpu.stats().dispatches;
      sgdStepMulti(
        pb.map((p, i) => ({ param: p, grad: ga[i], buf: bb[i], o: opts(i, step === 0) })),
      );
      const nm = SIZES.filter((_, i) => i % 3 !== 2).length;
      assert.equal(
        gpu.stats().dispatches - d0,
        Math.ceil(nm / multiSlots("sgdm")) + Math.ceil((n - nm) / multiSlots("sgd")),
      );
      ga.forEach((t) => t.release());
    }
    bitsEqual(await readAll(pa), await readAll(pb), "SGD params");
    bitsEqual(await readAll(ba), await readAll(bb), "SGD momentum buffers");
    for (const t of [...pa, ...pb, ...ba, ...bb]) t.release();
  },
);

gpuTest("multi-tensor AdamW is bit-identical to the per-tensor kernel", async () => {
  const gpu = getGpu();
  const n = SIZES.length;
  const up = (a: Float32Array) => gpu.upload(a, [a.length], "f32");
  const p0 = tensors(4, n);
  const z = () => p0.map((a) => gpu.zeros([a.length], "f32"));
  const pa = p0.map(up), pb = p0.map(up), ma = z(), mb = z(), va = z(), vb = z();
  for (let step = 1; step <= 3; step++) {
    const ga = tensors(10 + step, n).map(up);
    const opts = (i: number) => ({
      lr: i % 2 ? 3e-3 : 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: i % 3 ? 1e-4 : 0.05,
      step,
    });
    for (let i = 0; i < n; i++) adamwStep(pa[i], ga[i], ma[i], va[i], opts(i));
    const d0 = gpu.stats().dispatches;
    adamwStepMulti(pb.map((p, i) => ({ param: p, grad: ga[i], m: mb[i], v: vb[i], o: opts(i) })));
    assert.equal(gpu.stats().dispatches - d0, Math.ceil(n / multiSlots("adamw")));
    ga.forEach((t) => t.release());
  }
  bitsEqual(await readAll(pa), await readAll(pb), "AdamW params");
  bitsEqual(await readAll(ma), await readAll(mb), "AdamW exp_avg");
  bitsEqual(await readAll(va), await readAll(vb), "AdamW exp_avg_sq");
  for (const t of [...pa, ...pb, ...ma, ...mb, ...va, ...vb]) t.release();
});
