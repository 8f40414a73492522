/**
 * The data loader: seeded group sampling, batching with padded collation, and optional Web
 * Worker processes that decode and transform images off the main thread with prefetch.
 *
 * @module
 */
import { platform } from "../platform/mod.ts";
import { DataError } from "../utils/errors.ts";
import { hashSeed, Rng } from "../utils/rng.ts";
import { collate } from "./collate.ts";
import { sampleRng } from "./custom.ts";
import type { DetDataset } from "./dataset_wrappers.ts";
import { groupSamplerIndices, groupSamplerLength } from "./samplers.ts";
import {
  distributedGroupSamplerIndices,
  distributedGroupSamplerLength,
  distributedSamplerIndices,
  distributedSamplerLength,
} from "./dist_samplers.ts";
import type { Batch } from "./types.ts";

/** Options of {@link buildDataloader} (mmdet's `build_dataloader` keywords). */
export interface DataloaderOptions {
  /** Images per batch. */
  samples_per_gpu: number;
  /** Web Workers preparing batches; 0 runs the pipeline in-process. */
  workers_per_gpu?: number;
  /** Group-sampled random order (train); false: dataset order (test). */
  shuffle?: boolean;
  /** Seed of the sampler and of every sample's augmentation generator. */
  seed?: number;
  /** Without shuffle: drop a last, incomplete batch. */
  drop_last?: boolean;
  /** Batches requested ahead per worker (default 2). */
  prefetch?: number;
  /** Keep workers alive between epochs (default false: they end with each epoch). */
  persistent_workers?: boolean;
  /** Module URLs workers import before rebuilding the dataset (custom registrations). */
  imports?: string[];
  /** Value of the collate padding (default 0). */
  pad_value?: number;
  /**
   * Data-parallel sharding (mmdet's `dist=True`): this rank reads its share through
   * `DistributedGroupSampler` (shuffle) or the unshuffled `DistributedSampler` (test).
   */
  dist?: { rank: number; world_size: number };
}

/** A serialised error crossing the worker boundary. */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
}

/** Rebuilds an error of the same class from a worker's message. */
export function reviveError(e: WireError): Error {
  const ctor = e.name === "TypeError"
    ? TypeError
    : e.name === "RangeError"
    ? RangeError
    : DataError;
  const err = new ctor(e.message);
  if (err.name !== e.name) err.name = e.name;
  return err;
}

/** One worker with request/response bookkeeping. */
class WorkerHandle {
  readonly worker: Worker;
  #next = 0;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #dead: Error | null = null;

  constructor() {
    this.worker = new Worker(new URL("./loader_worker.ts", import.meta.url).href, {
      type: "module",
    });
    this.worker.onmessage = (ev: MessageEvent) => {
      const msg = ev.data as { id: number; ok: boolean; value?: unknown; error?: WireError };
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(reviveError(msg.error!));
    };
    this.worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      this.#fail(new DataError(`A data loader worker crashed: ${ev.message}`));
    };
  }

  #fail(e: Error): void {
    this.#dead = e;
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  request<T>(msg: Record<string, unknown>): Promise<T> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...msg, id });
    });
  }

  terminate(): void {
    this.worker.terminate();
    this.#fail(new DataError("The data loader was closed"));
  }
}

/**
 * Iterates a dataset in batches. `for await (const batch of loader)` runs one epoch; each epoch
 * reshuffles with `seed + epoch`. Every sample's augmentation generator is derived from
 * (seed, epoch, position), so the output does not depend on the number of workers.
 */
export class DataLoader implements AsyncIterable<Batch> {
  /** The dataset iterated. */
  readonly dataset: DetDataset;
  /** Images per batch. */
  readonly samplesPerGpu: number;
  /** Number of Web Workers (0: in-process). */
  readonly numWorkers: number;
  /** Group-sampled random order (true) or dataset order. */
  readonly shuffle: boolean;
  /** Seed of sampling and augmentation. */
  readonly seed: number;
  /** Drop a last, incomplete batch (without shuffle). */
  readonly dropLast: boolean;
  /** Batches requested ahead per worker. */
  readonly prefetch: number;
  /** Whether workers outlive an epoch. */
  readonly persistentWorkers: boolean;
  /** Modules workers import before building the dataset. */
  readonly imports: string[];
  /** Collate padding value. */
  readonly padValue: number;
  /** This rank's share of a data-parallel run, or null for the whole dataset. */
  readonly dist: { rank: number; world_size: number } | null;
  #epoch = 0;
  #workers: WorkerHandle[] | null = null;
  #starting: Promise<WorkerHandle[]> | null = null;

  /** Validates the options; workers start on the first iteration. */
  constructor(dataset: DetDataset, opts: DataloaderOptions) {
    if (!dataset || typeof dataset.getItem !== "function") {
      throw new TypeError("Cannot build a data loader: dataset has no getItem()");
    }
    this.dataset = dataset;
    this.samplesPerGpu = opts.samples_per_gpu;
    if (!(Number.isInteger(this.samplesPerGpu) && this.samplesPerGpu > 0)) {
      throw new RangeError(
        `samples_per_gpu must be a positive integer, got ${opts.samples_per_gpu}`,
      );
    }
    this.numWorkers = opts.workers_per_gpu ?? 0;
    if (!(Number.isInteger(this.numWorkers) && this.numWorkers >= 0)) {
      throw new RangeError(
        `workers_per_gpu must be a non-negative integer, got ${opts.workers_per_gpu}`,
      );
    }
    if (this.numWorkers > 0 && !platform().loaderWorkers) {
      throw new RangeError(
        `workers_per_gpu=${this.numWorkers}: data-loader workers are not available on the ` +
          `${platform().name} platform (the browser build has no worker module to start); ` +
          "set data.workers_per_gpu=0 to load in the page",
      );
    }
    this.shuffle = opts.shuffle ?? true;
    this.seed = opts.seed ?? 0;
    this.dropLast = opts.drop_last ?? false;
    this.prefetch = Math.max(1, opts.prefetch ?? 2);
    this.persistentWorkers = opts.persistent_workers ?? false;
    this.imports = opts.imports ?? [];
    this.padValue = opts.pad_value ?? 0;
    this.dist = opts.dist && opts.dist.world_size > 1 ? { ...opts.dist } : null;
    if (this.dist && this.dropLast) {
      throw new RangeError("drop_last is not supported with a distributed sampler");
    }
  }

  /** The epoch the next iteration will run (advances after each iteration). */
  get epoch(): number {
    return this.#epoch;
  }

  /** Sets the epoch of the next iteration (mmcv `DistSamplerSeedHook` / resume). */
  setEpoch(epoch: number): void {
    this.#epoch = epoch;
  }

  /** Number of batches per epoch. */
  len(): number {
    if (this.dist) {
      const ws = this.dist.world_size;
      const n = this.shuffle
        ? distributedGroupSamplerLength(this.dataset.flag, this.samplesPerGpu, ws)
        : distributedSamplerLength(this.dataset.length, ws);
      return Math.ceil(n / this.samplesPerGpu);
    }
    if (this.shuffle) {
      return groupSamplerLength(this.dataset.flag, this.samplesPerGpu) / this.samplesPerGpu;
    }
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.samplesPerGpu) : Math.ceil(n / this.samplesPerGpu);
  }

  /** The dataset indices of each batch of `epoch`. */
  batchIndices(epoch: number): number[][] {
    let order: number[];
    if (this.dist) {
      const { rank, world_size: ws } = this.dist;
      order = this.shuffle
        ? distributedGroupSamplerIndices(
          this.dataset.flag,
          this.samplesPerGpu,
          ws,
          rank,
          new Rng(hashSeed(this.seed, epoch, 0x5a4)),
        )
        : distributedSamplerIndices(this.dataset.length, ws, rank);
    } else if (this.shuffle) {
      order = groupSamplerIndices(
        this.dataset.flag,
        this.samplesPerGpu,
        new Rng(hashSeed(this.seed, epoch, 0x5a3)),
      );
    } else order = Array.from({ length: this.dataset.length }, (_, i) => i);
    const out: number[][] = [];
    for (let i = 0; i < order.length; i += this.samplesPerGpu) {
      const b = order.slice(i, i + this.samplesPerGpu);
      if (b.length < this.samplesPerGpu && this.dropLast) break;
      out.push(b);
    }
    return out;
  }

  #startWorkers(): Promise<WorkerHandle[]> {
    if (this.#workers) return Promise.resolve(this.#workers);
    if (this.#starting) return this.#starting;
    const cfg = this.dataset.toConfig();
    const handles = Array.from({ length: this.numWorkers }, () => new WorkerHandle());
    this.#starting = Promise.all(
      handles.map((h) => h.request({ type: "init", cfg, imports: this.imports })),
    )
      .then(() => {
        this.#workers = handles;
        return handles;
      })
      .catch((e) => {
        for (const h of handles) h.terminate();
        throw e;
      })
      .finally(() => {
        this.#starting = null;
      });
    return this.#starting;
  }

  #stopWorkers(): void {
    if (this.#workers) { for (const h of this.#workers) h.terminate(); }
    this.#workers = null;
  }

  /** Prepares one batch in this thread. */
  #localBatch(indices: number[], epoch: number, firstPosition: number): Batch {
    const items = indices.map((idx, j) =>
      this.dataset.getItem(idx, sampleRng(this.seed, epoch, firstPosition + j))
    );
    return collate(items, indices, this.padValue);
  }

  async *#iterate(): AsyncGenerator<Batch> {
    const epoch = this.#epoch++;
    const batches = this.batchIndices(epoch);
    // a rank's samples sit at positions rank·len·B.. of the job's epoch (its augmentation draws)
    const base = this.dist ? this.dist.rank * this.len() * this.samplesPerGpu : 0;
    if (this.numWorkers === 0) {
      for (let b = 0; b < batches.length; b++) {
        yield this.#localBatch(batches[b], epoch, base + b * this.samplesPerGpu);
      }
      return;
    }
    const workers = await this.#startWorkers();
    try {
      const pending = new Map<number, Promise<Batch>>();
      let next = 0;
      const submit = () => {
        const b = next++;
        const p = workers[b % workers.length].request<Batch>({
          type: "batch",
          indices: batches[b],
          epoch,
          seed: this.seed,
          firstPosition: base + b * this.samplesPerGpu,
          padValue: this.padValue,
        });
        p.catch(() => {}); // awaited below; avoid an unhandled rejection if the epoch stops early
        pending.set(b, p);
      };
      while (next < batches.length && next < this.prefetch * workers.length) submit();
      for (let b = 0; b < batches.length; b++) {
        const batch = await pending.get(b)!;
        pending.delete(b);
        if (next < batches.length) submit();
        yield batch;
      }
    } finally {
      if (!this.persistentWorkers) this.#stopWorkers();
    }
  }

  /** One epoch of batches. */
  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    return this.#iterate();
  }

  /** Terminates the workers (idempotent). */
  close(): Promise<void> {
    this.#stopWorkers();
    return Promise.resolve();
  }

  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Builds a {@link DataLoader} (mmdet `build_dataloader`, one GPU, non-distributed).
 *
 * @example
 * ```ts ignore
 * const loader = buildDataloader(dataset, { samples_per_gpu: 2, workers_per_gpu: 2, seed: 0 });
 * for await (const batch of loader) {
 *   console.log(batch.img.shape, batch.img_metas.length); // [2, 3, H, W] 2
 * }
 * await loader.close();
 * ```
 */
export function buildDataloader(dataset: DetDataset, opts: DataloaderOptions): DataLoader {
  return new DataLoader(dataset, opts);
}
