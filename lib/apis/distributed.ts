/**
 * Data-parallel training and testing on top of `lib/dist/` (mmcv's `MMDistributedDataParallel`
 * and mmdet's `multi_gpu_test` / `collect_results`):
 *
 * - {@link broadcastModel}: rank 0's parameters and buffers to every rank, before training.
 * - {@link GradientAllReducer}: after backward, the gradients averaged over the ranks in buckets:
 *   the gradients of a bucket are copied into one GPU buffer, read back once, all-reduced on the
 *   host, written back once and copied into the gradients. The readbacks of all buckets are
 *   issued at once, so the GPU maps bucket k+1 while MPI reduces bucket k.
 * - {@link DistributedRunnerModel}: the runner model whose `loss.backward()` also reduces the
 *   gradients (as DDP's backward does), so any optimizer hook (clipping included) sees the
 *   averaged gradients.
 * - {@link multiGpuTest}: each rank tests its shard, the results are gathered and put back in
 *   dataset order.
 *
 * @module
 */
import { keep, Tensor } from "../autograd/tensor.ts";
import type { DataLoader } from "../datasets/loader.ts";
import { collectInterleaved } from "../datasets/dist_samplers.ts";
import { allGather, allReduce, broadcast, getDistInfo } from "../dist/dist.ts";
import { getGpu } from "../gpu/runtime.ts";
import type { RawTensor } from "../gpu/raw_tensor.ts";
import type { BaseDetector, BboxResult } from "../models/detectors/base.ts";
import type { HostTensor, Module } from "../nn/module.ts";
import type { Optimizer, RunnerModel, StateDict, TrainStepOutput } from "../runner/types.ts";
import type { Config } from "../config/config.ts";
import { isDict } from "../config/config.ts";
import { ConfigError } from "../utils/errors.ts";
import { singleGpuTest, type SingleGpuTestOptions } from "./single_gpu_test.ts";

/** The `dist_params` of a config, read when a launcher is given. */
export interface DistParams {
  /** `backend`: `"mpi"` (what wgdet uses); mmdet's `"nccl"`/`"gloo"` are taken to mean MPI. */
  backend: string;
  /** `timeout`: seconds a collective may take before the job is aborted (default 1800). */
  timeout?: number;
  /** `bucket_cap_mb`: gradient bucket size in MB (default 25). */
  bucketCapMb?: number;
}

const DIST_KEYS = ["backend", "timeout", "bucket_cap_mb"];

/**
 * Validates `cfg.dist_params` (mmdet: `dict(backend='nccl')`): `backend` is one of `mpi`, `nccl`,
 * `gloo` (all run on MPI here: WebGPU has no collective library), `timeout` > 0 seconds,
 * `bucket_cap_mb` > 0. Any other key is a `ConfigError`.
 */
export function distParams(cfg: Config): DistParams {
  const raw = cfg.dict.dist_params ?? {};
  if (!isDict(raw)) {
    throw new ConfigError(`Invalid dist_params in "${cfg.filename}": expected a dict`);
  }
  const d = raw as Record<string, unknown>;
  for (const k of Object.keys(d)) {
    if (!DIST_KEYS.includes(k)) {
      throw new ConfigError(
        `Unknown key "dist_params.${k}" in "${cfg.filename}": wgdet reads ${DIST_KEYS.join(", ")}`,
      );
    }
  }
  const backend = String(d.backend ?? "mpi");
  if (!["mpi", "nccl", "gloo"].includes(backend)) {
    throw new ConfigError(
      `Invalid dist_params.backend "${backend}" in "${cfg.filename}": expected "mpi" (or mmdet's "nccl"/"gloo", which run on MPI)`,
    );
  }
  const num = (k: string): number | undefined => {
    if (d[k] === undefined || d[k] === null) return undefined;
    if (typeof d[k] !== "number" || !((d[k] as number) > 0)) {
      throw new ConfigError(
        `Invalid dist_params.${k} ${
          JSON.stringify(d[k])
        } in "${cfg.filename}": expected a positive number`,
      );
    }
    return d[k] as number;
  };
  return { backend, timeout: num("timeout"), bucketCapMb: num("bucket_cap_mb") };
}

/**
 * Copies rank 0's state dict (parameters and buffers) into the module of every rank: one
 * broadcast of all entries packed into one buffer.
 */
export async function broadcastModel(m: Module): Promise<void> {
  const { worldSize } = getDistInfo();
  if (worldSize === 1) return;
  const sd = await m.stateDict();
  const keys = Object.keys(sd).sort();
  let n = 0;
  for (const k of keys) n += sd[k].data.length;
  const packed = new Uint32Array(n);
  let o = 0;
  for (const k of keys) {
    const d = sd[k].data;
    packed.set(new Uint32Array(d.buffer, d.byteOffset, d.length), o);
    o += d.length;
  }
  await broadcast(packed, 0);
  const out: Record<string, HostTensor> = {};
  o = 0;
  for (const k of keys) {
    const t = sd[k];
    const bits = packed.slice(o, o + t.data.length);
    o += t.data.length;
    const data = t.dtype === "f32"
      ? new Float32Array(bits.buffer)
      : t.dtype === "i32"
      ? new Int32Array(bits.buffer)
      : bits;
    out[k] = { ...t, data: data as HostTensor["data"] };
  }
  m.loadStateDict(out, { strict: true });
}

/** Options of {@link GradientAllReducer}. */
export interface GradientAllReducerOptions {
  /** Bucket size in MB (default 25, as PyTorch DDP's `bucket_cap_mb`). */
  bucketCapMb?: number;
}

/** Averages the gradients of `params` over the ranks, bucket by bucket. */
export class GradientAllReducer {
  /** The parameters of each bucket (those with `requiresGrad`, last layers first, as DDP). */
  readonly buckets: Tensor[][];
  /** Bucket sizes in floats. */
  readonly bucketSizes: number[];

  /** Groups the trainable parameters into buckets of at most `bucketCapMb`. */
  constructor(params: Iterable<[string, Tensor]>, opts: GradientAllReducerOptions = {}) {
    const cap = Math.max(1, Math.floor((opts.bucketCapMb ?? 25) * 1024 * 1024 / 4));
    const ps = [...params].map(([, t]) => t).filter((t) => t.requiresGrad).reverse();
    this.buckets = [];
    this.bucketSizes = [];
    let cur: Tensor[] = [], size = 0;
    for (const p of ps) {
      if (cur.length && size + p.size > cap) {
        this.buckets.push(cur);
        this.bucketSizes.push(size);
        cur = [];
        size = 0;
      }
      cur.push(p);
      size += p.size;
    }
    if (cur.length) {
      this.buckets.push(cur);
      this.bucketSizes.push(size);
    }
  }

  /**
   * Replaces every gradient by its mean over the ranks. A parameter without a gradient on this
   * rank contributes zeros (and receives the mean), so that all ranks step the same parameters.
   */
  async reduce(): Promise<void> {
    if (getDistInfo().worldSize === 1) return;
    const gpu = getGpu();
    const flat: RawTensor[] = [];
    for (let b = 0; b < this.buckets.length; b++) {
      const buf = gpu.empty([this.bucketSizes[b]], "f32", `grad_bucket${b}`);
      let off = 0;
      for (const p of this.buckets[b]) {
        if (!p.grad || p.grad.disposed) {
          p.grad = keep(new Tensor(gpu.zeros(p.shape, "f32", "grad")));
        }
        gpu.copy(p.grad.raw, 0, buf, off * 4, p.size * 4);
        off += p.size;
      }
      flat.push(buf);
    }
    const reads = flat.map((t) => gpu.read(t));
    for (const r of reads) r.catch(() => {}); // awaited in order below
    try {
      for (let b = 0; b < flat.length; b++) {
        const host = await reads[b] as Float32Array<ArrayBuffer>;
        await allReduce(host, "mean");
        const up = gpu.upload(host, [host.length], "f32", `grad_bucket${b}_reduced`);
        let off = 0;
        for (const p of this.buckets[b]) {
          gpu.copy(up, off * 4, p.grad!.raw, 0, p.size * 4);
          off += p.size;
        }
        up.release();
      }
    } finally {
      for (const t of flat) t.release();
    }
  }
}

/**
 * A runner model whose training `loss.backward()` is followed by the gradient all-reduce
 * (mmcv's `MMDistributedDataParallel` around the detector's `RunnerModel`).
 */
export class DistributedRunnerModel implements RunnerModel {
  /** The wrapped model (mmcv's `.module`). */
  readonly module: RunnerModel;
  /** The gradient reducer called after each backward. */
  readonly reducer: GradientAllReducer;

  /** Wraps `module`; `params` are the detector's named parameters. */
  constructor(
    module: RunnerModel,
    params: Iterable<[string, Tensor]>,
    opts: GradientAllReducerOptions = {},
  ) {
    this.module = module;
    this.reducer = new GradientAllReducer(params, opts);
  }

  /** The wrapped `trainStep`; its loss's backward also averages the gradients over the ranks. */
  async trainStep(data: unknown, optimizer: Optimizer | undefined): Promise<TrainStepOutput> {
    const out = await this.module.trainStep(data, optimizer);
    const loss = out.loss;
    if (!loss || typeof loss.backward !== "function") return out;
    return {
      ...out,
      loss: {
        backward: async () => {
          await loss.backward();
          await this.reducer.reduce();
        },
      },
    };
  }

  /** The wrapped `valStep` (no gradients). */
  valStep(
    data: unknown,
    optimizer: Optimizer | undefined,
  ): Promise<TrainStepOutput> | TrainStepOutput {
    if (!this.module.valStep) throw new TypeError("The wrapped model has no valStep()");
    return this.module.valStep(data, optimizer);
  }
  train(): void {
    this.module.train();
  }
  eval(): void {
    this.module.eval();
  }
  stateDict(): StateDict | Promise<StateDict> {
    return this.module.stateDict();
  }
  loadStateDict(sd: StateDict, strict: boolean): void | Promise<void> {
    return this.module.loadStateDict(sd, strict);
  }
  namedModules(): Iterable<[string, unknown]> {
    return this.module.namedModules?.() ?? [];
  }
}

/** Packs per-image results (per class `[m, 5]` rows) into bytes. */
export function encodeResults(results: BboxResult[]): Uint8Array<ArrayBuffer> {
  let n = 1;
  for (const r of results) {
    n += 1 + r.length;
    for (const c of r) n += c.length;
  }
  const u = new Uint32Array(n);
  const f = new Float32Array(u.buffer);
  let o = 0;
  u[o++] = results.length;
  for (const r of results) {
    u[o++] = r.length;
    for (const c of r) {
      u[o++] = c.length;
      f.set(c, o);
      o += c.length;
    }
  }
  return new Uint8Array(u.buffer);
}

/** Inverse of {@link encodeResults}. */
export function decodeResults(bytes: Uint8Array): BboxResult[] {
  const copy = bytes.slice();
  const u = new Uint32Array(copy.buffer, 0, copy.byteLength / 4);
  const f = new Float32Array(copy.buffer, 0, copy.byteLength / 4);
  let o = 0;
  const out: BboxResult[] = [];
  const nImg = u[o++];
  for (let i = 0; i < nImg; i++) {
    const nc = u[o++];
    const r: Float32Array[] = [];
    for (let c = 0; c < nc; c++) {
      const len = u[o++];
      r.push(f.slice(o, o + len));
      o += len;
    }
    out.push(r);
  }
  return out;
}

/**
 * mmdet's `multi_gpu_test`: runs the detector over this rank's shard of `loader` (built with
 * `dist`, unshuffled), gathers the results of all ranks and returns them in dataset order on
 * every rank (`collect_results`, the sampler's padding dropped). Without a launcher it is
 * `singleGpuTest`.
 */
export async function multiGpuTest(
  det: BaseDetector,
  loader: DataLoader,
  opts: SingleGpuTestOptions = {},
): Promise<BboxResult[]> {
  const part = await singleGpuTest(det, loader, opts);
  if (getDistInfo().worldSize === 1 || !loader.dist) return part;
  const parts = (await allGather(encodeResults(part))).map(decodeResults);
  return collectInterleaved(parts, loader.dataset.length);
}
