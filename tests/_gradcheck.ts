/**
 * Gradient checking: the analytic gradient of a GPU primitive against central finite differences
 * of its float64 CPU reference.
 */
import { Tensor, tidy } from "../lib/autograd/tensor.ts";
import { backward } from "../lib/autograd/tape.ts";
import * as F from "../lib/autograd/functional.ts";
import { assertClose } from "./_assert.ts";
import { rng } from "./_reference/rng.ts";

/** One input of a checked function. */
export interface CheckInput {
  shape: number[];
  data: Float32Array;
  /** Inputs without gradients (e.g. indices) are passed through unchanged. */
  noGrad?: boolean;
  dtype?: "f32" | "i32";
}

/** Options of {@linkcode gradcheck}. */
export interface GradcheckOptions {
  inputs: CheckInput[];
  /** The GPU function under test. */
  gpu: (xs: Tensor[]) => Tensor;
  /** Its float64 CPU reference: inputs as Float64Arrays, returns the flat output. */
  ref: (xs: Float64Array[]) => Float64Array;
  /** Finite-difference step (float64). */
  eps?: number;
  rtol?: number;
  atol?: number;
  seed?: number;
}

/**
 * Checks the forward value against the reference, then the gradient of `Σ out·w` (random `w`)
 * with respect to every differentiable input against central differences of the reference.
 */
export async function gradcheck(name: string, o: GradcheckOptions): Promise<void> {
  const r = rng(o.seed ?? 7);
  const eps = o.eps ?? 1e-6;
  const xs64 = o.inputs.map((i) => Float64Array.from(i.data));
  const ref = o.ref(xs64);
  const w = Float64Array.from({ length: ref.length }, () => r() * 2 - 1);
  const { out, grads } = tidy(() => {
    const ts = o.inputs.map((i) =>
      Tensor.from(i.data, i.shape, { requiresGrad: !i.noGrad, dtype: i.dtype ?? "f32" })
    );
    const y = o.gpu(ts);
    const loss = F.sum(F.mul(y, Tensor.from(Float32Array.from(w), y.shape)));
    backward(loss);
    return { out: y, grads: ts.map((t) => t.grad) };
  });
  const outHost = await out.toArray();
  assertClose(outHost, ref, { rtol: o.rtol ?? 1e-4, atol: o.atol ?? 1e-5, msg: `${name} forward` });
  for (let k = 0; k < o.inputs.length; k++) {
    if (o.inputs[k].noGrad) continue;
    const g = grads[k];
    if (!g) throw new Error(`${name}: input ${k} received no gradient`);
    const gHost = await g.toArray();
    const num = new Float64Array(xs64[k].length);
    for (let i = 0; i < num.length; i++) {
      const save = xs64[k][i];
      xs64[k][i] = save + eps;
      const up = o.ref(xs64);
      xs64[k][i] = save - eps;
      const dn = o.ref(xs64);
      xs64[k][i] = save;
      let s = 0;
      for (let j = 0; j < w.length; j++) s += (up[j] - dn[j]) * w[j];
      num[i] = s / (2 * eps);
    }
    assertClose(gHost, num, {
      rtol: o.rtol ?? 1e-3,
      atol: o.atol ?? 1e-4,
      msg: `${name} gradient of input ${k}`,
    });
  }
  out.dispose();
  for (const g of grads) g?.dispose();
}
