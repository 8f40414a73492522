import { assert, assertClose, type FixtureArray, loadFixture } from "../_assert.ts";
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

/** Float64 GroupNorm (+ optional ReLU) forward and backward. */
function gnRef64(
  x: Float32Array,
  [n, c, h, w]: number[],
  groups: number,
  wt: Float32Array,
  bs: Float32Array,
  gy: Float32Array,
  relu: boolean,
) {
  const hw = h * w, cg = c / groups, len = cg * hw;
  const y = new Float64Array(x.length), gx = new Float64Array(x.length);
  const gw = new Float64Array(c), gb = new Float64Array(c);
  for (let r = 0; r < n * groups; r++) {
    const base = r * len, g = r % groups;
    let s = 0;
    for (let e = 0; e < len; e++) s += x[base + e];
    const m = s / len;
    let v = 0;
    for (let e = 0; e < len; e++) v += (x[base + e] - m) ** 2;
    const rs = 1 / Math.sqrt(v / len + 1e-5);
    const xh = (e: number) => (x[base + e] - m) * rs;
    const ch = (e: number) => g * cg + Math.floor(e / hw);
    const d = new Float64Array(len);
    for (let e = 0; e < len; e++) {
      const o = xh(e) * wt[ch(e)] + bs[ch(e)];
      y[base + e] = relu ? Math.max(o, 0) : o;
      d[e] = relu && o <= 0 ? 0 : gy[base + e];
      gw[ch(e)] += d[e] * xh(e);
      gb[ch(e)] += d[e];
    }
    let sa = 0, sb = 0;
    for (let e = 0; e < len; e++) {
      sa += d[e] * wt[ch(e)];
      sb += d[e] * wt[ch(e)] * xh(e);
    }
    for (let e = 0; e < len; e++) {
      gx[base + e] = rs * (d[e] * wt[ch(e)] - sa / len - xh(e) * sb / len);
    }
  }
  return { y, gx, gw, gb };
}

gpuTest(
  "groupNorm() with a fused ReLU matches float64 (output, gradients) for short and long rows",
  async () => {
    // rows of 2·36 values (one thread per row on a software adapter) and of 2·4,680 (a workgroup
    // per row everywhere); offset data checks the two-pass statistics
    for (const [shape, groups] of [[[3, 8, 6, 6], 4], [[2, 4, 65, 72], 2]] as const) {
      const [n, c, h, w] = shape;
      const size = n * c * h * w;
      let seed = 11;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
      const x = Float32Array.from({ length: size }, () => 300 + (rnd() - 0.5) * 2);
      const gy = Float32Array.from({ length: size }, () => rnd() * 2 - 1);
      const wt = Float32Array.from({ length: c }, (_, i) => 0.5 + 0.25 * i);
      const bs = Float32Array.from({ length: c }, (_, i) => 0.3 * i - 0.5);
      const ref = gnRef64(x, [...shape], groups, wt, bs, gy, true);
      const { y, grads } = tidy(() => {
        const xt = Tensor.from(x, [...shape], { requiresGrad: true });
        const wtt = Tensor.from(wt, [c], { requiresGrad: true });
        const bst = Tensor.from(bs, [c], { requiresGrad: true });
        const y = groupNorm(xt, groups, wtt, bst, 1e-5, "relu");
        backward(F.sum(F.mul(y, Tensor.from(gy, [...shape]))));
        return { y, grads: [xt.grad!, wtt.grad!, bst.grad!] };
      });
      const tag = JSON.stringify(shape);
      assertClose(await y.toArray(), ref.y, { rtol: 0, atol: 2e-3, msg: `${tag} output` });
      assertClose(await grads[0].toArray(), ref.gx, { rtol: 0, atol: 2e-3, msg: `${tag} grad x` });
      assertClose(await grads[1].toArray(), ref.gw, {
        rtol: 1e-3,
        atol: 0.02,
        msg: `${tag} grad w`,
      });
      assertClose(await grads[2].toArray(), ref.gb, {
        rtol: 1e-4,
        atol: 1e-3,
        msg: `${tag} grad b`,
      });
      for (const t of [y, ...grads]) t.dispose();
    }
  },
);
