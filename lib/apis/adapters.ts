/**
 * Glue between the GPU detector and the CPU runner: a `RunnerModel` around a detector (uploads
 * each batch, keeps the step's GPU scalars for lazy logging), the memory scope of a training
 * iteration, the one-readback scalar reader, and state-dict conversion.
 *
 * @module
 */
import { backward } from "../autograd/tape.ts";
import { keep, Tensor } from "../autograd/tensor.ts";
import { getGpu } from "../gpu/runtime.ts";
import type { HostTensor } from "../nn/module.ts";
import { loadStateDictReport } from "../nn/load_report.ts";
import { type PthTensor, pthToFloat32 } from "../utils/pth/pth.ts";
import type { BaseDetector, DetBatch, ImgMeta } from "../models/detectors/base.ts";
import type { Batch } from "../datasets/types.ts";
import { Hook } from "../runner/hook.ts";
import { setScalarReader } from "../runner/log_buffer.ts";
import { HOOKS } from "../runner/registry.ts";
import type {
  LazyScalar,
  Optimizer,
  RunnerModel,
  StateDict,
  TrainStepOutput,
} from "../runner/types.ts";

const DT_TO_CPU = { f32: "F32", i32: "I32", u32: "U32" } as const;

/** Module state dict (GPU dtypes) → the runner's CPU tensors. */
export function toCpuStateDict(sd: Record<string, HostTensor>): StateDict {
  const out: StateDict = {};
  for (const [k, v] of Object.entries(sd)) {
    out[k] = { dtype: DT_TO_CPU[v.dtype], shape: v.shape, data: v.data };
  }
  return out;
}

/** The runner's CPU tensors → a module state dict; int64/f64 entries are converted. */
export function fromCpuStateDict(sd: StateDict): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  for (const [k, v] of Object.entries(sd)) {
    let data: Float32Array | Int32Array | Uint32Array;
    let dtype: "f32" | "i32" | "u32";
    if (v.dtype === "F32") [data, dtype] = [v.data as Float32Array, "f32"];
    else if (v.dtype === "F64") [data, dtype] = [Float32Array.from(v.data as Float64Array), "f32"];
    else if ((v.dtype as string) === "F16" || (v.dtype as string) === "BF16") {
      // safetensors half-precision weights (raw bits) → f32
      [data, dtype] = [pthToFloat32(v as unknown as PthTensor), "f32"];
    } else if (v.dtype === "I32") [data, dtype] = [v.data as Int32Array, "i32"];
    else if (v.dtype === "U32") [data, dtype] = [v.data as Uint32Array, "u32"];
    else if (v.dtype === "I64") {
      [data, dtype] = [Int32Array.from(v.data as BigInt64Array, (b) => Number(b)), "i32"];
    } else [data, dtype] = [Float32Array.from(v.data as Uint8Array), "f32"];
    out[k] = { dtype, shape: v.shape, data: data as HostTensor["data"] };
  }
  return out;
}

/** Uploads a loader batch: the image tensor once; boxes and labels stay on the host for the head. */
export function uploadBatch(batch: Batch): DetBatch {
  const img = Array.isArray(batch.img) ? batch.img[0] : batch.img;
  const metas =
    (Array.isArray(batch.img_metas[0]) ? batch.img_metas[0] : batch.img_metas) as ImgMeta[];
  return {
    img: Tensor.from(img.data, img.shape, { label: "img" }),
    img_metas: metas,
    gt_bboxes: batch.gt_bboxes,
    gt_labels: batch.gt_labels,
    gt_bboxes_ignore: batch.gt_bboxes_ignore ?? null,
  };
}

/** A detector as the runner's `RunnerModel`. */
export class DetectorRunnerModel implements RunnerModel {
  readonly detector: BaseDetector;
  constructor(detector: BaseDetector) {
    this.detector = detector;
  }

  /** Forward and losses of one batch; the loss's backward runs in the optimizer hook. */
  trainStep(data: unknown, _optimizer: Optimizer | undefined): TrainStepOutput {
    // here rather than in a before_iter hook, so that the wait for a busy queue is not logged as
    // data_time
    getGpu().beginIteration();
    const out = this.detector.trainStep(uploadBatch(data as Batch));
    const logVars: Record<string, LazyScalar> = {};
    // the log scalars outlive the iteration's memory scope until the logger reads them
    for (const [k, v] of Object.entries(out.log_vars)) logVars[k] = keep(v);
    const loss = out.loss;
    return {
      loss: { backward: () => backward(loss) },
      log_vars: logVars,
      num_samples: out.num_samples,
    };
  }

  /** As `trainStep`, without gradients. */
  valStep(data: unknown, optimizer: Optimizer | undefined): TrainStepOutput {
    return this.trainStep(data, optimizer);
  }

  train(): void {
    this.detector.train();
  }
  eval(): void {
    this.detector.eval();
  }
  async stateDict(): Promise<StateDict> {
    return toCpuStateDict(await this.detector.stateDict());
  }
  loadStateDict(sd: StateDict, strict: boolean): void {
    // mmcv's load_state_dict: matching entries load, mismatches are reported (raised when strict)
    loadStateDictReport(this.detector, fromCpuStateDict(sd), { strict });
  }
  /** Where key-mismatch reports go (the runner's logger; default `console.warn`). */
  warn: ((msg: string) => void) | undefined;
  namedModules(): Iterable<[string, unknown]> {
    return this.detector.namedModules();
  }
}

/**
 * The GPU memory scope of one iteration. Register the `"open"` instance at priority HIGHEST and
 * the `"close"` instance at LOWEST: the scope then spans the forward, targets, losses, backward,
 * update and logging of the iteration, and all their intermediates are released together.
 * Parameters, gradients, optimizer state and the pending log scalars (kept) survive.
 */
export class MemoryScopeHook extends Hook {
  readonly phase: "open" | "close";
  static #depth = 0;
  constructor(phase: "open" | "close") {
    super();
    this.phase = phase;
  }
  override beforeIter(): void {
    if (this.phase !== "open") return;
    getGpu().beginScope();
    MemoryScopeHook.#depth++;
  }
  override afterIter(): void {
    if (this.phase !== "close" || MemoryScopeHook.#depth === 0) return;
    MemoryScopeHook.#depth--;
    getGpu().endScope();
  }
}

/**
 * Installs the runner's scalar reader: all pending GPU scalars of a log interval are read with one
 * copy and one map, then released.
 */
export function installScalarReader(): void {
  setScalarReader(async (items) => {
    const ts = items as unknown as Tensor[];
    const live = ts.filter((t) => !t.disposed);
    const arrs = await getGpu().readMany(live.map((t) => t.raw));
    const vals = new Map<Tensor, number>();
    live.forEach((t, i) => vals.set(t, arrs[i][0]));
    for (const t of live) t.dispose();
    return ts.map((t) => vals.get(t) ?? NaN);
  });
}

/** Peak pooled GPU memory in MB (mmcv's `torch.cuda.max_memory_allocated`), for the log line. */
export function peakMemoryMb(): number {
  return Math.round(getGpu().stats().peakBytesLive / (1024 * 1024));
}

/**
 * mmcv's `DistSamplerSeedHook`: before each epoch, tells the data loader which epoch it is, so
 * that shuffling and augmentation of epoch k are the same whether or not the run was resumed.
 */
export class DistSamplerSeedHook extends Hook {
  override beforeEpoch(runner: { epoch: number; dataLoader?: unknown }): void {
    const dl = runner.dataLoader as { setEpoch?: (e: number) => void } | undefined;
    dl?.setEpoch?.(runner.epoch);
  }
}

HOOKS.register("DistSamplerSeedHook", DistSamplerSeedHook);
