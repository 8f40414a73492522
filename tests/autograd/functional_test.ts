import * as F from "../../lib/autograd/mod.ts";
import { assert } from "../_assert.ts";
import { getGpu } from "../../lib/gpu/runtime.ts";
import { Tensor, tidy } from "../../lib/autograd/tensor.ts";
import { backward } from "../../lib/autograd/tape.ts";
import { gpuTest } from "../_gpu.ts";
import { gradcheck } from "../_gradcheck.ts";
import * as R from "../_reference/prims.ts";
import { randArray, rng } from "../_reference/rng.ts";

const r = rng(1234);

// Shapes chosen to include broadcasting, odd sizes, and sizes that do not divide a workgroup (256).
const BINARY_CASES: [number[], number[]][] = [
  [[3, 5], [3, 5]],
  [[2, 3, 7], [7]],
  [[4, 1, 3], [1, 5, 1]],
  [[257], [1]],
  [[1], [2, 3]],
];

const binaryOps: [
  string,
  (a: F.Tensor, b: F.Tensor) => F.Tensor,
  (x: number, y: number) => number,
  [number, number]?,
][] = [
  ["add", F.add, (x, y) => x + y],
  ["sub", F.sub, (x, y) => x - y],
  ["mul", F.mul, (x, y) => x * y],
  ["div", F.div, (x, y) => x / y, [0.5, 2]],
  ["maximum", F.maximum, (x, y) => Math.max(x, y)],
  ["addRelu", F.addRelu, (x, y) => Math.max(x + y, 0)],
];

for (const [name, gpuFn, refFn, range] of binaryOps) {
  gpuTest(
    `${name}() matches the float64 reference and finite differences with broadcasting`,
    async () => {
      for (const [sa, sb] of BINARY_CASES) {
        const [lo, hi] = range ?? [-1, 1];
        const a = randArray(r, R.size(sa), lo, hi), b = randArray(r, R.size(sb), lo, hi);
        await gradcheck(`${name} ${JSON.stringify([sa, sb])}`, {
          inputs: [{ shape: sa, data: a }, { shape: sb, data: b }],
          gpu: ([x, y]) => gpuFn(x, y),
          ref: ([x, y]) => R.binary(x, sa, y, sb, refFn),
        });
      }
    },
  );
}

const unaryOps: [string, (x: F.Tensor) => F.Tensor, (x: number) => number, [number, number]?][] = [
  ["neg", F.neg, (x) => -x],
  ["exp", F.exp, Math.exp],
  ["log", F.log, Math.log, [0.2, 3]],
  ["sigmoid", F.sigmoid, R.sigmoid, [-6, 6]],
  ["relu", F.relu, (x) => Math.max(x, 0)],
  ["abs", F.abs, Math.abs],
  ["sqrt", F.sqrt, Math.sqrt, [0.2, 3]],
  ["addScalar", (x) => F.addScalar(x, 2.5), (x) => x + 2.5],
  ["mulScalar", (x) => F.mulScalar(x, -3), (x) => -3 * x],
  ["powScalar", (x) => F.powScalar(x, 3), (x) => x ** 3],
  ["clamp", (x) => F.clamp(x, -0.5, 0.4), (x) => Math.min(Math.max(x, -0.5), 0.4)],
  ["clone", F.clone, (x) => x],
];

for (const [name, gpuFn, refFn, range] of unaryOps) {
  gpuTest(`${name}() matches the float64 reference and finite differences`, async () => {
    for (const shape of [[7], [3, 300], [2, 1, 5]]) {
      const [lo, hi] = range ?? [-2, 2];
      // keep values away from kinks (relu/abs at 0, clamp bounds) so finite differences are valid
      const x = randArray(r, R.size(shape), lo, hi).map((v) => (Math.abs(v) < 0.02 ? v + 0.05 : v));
      await gradcheck(`${name} ${JSON.stringify(shape)}`, {
        inputs: [{
          shape,
          data: x.map((v) => (Math.abs(v - 0.4) < 0.01 || Math.abs(v + 0.5) < 0.01 ? v + 0.03 : v)),
        }],
        gpu: ([t]) => gpuFn(t),
        ref: ([t]) => R.unary(t, refFn),
      });
    }
  });
}

gpuTest("sigmoid() stays finite and exact for |x| ≥ 30", async () => {
  const x = F.Tensor.from([-80, -30, 30, 80], [4]);
  const y = await F.sigmoid(x).toArray();
  const ref = [R.sigmoid(-80), R.sigmoid(-30), 1, 1];
  for (let i = 0; i < 4; i++) {
    if (
      !Number.isFinite(y[i]) ||
      Math.abs(y[i] - ref[i]) > 1e-7 * Math.max(1, Math.abs(ref[i])) + 1e-38
    ) {
      throw new Error(`sigmoid(${[-80, -30, 30, 80][i]}) = ${y[i]}, expected ${ref[i]}`);
    }
  }
});

const reduceCases: [number[], number[] | undefined, boolean][] = [
  [[3, 5], [1], false],
  [[3, 5], [0], true],
  [[2, 3, 4], [0, 2], false],
  [[4, 3, 2], undefined, false],
  [[1, 4500], [1], false], // multi-pass reduction
];

gpuTest("sum() over axes matches the reference and finite differences", async () => {
  for (const [shape, axes, keep] of reduceCases) {
    const ax = axes ?? shape.map((_, i) => i);
    await gradcheck(`sum ${JSON.stringify([shape, axes])}`, {
      inputs: [{ shape, data: randArray(r, R.size(shape)) }],
      gpu: ([t]) => F.sum(t, axes, keep),
      ref: ([t]) => R.reduce(t, shape, ax, (a, x) => a + x, 0),
      atol: 1e-3,
    });
  }
});

gpuTest("mean() over axes matches the reference and finite differences", async () => {
  for (const [shape, axes, keep] of reduceCases.slice(0, 4)) {
    const ax = axes ?? shape.map((_, i) => i);
    const n = ax.reduce((a, i) => a * shape[i], 1);
    await gradcheck(`mean ${JSON.stringify([shape, axes])}`, {
      inputs: [{ shape, data: randArray(r, R.size(shape)) }],
      gpu: ([t]) => F.mean(t, axes, keep),
      ref: ([t]) => R.reduce(t, shape, ax, (a, x) => a + x, 0).map((v) => v / n),
    });
  }
});

gpuTest("max() over axes matches the reference and finite differences", async () => {
  for (const [shape, axes, keep] of reduceCases.slice(0, 4)) {
    const ax = axes ?? shape.map((_, i) => i);
    await gradcheck(`max ${JSON.stringify([shape, axes])}`, {
      inputs: [{ shape, data: randArray(r, R.size(shape)) }],
      gpu: ([t]) => F.max(t, axes, keep),
      ref: ([t]) => R.reduce(t, shape, ax, (a, x) => Math.max(a, x), -Infinity),
    });
  }
});

gpuTest(
  "matmul() matches the reference and finite differences, with transposes and batches",
  async () => {
    const cases: {
      b: number;
      m: number;
      k: number;
      n: number;
      tA: boolean;
      tB: boolean;
      aB: boolean;
      bB: boolean;
    }[] = [
      { b: 1, m: 3, k: 4, n: 5, tA: false, tB: false, aB: false, bB: false },
      { b: 1, m: 67, k: 17, n: 65, tA: false, tB: true, aB: false, bB: false },
      { b: 1, m: 5, k: 3, n: 4, tA: true, tB: false, aB: false, bB: false },
      { b: 1, m: 5, k: 3, n: 4, tA: true, tB: true, aB: false, bB: false },
      { b: 3, m: 4, k: 5, n: 6, tA: false, tB: false, aB: true, bB: true },
      { b: 2, m: 4, k: 5, n: 3, tA: false, tB: false, aB: true, bB: false },
      { b: 2, m: 4, k: 5, n: 3, tA: false, tB: true, aB: false, bB: true },
    ];
    for (const c of cases) {
      const as = c.aB
        ? [c.b, ...(c.tA ? [c.k, c.m] : [c.m, c.k])]
        : (c.tA ? [c.k, c.m] : [c.m, c.k]);
      const bs = c.bB
        ? [c.b, ...(c.tB ? [c.n, c.k] : [c.k, c.n])]
        : (c.tB ? [c.n, c.k] : [c.k, c.n]);
      await gradcheck(`matmul ${JSON.stringify(c)}`, {
        inputs: [{ shape: as, data: randArray(r, R.size(as)) }, {
          shape: bs,
          data: randArray(r, R.size(bs)),
        }],
        gpu: ([a, b]) => F.matmul(a, b, { transA: c.tA, transB: c.tB }),
        ref: ([a, b]) =>
          R.matmul(a, b, c.aB || c.bB ? c.b : 1, c.m, c.k, c.n, {
            transA: c.tA,
            transB: c.tB,
            aBatched: c.aB,
            bBatched: c.bB,
          }),
        atol: 1e-3,
      });
    }
  },
);

gpuTest("permute() and transpose() match the reference and finite differences", async () => {
  const shape = [2, 3, 4, 5];
  for (const dims of [[0, 2, 3, 1], [3, 2, 1, 0], [1, 0, 2, 3]]) {
    await gradcheck(`permute ${dims}`, {
      inputs: [{ shape, data: randArray(r, R.size(shape)) }],
      gpu: ([t]) => F.permute(t, dims),
      ref: ([t]) => R.permute(t, shape, dims),
    });
  }
  await gradcheck("transpose", {
    inputs: [{ shape: [3, 7], data: randArray(r, 21) }],
    gpu: ([t]) => F.transpose(t),
    ref: ([t]) => R.permute(t, [3, 7], [1, 0]),
  });
});

gpuTest("reshape() shares the buffer and passes gradients through", async () => {
  await gradcheck("reshape", {
    inputs: [{ shape: [2, 6], data: randArray(r, 12) }],
    gpu: ([t]) => F.mul(F.reshape(t, [3, -1]), F.reshape(t, [3, 4])),
    ref: ([t]) => t.map((v) => v * v),
  });
});

gpuTest("slice() and concat() match the reference and finite differences", async () => {
  const shape = [3, 4, 5];
  await gradcheck("slice", {
    inputs: [{ shape, data: randArray(r, 60) }],
    gpu: ([t]) => F.slice(t, [1, 0, 2], [3, 3, 5]),
    ref: ([t]) => R.slice(t, shape, [1, 0, 2], [3, 3, 5]),
  });
  const shapes = [[2, 3, 4], [2, 1, 4], [2, 5, 4]];
  await gradcheck("concat", {
    inputs: shapes.map((s) => ({ shape: s, data: randArray(r, R.size(s)) })),
    gpu: (ts) => F.concat(ts, 1),
    ref: (xs) => R.concat(xs, shapes, 1),
  });
});

gpuTest(
  "gather() matches the reference, and repeated indices accumulate in its gradient",
  async () => {
    const shape = [3, 6, 2];
    const idx = [5, 0, 0, 3, 5, 5];
    await gradcheck("gather", {
      inputs: [{ shape, data: randArray(r, 36) }, {
        shape: [6],
        data: Float32Array.from(idx),
        noGrad: true,
        dtype: "i32",
      }],
      gpu: ([t, i]) => F.gather(t, i, 1),
      ref: ([t]) => R.gather(t, shape, idx, 1),
    });
  },
);

gpuTest(
  "relu gradient: one dispatch, 0 where x ≤ 0 even for non-finite upstream gradients",
  async () => {
    const gpu = getGpu();
    const xs = [-2, -0, 0, 1e-30, 3, -1, 2, 0.5];
    const up = [1, 2, 3, 4, 5, NaN, Infinity, -7];
    const { gx, dispatches } = tidy(() => {
      const x = Tensor.from(xs, [2, 4], { requiresGrad: true });
      const y = F.relu(x);
      const d0 = gpu.stats().dispatches;
      backward(y, Tensor.from(up, [2, 4]));
      return { gx: x.grad!, dispatches: gpu.stats().dispatches - d0 };
    });
    assert.equal(dispatches, 1);
    assert.deepEqual(Array.from(await gx.toArray()), [0, 0, 0, 4, 5, 0, Infinity, -7]);
    gx.dispose();
  },
);
