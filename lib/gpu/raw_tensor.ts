/**
 * `RawTensor`: a shaped view of a pooled GPU buffer, the currency of `lib/ops`. It has no autograd;
 * `lib/autograd/tensor.ts` wraps it.
 *
 * @module
 */
import type { PooledBuffer } from "./pool.ts";

/** Element types. All are 4 bytes wide. */
export type DType = "f32" | "i32" | "u32";

/** The typed array class that holds host copies of each dtype. */
export type HostArray<D extends DType = DType> = D extends "f32" ? Float32Array<ArrayBuffer>
  : D extends "i32" ? Int32Array<ArrayBuffer>
  : Uint32Array<ArrayBuffer>;

/** Number of elements of `shape` (1 for a scalar `[]`). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of `shape`, in elements. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Formats a shape as `[2, 3, 4]` for messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Releases a buffer back to its owner (the runtime's pool). */
export interface BufferOwner {
  releaseBuffer(pb: PooledBuffer): void;
}

let nextId = 1;

/** A contiguous row-major tensor living in a GPU buffer. */
export class RawTensor {
  /** Unique id, increasing in creation order. */
  readonly id = nextId++;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
  /** Number of elements (product of `shape`). */
  readonly size: number;
  /** Buffer label, shown in WebGPU error messages. */
  readonly label: string;
  #pb: PooledBuffer | null;
  #owner: BufferOwner;

  /**
   * Wraps a pooled buffer (created by the runtime, e.g. `Gpu.empty`) and takes a reference on it;
   * throws `TypeError` for a shape with a non-integer or negative dimension.
   */
  constructor(
    pb: PooledBuffer,
    shape: readonly number[],
    dtype: DType,
    label: string,
    owner: BufferOwner,
  ) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new TypeError(
          `Cannot create tensor "${label}": shape ${
            fmtShape(shape)
          } has a dimension that is not a non-negative integer`,
        );
      }
    }
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = shapeSize(shape);
    this.label = label;
    this.#pb = pb;
    this.#owner = owner;
    pb.refs++;
  }

  /** Bytes of the tensor's elements (4 per element). */
  get byteLength(): number {
    return this.size * 4;
  }

  /** Whether `release()` has been called. */
  get released(): boolean {
    return this.#pb === null;
  }

  /** The pooled buffer; throws if released. */
  get pooled(): PooledBuffer {
    if (!this.#pb) {
      throw new ReferenceError(
        `Cannot use tensor "${this.label}" ${fmtShape(this.shape)}: it was disposed`,
      );
    }
    return this.#pb;
  }

  /** The GPU buffer; throws if released. */
  get buffer(): GPUBuffer {
    return this.pooled.buffer;
  }

  /** Drops this view; the buffer returns to the pool when no view is left. Idempotent. */
  release(): void {
    const pb = this.#pb;
    if (!pb) return;
    this.#pb = null;
    if (--pb.refs === 0) this.#owner.releaseBuffer(pb);
  }

  /** Shares the buffer (no copy) with a view of another shape of the same size. */
  shareWith(shape: readonly number[], label = this.label): RawTensor {
    if (shapeSize(shape) !== this.size) {
      throw new TypeError(
        `Cannot view tensor "${this.label}" ${fmtShape(this.shape)} as ${
          fmtShape(shape)
        }: sizes ${this.size} and ${shapeSize(shape)} differ`,
      );
    }
    return new RawTensor(this.pooled, shape, this.dtype, label, this.#owner);
  }
}
