/**
 * A size-bucketed pool of storage buffers. Buffers are never garbage-collected: they are released
 * explicitly into free lists and reused by later allocations of the same bucket.
 *
 * Reuse is safe without waiting for the GPU because every write into a pooled buffer is a command
 * recorded after the reads of its previous owner (dispatches and copies run in queue order). The one
 * exception, `queue.writeBuffer`, runs before unsubmitted commands; {@linkcode BufferPool.acquire}
 * with `forQueueWrite` therefore only hands out buffers that the pending encoder has not touched.
 *
 * @module
 */

/** A pooled GPU buffer and its bookkeeping. */
export class PooledBuffer {
  /** The GPU buffer (storage, uniform, copy source and destination usage). */
  readonly buffer: GPUBuffer;
  /** Bucket size in bytes (≥ the requested size). */
  readonly size: number;
  /** The runtime's flush epoch in which the buffer was last bound by a recorded command. */
  epoch: number = -1;
  /** Number of live views (`RawTensor`s) sharing the buffer. */
  refs = 0;
  /** Creation number within its pool (orders free lists, see `BufferPool.canonicalize`). */
  readonly id: number;
  /** Wraps `buffer` of bucket size `size` bytes, with no references. */
  constructor(buffer: GPUBuffer, size: number, id = 0) {
    this.buffer = buffer;
    this.size = size;
    this.id = id;
  }
}

/** Pool statistics, in bytes of bucketed buffer sizes. */
export interface PoolStats {
  /** Bytes held by live tensors. */
  bytesLive: number;
  /** Bytes sitting in free lists, ready for reuse. */
  bytesPooled: number;
  /** Highest `bytesLive` seen since the last `resetPeak()`. */
  peakBytesLive: number;
  /** Buffers created since start. */
  buffersCreated: number;
  /** Allocations served from a free list. */
  reuses: number;
}

/**
 * Rounds a byte size up to its bucket: powers of two up to 1 MiB, then eighths of the next power of
 * two (at most 12.5% waste on large activations).
 */
export function bucketSize(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
  const p = 2 ** Math.floor(Math.log2(b));
  const step = p / 8;
  return Math.ceil(b / step) * step;
}

// UNIFORM too: the direct convolution binds 64 KiB uniform windows straight from weight buffers
const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_SRC |
  GPUBufferUsage.COPY_DST;

/** The storage-buffer pool of one device. */
export class BufferPool {
  #device: GPUDevice;
  #free = new Map<number, PooledBuffer[]>();
  #stats: PoolStats = {
    bytesLive: 0,
    bytesPooled: 0,
    peakBytesLive: 0,
    buffersCreated: 0,
    reuses: 0,
  };
  #maxBufferSize: number;

  /** An empty pool for `device`; requests above `maxBufferSize` bytes throw. */
  constructor(device: GPUDevice, maxBufferSize: number) {
    this.#device = device;
    this.#maxBufferSize = maxBufferSize;
  }

  /**
   * A buffer of at least `bytes` bytes. With `forQueueWrite`, a buffer not used by commands of the
   * current (unsubmitted) epoch, so that `queue.writeBuffer` into it cannot overtake them.
   */
  acquire(bytes: number, label: string, currentEpoch: number, forQueueWrite = false): PooledBuffer {
    const size = bucketSize(bytes);
    if (size > this.#maxBufferSize) {
      throw new RangeError(
        `Cannot allocate ${label}: ${bytes} bytes exceed the device's maxBufferSize ` +
          `${this.#maxBufferSize}: reduce the batch size or the input resolution`,
      );
    }
    const list = this.#free.get(size);
    let pb: PooledBuffer | undefined;
    if (list && list.length > 0) {
      if (!forQueueWrite) pb = list.pop();
      else {
        const i = list.findIndex((b) => b.epoch < currentEpoch);
        if (i >= 0) pb = list.splice(i, 1)[0];
      }
    }
    if (pb) {
      this.#stats.bytesPooled -= size;
      this.#stats.reuses++;
    } else {
      const buffer = this.#device.createBuffer({ label, size, usage: USAGE });
      pb = new PooledBuffer(buffer, size, this.#stats.buffersCreated);
      this.#stats.buffersCreated++;
    }
    this.#stats.bytesLive += size;
    if (this.#stats.bytesLive > this.#stats.peakBytesLive) {
      this.#stats.peakBytesLive = this.#stats.bytesLive;
    }
    return pb;
  }

  /** Returns a buffer to its free list. */
  release(pb: PooledBuffer): void {
    this.#stats.bytesLive -= pb.size;
    this.#stats.bytesPooled += pb.size;
    let list = this.#free.get(pb.size);
    if (!list) this.#free.set(pb.size, list = []);
    list.push(pb);
  }

  /**
   * Destroys pooled (free) buffers until at most `keepBytes` stay pooled. Only call right after a
   * flush: a destroyed buffer must not be referenced by unsubmitted commands.
   */
  trim(keepBytes = 0): void {
    const sizes = [...this.#free.keys()].sort((a, b) => b - a);
    for (const s of sizes) {
      const list = this.#free.get(s)!;
      while (list.length && this.#stats.bytesPooled > keepBytes) {
        list.pop()!.buffer.destroy();
        this.#stats.bytesPooled -= s;
      }
    }
  }

  /**
   * Orders every free list by creation number, so that the buffers handed out next depend only on
   * which buffers are free, not on the order they were released in. Called at the start of each
   * training iteration: the same sequence of allocations then gets the same buffers every
   * iteration, and the runtime's cached bind groups are reused.
   */
  canonicalize(): void {
    for (const list of this.#free.values()) list.sort((a, b) => b.id - a.id);
  }

  /** A snapshot of the statistics. */
  stats(): PoolStats {
    return { ...this.#stats };
  }

  /** Starts a new peak measurement at the current live bytes. */
  resetPeak(): void {
    this.#stats.peakBytesLive = this.#stats.bytesLive;
  }
}
