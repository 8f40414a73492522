/**
 * Loads the PyTorch model fixtures written by `tools/gen_model_fixtures.py`
 * (`tests/fixtures/models/*.safetensors`): the state dict (stored as float16, widened to f32;
 * int64 `num_batches_tracked` narrowed to i32) and the `_`-prefixed reference entries
 * (`_input`, `_out.backbone.0`, `_out.neck.0`, `_out.cls.0`, `_out.reg.0`, `_grad.<param>`, …).
 */
import type { HostTensor } from "../../lib/nn/module.ts";
import { decodeSafetensors, type SafetensorsTensor } from "../../lib/utils/safetensors.ts";

/** A decoded model fixture. */
export interface ModelFixture {
  /** The PyTorch state dict under mmdet names, ready for `loadStateDict`. */
  stateDict: Record<string, HostTensor>;
  /** Reference entries by name without the leading `_`. */
  ref: Record<string, { shape: number[]; data: Float32Array }>;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function toHost(t: SafetensorsTensor): HostTensor {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (t.dtype === "F32") {
    return { dtype: "f32", shape: t.shape, data: Float32Array.from(t.data as Float32Array) };
  }
  if (t.dtype === "F16") {
    const out = new Float32Array(n);
    (t.data as Uint16Array).forEach((h, i) => (out[i] = halfToFloat(h)));
    return { dtype: "f32", shape: t.shape, data: out };
  }
  if (t.dtype === "I64") {
    return { dtype: "i32", shape: t.shape, data: Int32Array.from(t.data as BigInt64Array, Number) };
  }
  throw new TypeError(`Cannot load fixture tensor of dtype ${t.dtype}`);
}

/** Reads `tests/fixtures/models/<name>.safetensors`. */
export async function loadModelFixture(name: string): Promise<ModelFixture> {
  const url = new URL(`../fixtures/models/${name}.safetensors`, import.meta.url);
  const file = decodeSafetensors(await Deno.readFile(url), name);
  const stateDict: Record<string, HostTensor> = {};
  const ref: ModelFixture["ref"] = {};
  for (const [k, t] of Object.entries(file.tensors)) {
    const h = toHost(t);
    if (k.startsWith("_")) ref[k.slice(1)] = { shape: h.shape, data: h.data as Float32Array };
    else stateDict[k] = h;
  }
  return { stateDict, ref };
}

/**
 * The fixed weights of the fixture's scalar `Σ w·out` (see `weight_pattern` in the generator):
 * `w[i] = sin(0.5 + 0.37·i + 1.1·level)` for cls outputs, `cos(…)` for reg outputs, in f32.
 */
export function weightPattern(size: number, level: number, kind: "cls" | "reg"): Float32Array {
  const w = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const t = 0.5 + 0.37 * i + 1.1 * level;
    w[i] = kind === "cls" ? Math.sin(t) : Math.cos(t);
  }
  return w;
}

/** `atol` for comparing against a reference: `rel` times the largest magnitude of `ref`. */
export function scaledAtol(ref: ArrayLike<number>, rel = 1e-4): number {
  let m = 0;
  for (let i = 0; i < ref.length; i++) m = Math.max(m, Math.abs(ref[i]));
  return rel * m;
}
