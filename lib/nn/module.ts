/**
 * `Module`: the PyTorch-style container of parameters, buffers and child modules, whose dotted
 * names (`backbone.layer1.0.conv1.weight`) are mmdetection's state-dict keys.
 *
 * @module
 */
import type { Tensor } from "../autograd/tensor.ts";
import { getGpu } from "../gpu/runtime.ts";
import { type DType, fmtShape, type HostArray } from "../gpu/raw_tensor.ts";

/** A host copy of one state-dict entry. */
export interface HostTensor {
  /** Element type of `data`. */
  dtype: DType;
  /** Dimensions, outermost first. */
  shape: number[];
  /** Row-major (C-order) values. */
  data: HostArray;
}

/** Options of {@linkcode Module.loadStateDict}. */
export interface LoadStateDictOptions {
  /** Require the key sets to match exactly (default true). */
  strict?: boolean;
}

/** What `loadStateDict` found. */
export interface LoadStateDictResult {
  /** Keys of the module with no entry in the state dict (left unchanged). */
  missingKeys: string[];
  /** State-dict keys that match no parameter or buffer of the module (ignored). */
  unexpectedKeys: string[];
}

/**
 * The base of every layer and model. Parameters are {@linkcode Tensor}s with `requiresGrad`;
 * buffers (BatchNorm running statistics) are tensors without gradients. Both are owned by the
 * module (created outside any `tidy` scope) and released by `dispose()`.
 */
export class Module {
  /** True in training mode (see `train()`/`eval()`). */
  training = true;
  #params = new Map<string, Tensor | null>();
  #buffers = new Map<string, Tensor | null>();
  #children = new Map<string, Module>();

  /** Registers (or replaces) a parameter under `name`. */
  registerParameter(name: string, t: Tensor | null): Tensor | null {
    if (t) {
      t.requiresGrad = true;
      getGpu().keep(t.raw);
    }
    const old = this.#params.get(name);
    if (old && old !== t) old.dispose();
    this.#params.set(name, t);
    return t;
  }

  /** Registers (or replaces) a buffer under `name`. */
  registerBuffer(name: string, t: Tensor | null): Tensor | null {
    if (t) getGpu().keep(t.raw);
    const old = this.#buffers.get(name);
    if (old && old !== t) old.dispose();
    this.#buffers.set(name, t);
    return t;
  }

  /** Registers a child module under `name` (a path segment such as `"layer1"` or `"0"`). */
  registerModule<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  /** The parameter called `name` (own, not recursive). */
  param(name: string): Tensor {
    const t = this.#params.get(name);
    if (!t) throw new ReferenceError(`Cannot find parameter "${name}" on ${this.constructor.name}`);
    return t;
  }

  /** The parameter called `name` (own, not recursive), or null when absent or registered as null. */
  optionalParam(name: string): Tensor | null {
    return this.#params.get(name) ?? null;
  }

  /** The buffer called `name` (own, not recursive). */
  buffer(name: string): Tensor {
    const t = this.#buffers.get(name);
    if (!t) throw new ReferenceError(`Cannot find buffer "${name}" on ${this.constructor.name}`);
    return t;
  }

  /** The direct children, in registration order. */
  children(): [string, Module][] {
    return [...this.#children.entries()];
  }

  /** Every descendant module with its dotted path (`""` for this one), depth first. */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, m] of this.#children) out.push(...m.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** Every parameter with its dotted name, in registration order (children after own). */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.#params) if (t) out.push([prefix ? `${prefix}.${n}` : n, t]);
    for (const [n, m] of this.#children) {
      out.push(...m.namedParameters(prefix ? `${prefix}.${n}` : n));
    }
    return out;
  }

  /** Every buffer with its dotted name. */
  namedBuffers(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.#buffers) if (t) out.push([prefix ? `${prefix}.${n}` : n, t]);
    for (const [n, m] of this.#children) out.push(...m.namedBuffers(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** All parameters. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Sets training mode recursively (subclasses such as ResNet re-freeze after calling super). */
  train(mode = true): this {
    this.training = mode;
    for (const [, m] of this.#children) m.train(mode);
    return this;
  }

  /** Sets evaluation mode recursively. */
  eval(): this {
    return this.train(false);
  }

  /** Parameters and buffers by dotted name (no copy: the live tensors). */
  stateTensors(): Map<string, Tensor> {
    const m = new Map<string, Tensor>();
    for (const [n, t] of this.namedParameters()) m.set(n, t);
    for (const [n, t] of this.namedBuffers()) m.set(n, t);
    return m;
  }

  /** Reads every parameter and buffer back to the host (one readback). */
  async stateDict(): Promise<Record<string, HostTensor>> {
    const entries = [...this.stateTensors().entries()];
    const datas = await getGpu().readMany(entries.map(([, t]) => t.raw));
    const out: Record<string, HostTensor> = {};
    entries.forEach((
      [n, t],
      i,
    ) => (out[n] = { dtype: t.dtype, shape: [...t.shape], data: datas[i] }));
    return out;
  }

  /**
   * Copies host tensors into parameters and buffers by name. Shape mismatches always throw;
   * missing and unexpected keys throw when `strict` (the default), and are returned otherwise.
   */
  loadStateDict(
    sd: Record<string, HostTensor>,
    opts: LoadStateDictOptions = {},
  ): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const own = this.stateTensors();
    const missingKeys = [...own.keys()].filter((k) => !(k in sd));
    const unexpectedKeys = Object.keys(sd).filter((k) => !own.has(k));
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      throw new RangeError(
        `Cannot load state dict into ${this.constructor.name}: ` +
          (missingKeys.length
            ? `missing keys: ${missingKeys.slice(0, 10).join(", ")}${
              missingKeys.length > 10 ? ` (+${missingKeys.length - 10} more)` : ""
            }`
            : "") +
          (missingKeys.length && unexpectedKeys.length ? "; " : "") +
          (unexpectedKeys.length
            ? `unexpected keys: ${unexpectedKeys.slice(0, 10).join(", ")}${
              unexpectedKeys.length > 10 ? ` (+${unexpectedKeys.length - 10} more)` : ""
            }`
            : "") +
          ": pass { strict: false } to load the matching keys only",
      );
    }
    const gpu = getGpu();
    for (const [k, t] of own) {
      const src = sd[k];
      if (!src) continue;
      const n = src.shape.reduce((a, b) => a * b, 1);
      if (
        n !== t.size || src.shape.length !== t.shape.length ||
        src.shape.some((d, i) => d !== t.shape[i])
      ) {
        throw new TypeError(
          `Cannot load "${k}": checkpoint shape ${fmtShape(src.shape)} does not match the model's ${
            fmtShape(t.shape)
          }`,
        );
      }
      const tmp = gpu.upload(src.data, t.shape, t.dtype, k);
      gpu.copy(tmp, 0, t.raw, 0, t.raw.byteLength);
      tmp.release();
    }
    return { missingKeys, unexpectedKeys };
  }

  /** Total number of parameter elements (and of those with `requiresGrad`). */
  numParameters(): { total: number; trainable: number } {
    let total = 0, trainable = 0;
    for (const [, t] of this.namedParameters()) {
      total += t.size;
      if (t.requiresGrad) trainable += t.size;
    }
    return { total, trainable };
  }

  /** Releases every parameter and buffer. */
  dispose(): void {
    for (const [, t] of this.#params) t?.dispose();
    for (const [, t] of this.#buffers) t?.dispose();
    for (const [, m] of this.#children) m.dispose();
  }
}

/** An ordered list of modules registered as `"0"`, `"1"`, … (PyTorch `nn.ModuleList`). */
export class ModuleList<M extends Module = Module> extends Module {
  /** The modules, in order. */
  readonly items: M[] = [];
  /** Registers `items` as children `"0"`, `"1"`, …. */
  constructor(items: M[] = []) {
    super();
    for (const m of items) this.push(m);
  }
  /** Appends a module. */
  push(m: M): void {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
  }
  /** Number of modules. */
  get length(): number {
    return this.items.length;
  }
}
