/**
 * The process group of a data-parallel run (PyTorch's `torch.distributed` surface, on MPI):
 * `initDist`, `getDistInfo`, and the collectives `allReduce`, `broadcast`, `barrier` and
 * `allGather`. Without a launcher every function is the identity of a world of one process, so
 * the same code runs with and without `mpirun`.
 *
 * Every collective runs under a watchdog: when it does not complete within the timeout (a rank
 * died or stalled), this rank prints which collective hung and calls `MPI_Abort`, which ends the
 * whole job. Under `mpirun`, a rank that dies makes `mpirun` terminate the others (SIGTERM); the
 * listener installed by `initDist` names that cause before the process exits.
 *
 * @module
 */
import { DistError, MpiLib } from "./mpi.ts";
import { platform } from "../platform/mod.ts";

/** How the processes were started: `"none"` (one process) or `"mpi"` (`mpirun`, `srun --mpi`). */
export type Launcher = "none" | "mpi";

/** Where this process stands in the job. */
export interface DistInfo {
  /** The launcher given to {@link initDist} (`"none"` before it). */
  launcher: Launcher;
  /** This process's rank in `MPI_COMM_WORLD` (0 without a launcher). */
  rank: number;
  /** Number of processes (1 without a launcher). */
  worldSize: number;
  /** Rank among the processes of this node (picks the adapter of this rank). */
  localRank: number;
  /** Number of processes on this node. */
  localSize: number;
  /** The MPI library's version line, when one is loaded. */
  library?: string;
}

/** Options of {@link initDist}. */
export interface InitDistOptions {
  /** `"mpi"` opens libmpi and joins the job; `"none"` is a world of one. */
  launcher: Launcher;
  /** Seconds a collective may take before the job is aborted (default 1800, as PyTorch). */
  timeout?: number;
  /** Path of libmpi (default: `WGDET_MPI_LIB`, then the sonames of `MPI_SONAMES`). */
  libPath?: string;
}

const SINGLE: DistInfo = { launcher: "none", rank: 0, worldSize: 1, localRank: 0, localSize: 1 };

let mpi: MpiLib | null = null;
let info: DistInfo = { ...SINGLE };
let timeoutMs = 1800_000;
let onTerm: (() => void) | null = null;

/**
 * Joins the job: with `launcher: "mpi"`, loads Open MPI (throws `DistUnavailableError` naming the
 * packages when it is missing), calls `MPI_Init_thread` and reads rank and world size. Calling it
 * again returns the same information.
 *
 * @example
 * ```ts ignore
 * const { rank, worldSize } = await initDist({ launcher: "mpi" });
 * const g = new Float32Array([rank]);
 * await allReduce(g, "mean"); // every rank: (0 + 1 + ... + worldSize-1) / worldSize
 * ```
 */
export async function initDist(opts: InitDistOptions): Promise<DistInfo> {
  if (opts.launcher !== "none" && opts.launcher !== "mpi") {
    throw new RangeError(`Unknown launcher "${opts.launcher}": expected "none" or "mpi"`);
  }
  if (opts.timeout !== undefined) {
    if (!(opts.timeout > 0)) {
      throw new RangeError(
        `dist timeout must be a positive number of seconds, got ${opts.timeout}`,
      );
    }
    timeoutMs = opts.timeout * 1000;
  }
  if (opts.launcher === "none" || mpi) return { ...info };
  mpi = MpiLib.open(opts.libPath);
  const r = mpi.ranks();
  info = { launcher: "mpi", ...r, library: mpi.version };
  if (r.worldSize > 1) {
    const handler = () => {
      console.error(
        `rank ${info.rank}: terminated by the MPI launcher (SIGTERM), usually because another ` +
          "rank of the job failed (see the launcher's message); checkpoints are written by rank 0 " +
          "only, so the last complete one is intact",
      );
      platform().exit(143);
    };
    onTerm = platform().onTerminate(handler);
  }
  return { ...info };
}

/** Rank and world size of this process (a world of one before {@link initDist}). */
export function getDistInfo(): DistInfo {
  return { ...info };
}

/** True on rank 0, the process that logs and writes checkpoints. */
export function isMainProcess(): boolean {
  return info.rank === 0;
}

/** Runs one collective under the watchdog. */
function collective<T>(what: string, f: (m: MpiLib) => Promise<T>): Promise<T> {
  const m = mpi!;
  return m.run(async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const watchdog = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const msg = `rank ${info.rank}: ${what} did not complete within ${
          timeoutMs / 1000
        } s: another rank died or stalled; aborting the MPI job`;
        console.error(msg);
        reject(new DistError(msg));
        m.abort(1);
      }, timeoutMs);
    });
    try {
      return await Promise.race([f(m), watchdog]);
    } finally {
      clearTimeout(timer);
    }
  });
}

function bytesOf(a: ArrayBufferView): Uint8Array<ArrayBuffer> {
  return new Uint8Array(a.buffer as ArrayBuffer, a.byteOffset, a.byteLength);
}

/**
 * Sums `buf` over all ranks in place (`MPI_Allreduce` with `MPI_IN_PLACE`); `"mean"` then divides
 * by the world size. Returns `buf`.
 */
export async function allReduce(
  buf: Float32Array<ArrayBuffer>,
  op: "sum" | "mean" = "sum",
): Promise<Float32Array<ArrayBuffer>> {
  if (op !== "sum" && op !== "mean") {
    throw new RangeError(`Unknown all-reduce op "${op}": expected "sum" or "mean"`);
  }
  if (!mpi || info.worldSize === 1 || buf.length === 0) return buf;
  await collective(`allReduce(${buf.length} floats)`, async (m) => {
    m.check(
      await m.fn.MPI_Allreduce(m.h.inPlace, buf, buf.length, m.h.float, m.h.sum, m.h.commWorld),
      "MPI_Allreduce",
    );
  });
  if (op === "mean") {
    const s = 1 / info.worldSize;
    for (let i = 0; i < buf.length; i++) buf[i] *= s;
  }
  return buf;
}

/** Copies `buf` of rank `root` into `buf` of every rank (`MPI_Bcast`, same length everywhere). */
export async function broadcast<T extends ArrayBufferView<ArrayBuffer>>(
  buf: T,
  root = 0,
): Promise<T> {
  checkRoot(root);
  if (!mpi || info.worldSize === 1 || buf.byteLength === 0) return buf;
  await collective(`broadcast(${buf.byteLength} bytes from rank ${root})`, async (m) => {
    m.check(
      await m.fn.MPI_Bcast(bytesOf(buf), buf.byteLength, m.h.byte, root, m.h.commWorld),
      "MPI_Bcast",
    );
  });
  return buf;
}

/** Broadcasts a payload whose length only `root` knows (others pass anything, e.g. `null`). */
export async function broadcastBytes(
  data: Uint8Array<ArrayBuffer> | null,
  root = 0,
): Promise<Uint8Array<ArrayBuffer>> {
  checkRoot(root);
  if (!mpi || info.worldSize === 1) return data ?? new Uint8Array(0);
  const n = new Int32Array([info.rank === root ? data?.byteLength ?? 0 : 0]);
  await broadcast(n, root);
  const out = info.rank === root && data ? data : new Uint8Array(n[0]);
  await broadcast(out, root);
  return out;
}

/** Waits until every rank has reached the barrier (`MPI_Barrier`). */
export async function barrier(): Promise<void> {
  if (!mpi || info.worldSize === 1) return;
  await collective("barrier", async (m) => {
    m.check(await m.fn.MPI_Barrier(m.h.commWorld), "MPI_Barrier");
  });
}

/**
 * Gathers one byte payload of any length from every rank to every rank (`MPI_Allgather` of the
 * lengths, then `MPI_Allgatherv`); element `r` of the result is rank `r`'s payload.
 */
export async function allGather(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>[]> {
  if (!mpi || info.worldSize === 1) return [data];
  const p = info.worldSize;
  const counts = new Int32Array(p);
  await collective("allGather(lengths)", async (m) => {
    m.check(
      await m.fn.MPI_Allgather(
        new Int32Array([data.byteLength]),
        1,
        m.h.int,
        counts,
        1,
        m.h.int,
        m.h.commWorld,
      ),
      "MPI_Allgather",
    );
  });
  const displs = new Int32Array(p);
  let total = 0;
  for (let r = 0; r < p; r++) {
    displs[r] = total;
    total += counts[r];
    if (total > 0x7fffffff) {
      throw new RangeError(`Cannot gather ${total} bytes: MPI counts are 32-bit, gather in parts`);
    }
  }
  const all = new Uint8Array(Math.max(1, total));
  await collective(`allGather(${total} bytes)`, async (m) => {
    m.check(
      await m.fn.MPI_Allgatherv(
        data.byteLength ? data : new Uint8Array(1),
        data.byteLength,
        m.h.byte,
        all,
        counts,
        displs,
        m.h.byte,
        m.h.commWorld,
      ),
      "MPI_Allgatherv",
    );
  });
  return Array.from({ length: p }, (_, r) => all.slice(displs[r], displs[r] + counts[r]));
}

/** {@link allGather} of a JSON-serialisable value. */
export async function allGatherJson<T>(value: T): Promise<T[]> {
  const parts = await allGather(new TextEncoder().encode(JSON.stringify(value)));
  const dec = new TextDecoder();
  return parts.map((b) => JSON.parse(dec.decode(b)) as T);
}

function checkRoot(root: number): void {
  if (!(Number.isInteger(root) && root >= 0 && root < info.worldSize)) {
    throw new RangeError(`Broadcast root must be a rank in [0, ${info.worldSize}), got ${root}`);
  }
}

/** Leaves the job (`MPI_Finalize`); afterwards this process is a world of one again. */
export function finalizeDist(): void {
  if (onTerm) onTerm();
  onTerm = null;
  mpi?.finalize();
  mpi = null;
  info = { ...SINGLE };
}

/** Prints `message` and ends every rank of the job (`MPI_Abort`); a no-op without MPI. */
export function abortDist(code: number, message?: string): void {
  if (message) console.error(`rank ${info.rank}: ${message}`);
  mpi?.abort(code);
}
