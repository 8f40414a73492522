/**
 * mmcv's weight initialisation functions (`normal_init`, `xavier_init`, `kaiming_init`,
 * `constant_init`, `uniform_init`, `bias_init_with_prob`) and PyTorch's default layer init.
 *
 * Values are drawn on the CPU from one process-wide seeded generator ({@linkcode setSeed}) and
 * uploaded, so that a seed reproduces a model exactly on any adapter. {@linkcode skipInit} builds
 * modules without drawing anything (parameters keep their constructor fill), for models whose
 * weights are loaded right after construction and for parameter counting.
 *
 * @module
 */
import type { Tensor } from "../autograd/tensor.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape } from "../gpu/raw_tensor.ts";
import { Rng } from "../utils/rng.ts";

let rng = new Rng(0);
let skipping = 0;

/** Reseeds the generator every init function draws from (default seed 0). */
export function setSeed(seed: number): void {
  rng = new Rng(seed);
}

/** The generator the init functions draw from (for layers that draw their own values). */
export function initRng(): Rng {
  return rng;
}

/**
 * Runs `fn` (typically a model constructor) with every init function turned into a no-op:
 * parameters keep the fill their constructor gave them (zeros, BN weight ones). Use it before
 * `loadStateDict`, or to count parameters cheaply.
 */
export function skipInit<T>(fn: () => T): T {
  skipping++;
  try {
    return fn();
  } finally {
    skipping--;
  }
}

/** Whether init functions are currently skipped (inside {@linkcode skipInit}). */
export function isInitSkipped(): boolean {
  return skipping > 0;
}

/** A layer with a weight and an optional bias (`Conv2d`, `BatchNorm2d`, `GroupNorm`). */
export interface WeightedLayer {
  /** The weight parameter, or null (e.g. a non-affine norm). */
  readonly weight: Tensor | null;
  /** The bias parameter, or null when the layer has none. */
  readonly bias: Tensor | null;
}

/** Overwrites the contents of `t` with `data` (an upload and a buffer copy; no readback). */
export function assignTensor(t: Tensor, data: Float32Array): void {
  if (data.length !== t.size) {
    throw new TypeError(
      `Cannot assign ${data.length} values to tensor ${fmtShape(t.shape)} of ${t.size} elements`,
    );
  }
  if (t.size === 0) return;
  const gpu = getGpu();
  const tmp = gpu.upload(data, t.shape, t.dtype, "init");
  gpu.copy(tmp, 0, t.raw, 0, t.raw.byteLength);
  tmp.release();
}

/**
 * Fan-in and fan-out of a weight as PyTorch computes them: for `[O, I, k…]`, fan_in = I·∏k and
 * fan_out = O·∏k; for `[O, I]`, I and O.
 */
export function calculateFans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) {
    throw new TypeError(
      `Cannot compute fan in and fan out of a weight of shape ${
        fmtShape(shape)
      }: it needs at least 2 dimensions`,
    );
  }
  const rf = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * rf, fanOut: shape[0] * rf };
}

/** Nonlinearities known to {@linkcode calculateGain}. */
export type Nonlinearity = "linear" | "conv2d" | "sigmoid" | "tanh" | "relu" | "leaky_relu";

/** PyTorch's `calculate_gain`: the recommended gain of a nonlinearity (`a` = leaky slope). */
export function calculateGain(nonlinearity: Nonlinearity, a = 0): number {
  switch (nonlinearity) {
    case "linear":
    case "conv2d":
    case "sigmoid":
      return 1;
    case "tanh":
      return 5 / 3;
    case "relu":
      return Math.SQRT2;
    case "leaky_relu":
      return Math.sqrt(2 / (1 + a * a));
    default:
      throw new RangeError(
        `Cannot compute the gain of nonlinearity "${nonlinearity}": use linear, conv2d, sigmoid, tanh, relu or leaky_relu`,
      );
  }
}

function fillNormal(n: number, mean: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal(mean, std);
  return out;
}

function fillUniform(n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform(lo, hi);
  return out;
}

function setBias(m: WeightedLayer, bias: number): void {
  if (m.bias && !skipping) assignTensor(m.bias, new Float32Array(m.bias.size).fill(bias));
}

function needWeight(m: WeightedLayer, fn: string): Tensor {
  if (!m.weight) throw new TypeError(`Cannot apply ${fn}: the layer has no weight`);
  return m.weight;
}

/** mmcv `constant_init`: weight = `val`, bias = `opts.bias` (default 0). */
export function constantInit(m: WeightedLayer, val: number, opts: { bias?: number } = {}): void {
  if (skipping) return;
  if (m.weight) assignTensor(m.weight, new Float32Array(m.weight.size).fill(val));
  setBias(m, opts.bias ?? 0);
}

/** mmcv `normal_init`: weight ~ N(mean, std²), bias = `bias`. */
export function normalInit(
  m: WeightedLayer,
  opts: { mean?: number; std?: number; bias?: number } = {},
): void {
  if (skipping) return;
  const w = needWeight(m, "normalInit");
  assignTensor(w, fillNormal(w.size, opts.mean ?? 0, opts.std ?? 1));
  setBias(m, opts.bias ?? 0);
}

/** mmcv `uniform_init`: weight ~ U(a, b), bias = `bias`. */
export function uniformInit(
  m: WeightedLayer,
  opts: { a?: number; b?: number; bias?: number } = {},
): void {
  if (skipping) return;
  const w = needWeight(m, "uniformInit");
  assignTensor(w, fillUniform(w.size, opts.a ?? 0, opts.b ?? 1));
  setBias(m, opts.bias ?? 0);
}

/**
 * mmcv `xavier_init`: uniform → U(−a, a) with a = gain·√(6/(fan_in+fan_out)); normal →
 * N(0, gain²·2/(fan_in+fan_out)). Bias = `bias` (default 0).
 */
export function xavierInit(
  m: WeightedLayer,
  opts: { gain?: number; bias?: number; distribution?: "uniform" | "normal" } = {},
): void {
  if (skipping) return;
  const w = needWeight(m, "xavierInit");
  const { fanIn, fanOut } = calculateFans(w.shape);
  const gain = opts.gain ?? 1;
  const dist = opts.distribution ?? "normal";
  if (dist === "uniform") {
    const a = gain * Math.sqrt(6 / (fanIn + fanOut));
    assignTensor(w, fillUniform(w.size, -a, a));
  } else if (dist === "normal") {
    assignTensor(w, fillNormal(w.size, 0, gain * Math.sqrt(2 / (fanIn + fanOut))));
  } else {
    throw new RangeError(
      `Cannot apply xavierInit: distribution "${dist}" is not "uniform" or "normal"`,
    );
  }
  setBias(m, opts.bias ?? 0);
}

/** Options of {@linkcode kaimingInit} (mmcv's defaults: a 0, fan_out, relu, normal, bias 0). */
export interface KaimingInitOptions {
  /** Negative slope for `leaky_relu` (default 0). */
  a?: number;
  /** Use the fan of the input or the output (default "fan_out"). */
  mode?: "fan_in" | "fan_out";
  /** Nonlinearity the gain is computed for (default "relu"). */
  nonlinearity?: Nonlinearity;
  /** Constant the bias is filled with (default 0). */
  bias?: number;
  /** Draw from a normal (default) or uniform distribution. */
  distribution?: "uniform" | "normal";
}

/**
 * mmcv `kaiming_init`: std = gain/√fan (normal) or bound = gain·√(3/fan) (uniform), with
 * gain = `calculateGain(nonlinearity, a)` and fan chosen by `mode`.
 */
export function kaimingInit(m: WeightedLayer, opts: KaimingInitOptions = {}): void {
  if (skipping) return;
  const w = needWeight(m, "kaimingInit");
  const { fanIn, fanOut } = calculateFans(w.shape);
  const mode = opts.mode ?? "fan_out";
  if (mode !== "fan_in" && mode !== "fan_out") {
    throw new RangeError(`Cannot apply kaimingInit: mode "${mode}" is not "fan_in" or "fan_out"`);
  }
  const fan = mode === "fan_in" ? fanIn : fanOut;
  const gain = calculateGain(opts.nonlinearity ?? "relu", opts.a ?? 0);
  const dist = opts.distribution ?? "normal";
  if (dist === "uniform") {
    const bound = gain * Math.sqrt(3 / fan);
    assignTensor(w, fillUniform(w.size, -bound, bound));
  } else if (dist === "normal") {
    assignTensor(w, fillNormal(w.size, 0, gain / Math.sqrt(fan)));
  } else {
    throw new RangeError(
      `Cannot apply kaimingInit: distribution "${dist}" is not "uniform" or "normal"`,
    );
  }
  setBias(m, opts.bias ?? 0);
}

/**
 * PyTorch's default init of `Conv2d`/`Linear` (`reset_parameters`): weight ~ U(−b, b) with
 * b = 1/√fan_in (kaiming-uniform with a = √5), bias ~ U(−1/√fan_in, 1/√fan_in).
 */
export function defaultConvInit(m: WeightedLayer): void {
  if (skipping) return;
  const w = needWeight(m, "defaultConvInit");
  const { fanIn } = calculateFans(w.shape);
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  assignTensor(w, fillUniform(w.size, -bound, bound));
  if (m.bias) assignTensor(m.bias, fillUniform(m.bias.size, -bound, bound));
}

/**
 * mmcv `bias_init_with_prob`: the bias whose sigmoid is `priorProb`, −ln((1 − p)/p).
 *
 * @example
 * ```ts
 * import { biasInitWithProb } from "./init.ts";
 * biasInitWithProb(0.01); // −4.59511985013459
 * ```
 */
export function biasInitWithProb(priorProb: number): number {
  if (!(priorProb > 0 && priorProb < 1)) {
    throw new RangeError(
      `Cannot compute biasInitWithProb(${priorProb}): the prior probability must lie in (0, 1)`,
    );
  }
  return -Math.log((1 - priorProb) / priorProb);
}
