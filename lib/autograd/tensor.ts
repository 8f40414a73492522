/**
 * `Tensor`: a GPU tensor that can take part in automatic differentiation.
 *
 * @module
 */
import { getGpu } from "../gpu/runtime.ts";
import { type DType, fmtShape, type HostArray, type RawTensor } from "../gpu/raw_tensor.ts";

/** A recorded primitive: the op name, its inputs, and whatever its gradient entry needs. */
export interface GradNode {
  /** Name of the primitive, the key of its gradient-table entry. */
  op: string;
  /** The primitive's tensor inputs, in argument order. */
  inputs: Tensor[];
  /** Whatever the gradient entry needs from the forward (saved tensors, shapes, options). */
  // deno-lint-ignore no-explicit-any
  ctx: Record<string, any>;
}

/** Options for creating tensors. */
export interface TensorOptions {
  /** Element type (default: inferred from the data for `from`, f32 for `zeros`). */
  dtype?: DType;
  /** Whether gradients are accumulated into this tensor (default false). */
  requiresGrad?: boolean;
  /** GPU buffer label, shown in WebGPU error messages. */
  label?: string;
  /**
   * Bytes the buffer holds at least (default: the elements' own). Conv2d's weight asks for 64 KiB
   * past its elements, so that the direct kernels bind their uniform windows on it with no copy.
   */
  minBytes?: number;
}

/**
 * A GPU tensor (NCHW f32 by default). Creation is immediate; the data lives in a pooled GPU buffer;
 * `await t.toArray()` is the only way to read it (and the only synchronisation point).
 *
 * @example
 * ```ts
 * import { initGpu, Tensor } from "../../mod.ts";
 * await initGpu();
 * const t = Tensor.from([1, 2, 3, 4], [2, 2], { requiresGrad: true });
 * const v = await t.toArray(); // Float32Array [1, 2, 3, 4]
 * if (v.join() !== "1,2,3,4") throw new Error(`read ${v}`);
 * ```
 */
export class Tensor {
  /** The data. */
  readonly raw: RawTensor;
  /** Whether gradients flow to (and are stored on) this tensor. */
  requiresGrad: boolean;
  /** The accumulated gradient after `backward()`, if `requiresGrad`. */
  grad: Tensor | null = null;
  /** The primitive that produced this tensor, when it was recorded on the tape. */
  node: GradNode | null = null;
  /** Marks the tensor as a lazily read scalar for the runner's log buffer. */
  readonly lazyScalar = true as const;

  /** Wraps a GPU tensor; most code creates tensors with `Tensor.from` / `Tensor.zeros` instead. */
  constructor(raw: RawTensor, requiresGrad = false) {
    this.raw = raw;
    this.requiresGrad = requiresGrad;
  }

  /** The shape. */
  get shape(): readonly number[] {
    return this.raw.shape;
  }
  /** The element type. */
  get dtype(): DType {
    return this.raw.dtype;
  }
  /** Number of elements. */
  get size(): number {
    return this.raw.size;
  }
  /** Whether the tensor was disposed. */
  get disposed(): boolean {
    return this.raw.released;
  }

  /** A tensor holding a copy of `data` with `shape`. */
  static from(data: ArrayLike<number>, shape: readonly number[], opts: TensorOptions = {}): Tensor {
    const raw = getGpu().upload(data, shape, opts.dtype ?? inferDType(data), opts.label);
    return new Tensor(raw, opts.requiresGrad ?? false);
  }

  /** A tensor of zeros. */
  static zeros(shape: readonly number[], opts: TensorOptions = {}): Tensor {
    return new Tensor(
      getGpu().zeros(shape, opts.dtype ?? "f32", opts.label, opts.minBytes),
      opts.requiresGrad ?? false,
    );
  }

  /** Reads the data back. */
  async toArray(): Promise<HostArray> {
    return await getGpu().read(this.raw);
  }

  /** Reads a one-element tensor back as a number. */
  async item(): Promise<number> {
    if (this.size !== 1) {
      throw new TypeError(
        `Cannot read tensor ${fmtShape(this.shape)} as a number: it has ${this.size} elements`,
      );
    }
    return (await this.toArray())[0];
  }

  /** A tensor sharing the data but cut from the tape. */
  detach(): Tensor {
    return new Tensor(getGpu().view(this.raw, this.shape), false);
  }

  /** Releases the data (and the gradient). Idempotent. */
  dispose(): void {
    this.raw.release();
    this.grad?.dispose();
    this.grad = null;
    this.node = null;
  }

  /** A short description for messages. */
  toString(): string {
    return `Tensor(${fmtShape(this.shape)}, ${this.dtype}${
      this.requiresGrad ? ", requiresGrad" : ""
    })`;
  }
}

function inferDType(data: ArrayLike<number>): DType {
  if (data instanceof Int32Array) return "i32";
  if (data instanceof Uint32Array) return "u32";
  return "f32";
}

// deno-lint-ignore no-explicit-any
function collectRaws(v: any, out: Set<RawTensor>, seen: Set<unknown>): void {
  if (v === null || typeof v !== "object" || seen.has(v)) return;
  seen.add(v);
  if (v instanceof Tensor) {
    out.add(v.raw);
    if (v.grad) out.add(v.grad.raw);
    return;
  }
  if (Array.isArray(v)) { for (const x of v) collectRaws(x, out, seen); }
  else if (v instanceof Map) { for (const x of v.values()) collectRaws(x, out, seen); }
  else if (Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) collectRaws(x, out, seen);
  }
}

/**
 * Runs `fn` in a memory scope: every tensor created inside is released at the end unless it is
 * returned (tensors anywhere inside the returned arrays/plain objects) or passed to `keep`.
 */
export function tidy<T>(fn: () => T): T {
  const gpu = getGpu();
  gpu.beginScope();
  let result: T;
  try {
    result = fn();
  } catch (e) {
    gpu.endScope();
    throw e;
  }
  const keep = new Set<RawTensor>();
  collectRaws(result, keep, new Set());
  gpu.endScope(keep);
  return result;
}

/** Exempts `t` (and its gradient) from the enclosing `tidy` scopes. Returns `t`. */
export function keep<T extends Tensor>(t: T): T {
  const gpu = getGpu();
  gpu.keep(t.raw);
  if (t.grad) gpu.keep(t.grad.raw);
  return t;
}
