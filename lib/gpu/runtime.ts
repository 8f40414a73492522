/**
 * The WebGPU runtime: one device, one buffer pool, one pipeline cache, and one shared command
 * encoder into which every op records its dispatch. Nothing is submitted until `flush()`, and
 * reading a tensor back (`read`, `readMany`) is the only synchronisation point.
 *
 * @module
 */
import { type GpuInfo, type RequestDeviceOptions, requestGpuDevice } from "./device.ts";
import { type CompiledKernel, type KernelSpec, PipelineCache } from "./kernel.ts";
import { BufferPool, type PooledBuffer, type PoolStats } from "./pool.ts";
import { type DType, fmtShape, type HostArray, RawTensor, shapeSize } from "./raw_tensor.ts";

/** A binding of a dispatch: a tensor, or a raw buffer range. */
export type Binding = RawTensor | { buffer: GPUBuffer; offset?: number; size: number };

/** Arguments of {@linkcode Gpu.dispatch}. */
export interface DispatchArgs {
  /** Storage bindings in binding order (inputs, then outputs); `Params` follows them. */
  bindings: Binding[];
  /** Values of the `Params` uniform, typed by the kernel's `params` string. */
  params?: ArrayLike<number>;
  /** Override constants: part of the pipeline cache key. */
  overrides?: Record<string, number>;
  /** Workgroup count: a total (folded into 2-D/3-D when needed) or an explicit grid. */
  workgroups: number | [number, number, number];
}

/**
 * A profiler's hook (`Gpu.setPassTimer`): while set, every dispatch runs in its own compute pass
 * with the timestamp writes `next` returns for it (undefined: untimed).
 */
export interface PassTimer {
  next(
    kernel: string,
    overrides: Record<string, number> | undefined,
    params?: ArrayLike<number>,
    workgroups?: number,
  ): GPUComputePassTimestampWrites | undefined;
}

/** Runtime counters, for tests and benchmarks. */
export interface RuntimeStats extends PoolStats {
  /** Compute passes dispatched since the runtime was created. */
  dispatches: number;
  /** Command buffers submitted to the queue. */
  submits: number;
  /** GPU → CPU buffer reads. */
  readbacks: number;
  /** Buffer-to-buffer copies recorded (`copy`; readback staging copies not included). */
  copies: number;
  /** Buffer clears recorded (`clear`). */
  clears: number;
  /** Compiled pipelines in the cache. */
  pipelines: number;
  /** Compiled shader modules (distinct kernel sources) in the cache. */
  shaderModules: number;
  /** Dispatches that reused a cached bind group instead of creating one. */
  bindGroupHits: number;
}

/** Bytes of the parameter arena: one uniform buffer, each dispatch's `Params` at its own offset. */
const ARENA_BYTES = 1 << 22;

/**
 * Bytes of one uniform window (64 KiB, WebGPU's guaranteed `maxUniformBufferBindingSize`): the
 * direct convolution kernels read their A operand through such windows, bound straight from a
 * weight's buffer when the buffer has this much room past the window's start.
 */
export const UNIFORM_WINDOW_BYTES = 65536;

/**
 * The `minBytes` of a weight of `elements` f32 values that the direct kernels read in place: its
 * elements plus one uniform window of room, so a window may start at any of its rows.
 */
export function inPlaceWindowBytes(elements: number): number {
  return elements * 4 + UNIFORM_WINDOW_BYTES;
}

/**
 * The `Params` of every dispatch recorded since the last flush, packed into one uniform buffer at
 * aligned offsets and uploaded with one `writeBuffer` per flush. Offsets restart at 0 after each
 * flush, so a sequence of dispatches recorded after a flush gets the same offsets every time.
 */
class UniformArena {
  readonly buffer: GPUBuffer;
  readonly host = new ArrayBuffer(ARENA_BYTES);
  offset = 0;
  constructor(readonly device: GPUDevice, readonly align: number) {
    this.buffer = device.createBuffer({
      label: "params",
      size: ARENA_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }

  /** Whether `bytes` more fit before the next upload. */
  fits(bytes: number): boolean {
    return this.offset + bytes <= ARENA_BYTES;
  }

  /** Places `bytes` of parameter data; returns the offset. */
  place(bytes: number): number {
    const at = this.offset;
    this.offset = Math.ceil((at + bytes) / this.align) * this.align;
    return at;
  }

  upload(queue: GPUQueue): void {
    if (this.offset > 0) queue.writeBuffer(this.buffer, 0, this.host, 0, this.offset);
    this.offset = 0;
  }
}

/** Flush automatically after this many recorded dispatches (keeps command buffers bounded). */
const AUTO_FLUSH_DISPATCHES = 4096;

/**
 * Most bind groups kept for reuse. A training step records the same dispatches on the same pooled
 * buffers and uniform offsets every iteration, so its bind groups repeat exactly; creating one costs
 * tens of microseconds of CPU in Deno, as much as a small kernel takes to run on a software adapter.
 */
const BIND_GROUP_CACHE_SIZE = 16384;

/** The runtime of one device. Get it with {@linkcode initGpu} / {@linkcode getGpu}. */
export class Gpu {
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** Adapter and limits of the device. */
  readonly info: GpuInfo;
  /** Reusable storage buffers, bucketed by size. */
  readonly pool: BufferPool;
  /** Compiled pipelines, keyed by kernel name and override values. */
  readonly pipelines: PipelineCache;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #timer: PassTimer | null = null;
  #arena: UniformArena;
  #epoch = 0;
  #pending = 0;
  #scopes: Set<RawTensor>[] = [];
  #counters = { dispatches: 0, submits: 0, readbacks: 0, copies: 0, clears: 0 };
  #lost: string | null = null;
  #bindGroups = new Map<string, GPUBindGroup>();
  #ids = new WeakMap<object, number>();
  #nextId = 1;
  #bindGroupHits = 0;

  /** Wraps `device`; usually called through `initGpu` rather than directly. */
  constructor(device: GPUDevice, info: GpuInfo) {
    this.device = device;
    this.info = info;
    this.pool = new BufferPool(device, info.limits.maxBufferSize);
    this.pipelines = new PipelineCache(device);
    this.#arena = new UniformArena(
      device,
      Math.max(16, info.limits.minUniformBufferOffsetAlignment),
    );
    device.lost.then((l) => {
      this.#lost = l.message || String(l.reason);
    });
  }

  /** The current flush epoch (incremented by every submit). */
  get epoch(): number {
    return this.#epoch;
  }

  // ---- tensors -------------------------------------------------------------------------------

  /** Internal: the pool calls back here when the last view of a buffer is released. */
  releaseBuffer(pb: PooledBuffer): void {
    this.pool.release(pb);
  }

  #track(t: RawTensor): RawTensor {
    const top = this.#scopes[this.#scopes.length - 1];
    if (top) top.add(t);
    return t;
  }

  #checkBinding(bytes: number, label: string, shape: readonly number[]): void {
    const lim = this.info.limits.maxStorageBufferBindingSize;
    if (bytes > lim) {
      throw new RangeError(
        `Cannot allocate tensor "${label}" ${
          fmtShape(shape)
        }: ${bytes} bytes exceed the adapter's ` +
          `maxStorageBufferBindingSize of ${lim} bytes: reduce the batch size or the resolution`,
      );
    }
  }

  /**
   * An uninitialised tensor. Its buffer holds at least `minBytes` bytes (room past the elements,
   * e.g. for the direct convolution's 64 KiB uniform windows over a weight: {@linkcode
   * UNIFORM_WINDOW_BYTES}).
   */
  empty(shape: readonly number[], dtype: DType = "f32", label = "tensor", minBytes = 0): RawTensor {
    const bytes = Math.max(16, shapeSize(shape) * 4);
    this.#checkBinding(bytes, label, shape);
    const pb = this.pool.acquire(Math.max(bytes, minBytes), label, this.#epoch);
    return this.#track(new RawTensor(pb, shape, dtype, label, this));
  }

  /** A tensor filled with zeros (recorded as a clear command); `minBytes` as for `empty`. */
  zeros(shape: readonly number[], dtype: DType = "f32", label = "zeros", minBytes = 0): RawTensor {
    const t = this.empty(shape, dtype, label, minBytes);
    this.clear(t);
    return t;
  }

  /** A tensor holding a copy of `data`; `minBytes` as for {@linkcode Gpu.empty}. */
  upload(
    data: HostArray | ArrayLike<number>,
    shape: readonly number[],
    dtype: DType = "f32",
    label = "upload",
    minBytes = 0,
  ): RawTensor {
    const n = shapeSize(shape);
    if (data.length !== n) {
      throw new TypeError(
        `Cannot upload "${label}": ${data.length} values do not fill shape ${
          fmtShape(shape)
        } (${n} elements)`,
      );
    }
    const bytes = Math.max(16, n * 4);
    this.#checkBinding(bytes, label, shape);
    const pb = this.pool.acquire(Math.max(bytes, minBytes), label, this.#epoch, true);
    const t = this.#track(new RawTensor(pb, shape, dtype, label, this));
    if (n > 0) {
      let host: HostArray;
      if (dtype === "f32") {
        host = data instanceof Float32Array
          ? data as Float32Array<ArrayBuffer>
          : Float32Array.from(data);
      } else if (dtype === "i32") {
        host = data instanceof Int32Array ? data as Int32Array<ArrayBuffer> : Int32Array.from(data);
      } else {host = data instanceof Uint32Array
          ? data as Uint32Array<ArrayBuffer>
          : Uint32Array.from(data);}
      this.device.queue.writeBuffer(pb.buffer, 0, host.buffer, host.byteOffset, n * 4);
    }
    return t;
  }

  /** A view of `t` with another shape, sharing its buffer (no copy). */
  view(t: RawTensor, shape: readonly number[], label = t.label): RawTensor {
    return this.#track(t.shareWith(shape, label));
  }

  // ---- scopes --------------------------------------------------------------------------------

  /** Starts a memory scope: tensors created until `endScope` are released by it unless kept. */
  beginScope(): void {
    this.#scopes.push(new Set());
  }

  /** Ends the innermost scope, releasing its tensors except `keepers`, which move to the parent. */
  endScope(keepers: Iterable<RawTensor> = []): void {
    const scope = this.#scopes.pop();
    if (!scope) throw new RangeError("Cannot end a memory scope: none is open");
    const keep = new Set(keepers);
    const parent = this.#scopes[this.#scopes.length - 1];
    for (const t of scope) {
      if (keep.has(t)) parent?.add(t);
      else t.release();
    }
  }

  /** Removes `t` from every open scope so that it survives them (until released explicitly). */
  keep(t: RawTensor): void {
    for (const s of this.#scopes) s.delete(t);
  }

  // ---- commands ------------------------------------------------------------------------------

  #enc(): GPUCommandEncoder {
    if (this.#lost) {
      throw new Error(`Cannot record GPU commands: the device was lost: ${this.#lost}`);
    }
    return this.#encoder ??= this.device.createCommandEncoder({ label: `step#${this.#epoch}` });
  }

  #endPass(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
  }

  /** The compiled pipeline of a kernel (compiled on first use, cached by name + overrides). */
  kernel(spec: KernelSpec, overrides?: Record<string, number>): CompiledKernel {
    return this.pipelines.get(spec, overrides);
  }

  /** Records one dispatch of `spec`. */
  dispatch(spec: KernelSpec, args: DispatchArgs): void {
    const ck = this.pipelines.get(spec, args.overrides);
    let grid: [number, number, number];
    if (typeof args.workgroups === "number") {
      const n = args.workgroups;
      if (n <= 0) return; // nothing to do (empty tensors)
      const max = this.info.limits.maxComputeWorkgroupsPerDimension;
      if (n <= max) grid = [n, 1, 1];
      else {
        const y = Math.ceil(n / max);
        if (y <= max) grid = [Math.ceil(n / y), y, 1];
        else {
          const z = Math.ceil(y / max);
          grid = [max, Math.ceil(y / z), z];
        }
      }
    } else {
      grid = args.workgroups;
      if (grid[0] * grid[1] * grid[2] === 0) return;
    }
    const paramBytes = spec.params ? Math.ceil(spec.params.length / 4) * 16 : 0;
    // the arena is full: submit what was recorded (with its parameters) before binding anything
    if (paramBytes > 0 && !this.#arena.fits(paramBytes)) this.flush();
    const entries: GPUBindGroupEntry[] = [];
    let key = String(this.#id(ck));
    args.bindings.forEach((b, i) => {
      let buffer: GPUBuffer, offset: number, size: number;
      if (b instanceof RawTensor) {
        const pb = b.pooled;
        pb.epoch = this.#epoch;
        buffer = pb.buffer;
        offset = 0;
        size = Math.max(16, b.byteLength);
      } else {
        buffer = b.buffer;
        offset = b.offset ?? 0;
        size = b.size;
      }
      entries.push({ binding: i, resource: { buffer, offset, size } });
      key += `|${this.#id(buffer)}:${offset}:${size}`;
    });
    if (spec.params) {
      const types = spec.params;
      const vals = args.params ?? [];
      if (vals.length !== types.length) {
        throw new TypeError(
          `Cannot dispatch ${spec.name}.wgsl: ${vals.length} params given, the kernel declares ${types.length}`,
        );
      }
      const bytes = paramBytes;
      const at = this.#arena.place(bytes);
      const host = this.#arena.host;
      const f = new Float32Array(host, at, types.length);
      const u = new Uint32Array(host, at, types.length);
      const s = new Int32Array(host, at, types.length);
      for (let i = 0; i < types.length; i++) {
        const c = types.charCodeAt(i);
        if (c === 102 /* f */) f[i] = vals[i];
        else if (c === 105 /* i */) s[i] = vals[i];
        else u[i] = vals[i];
      }
      // a static offset, part of the cache key: dynamic uniform offsets cost lavapipe ~3× per
      // dispatch, and a step's offsets repeat anyway when each iteration starts a flush
      entries.push({
        binding: args.bindings.length,
        resource: { buffer: this.#arena.buffer, offset: at, size: bytes },
      });
      key += `|p${at}:${bytes}`;
    }
    let bg = this.#bindGroups.get(key);
    if (bg) this.#bindGroupHits++;
    else {
      if (this.#bindGroups.size >= BIND_GROUP_CACHE_SIZE) this.#bindGroups.clear();
      bg = this.device.createBindGroup({ label: ck.label, layout: ck.layout, entries });
      this.#bindGroups.set(key, bg);
    }
    if (this.#timer) {
      this.#endPass();
      const timestampWrites = this.#timer.next(
        spec.name,
        args.overrides,
        args.params,
        grid[0] * grid[1] * grid[2],
      );
      this.#pass = this.#enc().beginComputePass({ label: ck.label, timestampWrites });
    }
    if (!this.#pass) this.#pass = this.#enc().beginComputePass({ label: ck.label });
    this.#pass.setPipeline(ck.pipeline);
    this.#pass.setBindGroup(0, bg);
    this.#pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    this.#counters.dispatches++;
    if (++this.#pending >= AUTO_FLUSH_DISPATCHES) this.flush();
  }

  /** A process-unique number for a buffer or pipeline (never reused, so cache keys never alias). */
  #id(o: object): number {
    let id = this.#ids.get(o);
    if (id === undefined) this.#ids.set(o, id = this.#nextId++);
    return id;
  }

  /**
   * Sets (or clears, with null) the profiler's pass timer: one compute pass per dispatch, with the
   * timer's timestamp writes. For `deno task profile` only; it changes what is recorded.
   */
  setPassTimer(t: PassTimer | null): void {
    this.#endPass();
    this.#timer = t;
  }

  /** Records a buffer-to-buffer copy of `bytes` bytes. */
  copy(src: RawTensor, srcOffset: number, dst: RawTensor, dstOffset: number, bytes: number): void {
    if (bytes <= 0) return;
    this.#endPass();
    src.pooled.epoch = this.#epoch;
    dst.pooled.epoch = this.#epoch;
    this.#enc().copyBufferToBuffer(src.buffer, srcOffset, dst.buffer, dstOffset, bytes);
    this.#counters.copies++;
    this.#pending++;
  }

  /** Records zero-filling of `t`. */
  clear(t: RawTensor): void {
    this.#endPass();
    t.pooled.epoch = this.#epoch;
    const bytes = Math.min(t.pooled.size, Math.max(16, Math.ceil(t.byteLength / 16) * 16));
    this.#enc().clearBuffer(t.buffer, 0, bytes);
    this.#counters.clears++;
    this.#pending++;
  }

  /** Submits everything recorded so far (no wait). */
  flush(): void {
    this.#endPass();
    const enc = this.#encoder;
    this.#encoder = null;
    this.#pending = 0;
    if (!enc) return;
    this.#arena.upload(this.device.queue);
    this.device.queue.submit([enc.finish()]);
    this.#counters.submits++;
    this.#epoch++;
  }

  /**
   * Marks the start of a training iteration: submits what the previous one recorded (the GPU
   * starts on it at once) and puts the free buffers in canonical order, so that an iteration
   * recording the same dispatches as the last gets the same buffers and parameter offsets, and
   * therefore reuses its cached bind groups.
   */
  beginIteration(): void {
    this.flush();
    this.pool.canonicalize();
  }

  /** Flushes and waits until the GPU is idle; surfaces kernel compile errors. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.pipelines.checkErrors();
  }

  /** Reads several tensors back with one copy and one map: the only synchronisation point. */
  async readMany(ts: RawTensor[]): Promise<HostArray[]> {
    const offsets: number[] = [];
    let total = 0;
    for (const t of ts) {
      offsets.push(total);
      total += Math.ceil(t.byteLength / 4) * 4;
    }
    const out: HostArray[] = [];
    if (total === 0) {
      for (const t of ts) out.push(hostArray(t.dtype, 0));
      return out;
    }
    const staging = this.device.createBuffer({
      label: "readback",
      size: Math.ceil(total / 16) * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.#endPass();
    const enc = this.#enc();
    ts.forEach((t, i) => {
      if (t.byteLength > 0) enc.copyBufferToBuffer(t.buffer, 0, staging, offsets[i], t.byteLength);
    });
    this.flush();
    this.#counters.readbacks++;
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      await this.pipelines.checkErrors();
      throw e;
    }
    const mapped = staging.getMappedRange();
    ts.forEach((t, i) => {
      const h = hostArray(t.dtype, t.size);
      new Uint8Array(h.buffer).set(new Uint8Array(mapped, offsets[i], t.byteLength));
      out.push(h);
    });
    staging.unmap();
    staging.destroy();
    await this.pipelines.checkErrors();
    if (this.#lost) throw new Error(`Cannot read tensors back: the device was lost: ${this.#lost}`);
    return out;
  }

  /** Reads one tensor back. */
  async read(t: RawTensor): Promise<HostArray> {
    return (await this.readMany([t]))[0];
  }

  /** Counters and pool statistics. */
  stats(): RuntimeStats {
    return {
      ...this.pool.stats(),
      ...this.#counters,
      pipelines: this.pipelines.size,
      shaderModules: this.pipelines.modules,
      bindGroupHits: this.#bindGroupHits,
    };
  }

  /** Releases the device. The runtime cannot be used afterwards. */
  destroy(): void {
    this.flush();
    this.#bindGroups.clear();
    this.pool.trim(0);
    this.device.destroy();
    if (current === this) {
      current = null;
      pending = null;
    }
  }

  /**
   * Waits for the GPU to finish, then destroys the device: the orderly way to end a process. Tearing
   * down a live device from V8's exit finalizers has been seen to corrupt the heap of Mesa's
   * software adapter (an abort after all work completed).
   */
  async shutdown(): Promise<void> {
    try {
      await this.sync();
    } catch { /* errors were already reported to their callers */ }
    this.destroy();
  }
}

function hostArray(dtype: DType, n: number): HostArray {
  return dtype === "f32"
    ? new Float32Array(n)
    : dtype === "i32"
    ? new Int32Array(n)
    : new Uint32Array(n);
}

let current: Gpu | null = null;
let pending: Promise<Gpu> | null = null;

/**
 * Initialises (once) and returns the process-wide runtime. Throws `GpuUnavailableError` when no
 * adapter exists.
 */
export function initGpu(opts: RequestDeviceOptions = {}): Promise<Gpu> {
  if (current) return Promise.resolve(current);
  pending ??= requestGpuDevice(opts).then(({ device, info }) => (current = new Gpu(device, info)))
    .catch((e) => {
      pending = null;
      throw e;
    });
  return pending;
}

/** The runtime created by {@linkcode initGpu}; throws if it was not initialised. */
export function getGpu(): Gpu {
  if (!current) {
    throw new ReferenceError(
      "Cannot use the GPU before initialisation: call `await initGpu()` first",
    );
  }
  return current;
}

/** Waits for and destroys the process-wide runtime, if any (call before exiting). */
export async function shutdownGpu(): Promise<void> {
  if (current) await current.shutdown();
}

/** Whether {@linkcode initGpu} has completed. */
export function hasGpu(): boolean {
  return current !== null;
}
