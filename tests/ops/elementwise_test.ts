import { assert } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { Tensor } from "../../lib/autograd/tensor.ts";
import * as ew from "../../lib/ops/elementwise.ts";

const OPS: [ew.BinaryOpName, (a: number, b: number) => number][] = [
  ["add", (a, b) => a + b],
  ["sub", (a, b) => a - b],
  ["mul", (a, b) => a * b],
  ["div", (a, b) => a / b],
  ["max", Math.max],
  ["min", Math.min],
  ["gt", (a, b) => +(a > b)],
  ["eq", (a, b) => +(a === b)],
  ["ge", (a, b) => +(a >= b)],
  ["lt", (a, b) => +(a < b)],
  ["maskPositive", (a, b) => b > 0 ? a : 0],
  ["addRelu", (a, b) => Math.max(a + b, 0)],
];

function data(n: number, seed: number): Float32Array {
  const d = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    d[i] = Math.round(((s / 2147483648) * 8 - 4) * 4) / 4; // quarter steps: ties for eq/ge
  }
  return d;
}

async function check(
  op: ew.BinaryOpName,
  f: (a: number, b: number) => number,
  sa: number[],
  sb: number[],
): Promise<void> {
  const na = sa.reduce((p, q) => p * q, 1), nb = sb.reduce((p, q) => p * q, 1);
  const da = data(na, 1), db = data(nb, 7);
  if (op === "div") { for (let i = 0; i < nb; i++) if (db[i] === 0) db[i] = 0.5; }
  const a = Tensor.from(da, sa), b = Tensor.from(db, sb);
  const out = new Tensor(ew.binary(a.raw, b.raw, op));
  const got = await out.toArray();
  const n = Math.max(na, nb);
  assert.equal(got.length, n);
  for (let i = 0; i < n; i++) {
    const want = Math.fround(f(da[i % na], db[i % nb])); // trailing broadcasts only
    if (Math.abs(got[i] - want) > 1e-6 * Math.max(1, Math.abs(want))) {
      assert.fail(`${op} [${sa}] with [${sb}] at ${i}: got ${got[i]}, expected ${want}`);
    }
  }
  for (const t of [a, b, out]) t.dispose();
}

gpuTest(
  "binary ops agree with JS on the vec4 path, the scalar path and one-value broadcasts, small and large",
  async () => {
    for (const [op, f] of OPS) {
      await check(op, f, [2, 3, 4], [2, 3, 4]); // vec4 path
      await check(op, f, [3, 5], [3, 5]); // 15 elements: scalar path
      await check(op, f, [70001], [1]); // b one value, many elements per thread
      await check(op, f, [1], [5, 7]); // a one value
      await check(op, f, [2, 3], [3]); // general broadcast
    }
    await check("add", (a, b) => a + b, [4, 64, 1031], [4, 64, 1031]); // 263,936: vec4, PER > 1
  },
);

gpuTest("unary, fill and cast cover every element of a large tensor", async () => {
  const n = 300007;
  const x = Tensor.from(data(n, 3), [n]);
  const r = new Tensor(ew.unary(x.raw, "relu"));
  const f = new Tensor(ew.full([n], 2.5));
  const c = new Tensor(ew.cast(f.raw, "i32"));
  const [xr, rr, fr, cr] = [
    await x.toArray(),
    await r.toArray(),
    await f.toArray(),
    await c.toArray(),
  ];
  for (let i = 0; i < n; i++) {
    if (rr[i] !== Math.max(xr[i], 0) || fr[i] !== 2.5 || cr[i] !== 2) {
      assert.fail(`element ${i}: relu ${rr[i]} of ${xr[i]}, fill ${fr[i]}, cast ${cr[i]}`);
    }
  }
  for (const t of [x, r, f, c]) t.dispose();
});
