import { assert, assertClose, type FixtureArray, loadFixture } from "../_assert.ts";
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

/** Float64 BatchNorm (training) forward and backward over NCHW. */
function bnRef64(
  x: Float32Array,
  [n, c, h, w]: number[],
  wt: Float32Array,
  bs: Float32Array,
  gy: Float32Array,
  eps: number,
) {
  const hw = h * w, cnt = n * hw;
  const y = new Float64Array(x.length), gx = new Float64Array(x.length);
  const mean = new Float64Array(c), uvar = new Float64Array(c);
  const gw = new Float64Array(c), gb = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    const idx = (i: number) => (Math.floor(i / hw) * c + ch) * hw + (i % hw);
    let s = 0;
    for (let i = 0; i < cnt; i++) s += x[idx(i)];
    const m = s / cnt;
    let v = 0;
    for (let i = 0; i < cnt; i++) v += (x[idx(i)] - m) ** 2;
    mean[ch] = m;
    uvar[ch] = v / (cnt - 1);
    const inv = 1 / Math.sqrt(v / cnt + eps);
    let sdy = 0, sdyx = 0;
    for (let i = 0; i < cnt; i++) {
      const xh = (x[idx(i)] - m) * inv;
      y[idx(i)] = xh * wt[ch] + bs[ch];
      sdy += gy[idx(i)];
      sdyx += gy[idx(i)] * xh;
    }
    gw[ch] = sdyx;
    gb[ch] = sdy;
    for (let i = 0; i < cnt; i++) {
      const xh = (x[idx(i)] - m) * inv;
      gx[idx(i)] = wt[ch] * inv * (gy[idx(i)] - sdy / cnt - xh * sdyx / cnt);
    }
  }
  return { y, gx, gw, gb, mean, uvar };
}

gpuTest(
  "batchNorm2d() one-pass statistics stay float64-accurate on offset data, across chunk layouts",
  async () => {
    // shapes: many planes per chunk; several segments per plane; one odd plane of odd length
    const shapes = [[6, 3, 9, 11], [1, 2, 130, 129], [9, 2, 60, 60]];
    let seed = 3;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (const shape of shapes) {
      const [n, c, h, w] = shape;
      const size = n * c * h * w;
      // channel ch: 1000·(ch + 1) + noise of std ~0.3: Σx² − (Σx)²/n in f32 would lose it all
      const x = new Float32Array(size), gy = new Float32Array(size);
      for (let i = 0; i < size; i++) {
        const ch = Math.floor(i / (h * w)) % c;
        x[i] = 1000 * (ch + 1) + (rnd() - 0.5);
        gy[i] = rnd() * 2 - 1;
      }
      const wt = Float32Array.from({ length: c }, (_, i) => 0.5 + i);
      const bs = Float32Array.from({ length: c }, (_, i) => i - 1);
      const ref = bnRef64(x, shape, wt, bs, gy, 1e-5);
      const rm = Tensor.from(new Float32Array(c), [c]);
      const rv = Tensor.from(new Float32Array(c).fill(1), [c]);
      const { y, grads } = tidy(() => {
        const xt = Tensor.from(x, shape, { requiresGrad: true });
        const wtt = Tensor.from(wt, [c], { requiresGrad: true });
        const bst = Tensor.from(bs, [c], { requiresGrad: true });
        const y = batchNorm2d(xt, rm, rv, wtt, bst, { training: true, momentum: 1, eps: 1e-5 });
        backward(F.sum(F.mul(y, Tensor.from(gy, shape))));
        return { y, grads: [xt.grad!, wtt.grad!, bst.grad!] };
      });
      const tag = JSON.stringify(shape);
      // x itself is f32 (ulp 6e-5 at 1000): compare with what float64 makes of the same values
      closeTo(await rm.toArray(), { data: ref.mean }, `${tag} mean`);
      assertClose(await rv.toArray(), ref.uvar, { rtol: 2e-4, atol: 0, msg: `${tag} variance` });
      assertClose(await y.toArray(), ref.y, { rtol: 0, atol: 2e-3, msg: `${tag} output` });
      assertClose(await grads[0].toArray(), ref.gx, { rtol: 0, atol: 5e-3, msg: `${tag} grad x` });
      assertClose(await grads[1].toArray(), ref.gw, {
        rtol: 1e-3,
        atol: 0.05,
        msg: `${tag} grad w`,
      });
      closeTo(await grads[2].toArray(), { data: ref.gb }, `${tag} grad b`);
      for (const t of [y, rm, rv, ...grads]) t.dispose();
    }
  },
);
