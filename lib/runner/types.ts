/**
 * The interfaces the runner needs from the rest of wgdet. The runner itself is CPU logic; the GPU
 * model, optimizer and scalar readback plug in through these.
 *
 * @module
 */

/**
 * A scalar that lives on the GPU and is read back lazily. `LogBuffer.resolve()` reads every pending
 * one in a single call of the reader installed with `setScalarReader`. The autograd `Tensor`
 * implements it for 0-d (or 1-element) tensors.
 */
export interface LazyScalar {
  /** The marker the log buffer checks. */
  readonly lazyScalar: true;
}

/** A log value: a number or a lazily read GPU scalar. */
export type LogValue = number | LazyScalar;

/** Something `OptimizerHook` can call `backward()` on: the total loss of a train step. */
export interface Backwardable {
  /** Back-propagates from this scalar into the parameters' gradients. */
  backward(): void | Promise<void>;
}

/**
 * What `model.trainStep()`/`valStep()` return (mmdet's `train_step`): the total loss for backward,
 * the loss entries for logging (`loss_cls`, `loss_bbox`, `loss`), and the batch size.
 */
export interface TrainStepOutput {
  /** The total loss; `OptimizerHook` calls `backward()` on it. Absent for a val step. */
  loss?: Backwardable;
  /** Scalars logged into the log buffer with count `num_samples`. */
  log_vars: Record<string, LogValue>;
  /** Images in the batch (mmdet: `len(img_metas)`). */
  num_samples: number;
  /** Anything else the model returns (ignored by the runner). */
  [key: string]: unknown;
}

/** A CPU copy of one state-dict tensor (the lead converts GPU tensors to this). */
export interface CpuTensor {
  /** safetensors element type; F32 for parameters, I64 for BN's `num_batches_tracked`. */
  dtype: "F32" | "I32" | "U32" | "I64" | "F64" | "U8";
  /** PyTorch shape, e.g. `[out, in, kh, kw]` for a conv weight. */
  shape: number[];
  /** Row-major values, matching `dtype`. */
  data: Float32Array | Int32Array | Uint32Array | BigInt64Array | Float64Array | Uint8Array;
}

/** A state dict: mmdetection parameter names → CPU tensors. */
export type StateDict = Record<string, CpuTensor>;

/** The detector as the runner sees it (mmdet's `BaseDetector` behind `MMDataParallel`). */
export interface RunnerModel {
  /** Forward + losses for one batch; must return an object (checked by the runner). */
  trainStep(
    data: unknown,
    optimizer: Optimizer | undefined,
  ): Promise<TrainStepOutput> | TrainStepOutput;
  /** Same for the `val` workflow phase; required only when the workflow has `["val", n]`. */
  valStep?(
    data: unknown,
    optimizer: Optimizer | undefined,
  ): Promise<TrainStepOutput> | TrainStepOutput;
  /** Training mode (ResNet re-freezes frozen stages and eval-mode BN here). */
  train(): void;
  /** Evaluation mode. */
  eval(): void;
  /** All parameters and buffers as CPU tensors, mmdetection names. */
  stateDict(): StateDict | Promise<StateDict>;
  /** Loads a state dict; `strict` reports missing/unexpected keys as errors. */
  loadStateDict(sd: StateDict, strict: boolean): void | Promise<void>;
  /**
   * Sub-modules, for `NumClassCheckHook`: `[name, module]` pairs; a module with a `numClasses` (or
   * `num_classes`) number is checked against the dataset's `CLASSES`.
   */
  namedModules?(): Iterable<[string, unknown]>;
}

/** One optimizer parameter group; `lr`/`initial_lr`/`momentum` are what LR and momentum hooks use. */
export interface ParamGroup {
  /** The learning rate the next `step()` uses; set by the LR hooks. */
  lr: number;
  /** The lr before any schedule (set at `beforeRun`, saved for resume). */
  initial_lr?: number;
  /** SGD momentum (or read from `betas[0]` for Adam-style groups). */
  momentum?: number;
  /** L2 weight decay. */
  weight_decay?: number;
  /** Optimizer-specific hyper-parameters (`nesterov`, `betas`, `eps`, ...). */
  [key: string]: unknown;
}

/** An optimizer's serialisable state: per-parameter tensors (e.g. momentum buffers) and groups. */
export interface OptimizerState {
  /** e.g. `"backbone.conv1.weight.momentum_buffer"` → tensor. */
  state: StateDict;
  /** The groups without their parameter tensors (JSON-serialisable), including `initial_lr`. */
  param_groups: Record<string, unknown>[];
}

/**
 * The optimizer as the runner and hooks see it (PyTorch's `Optimizer` surface). `step()` applies
 * the update with each group's current `lr` — hooks set `paramGroups[i].lr` before it.
 */
export interface Optimizer {
  /** Parameter groups; hooks read and write `lr` (and `initial_lr`). */
  paramGroups: ParamGroup[];
  /** Drops or zeroes every gradient. */
  zeroGrad(): void;
  /** Applies one update with each group's current hyper-parameters. */
  step(): void | Promise<void>;
  /** The state to checkpoint (momentum buffers on the host, groups with `initial_lr`). */
  stateDict(): OptimizerState | Promise<OptimizerState>;
  /** Restores a state from `stateDict()`. */
  loadStateDict(state: OptimizerState): void | Promise<void>;
  /**
   * Clips the global gradient norm of all parameters with gradients to `max_norm` (mmcv
   * `clip_grad_norm_`: scale = max_norm / (total_norm + 1e-6) when below 1) and returns the norm
   * before clipping, lazily. Required only when `optimizer_config.grad_clip` is set.
   */
  clipGradNorm?(opts: { max_norm: number; norm_type?: number }): LogValue;
}

/** A data loader as the runner sees it: its length and an (async) iterator over batches. */
export interface RunnerDataLoader<T = unknown> {
  /** Batches per epoch. */
  readonly length: number;
  /** Batches, asynchronously (a worker-backed loader). */
  [Symbol.asyncIterator]?(): AsyncIterator<T>;
  /** Batches, synchronously (an in-memory loader). */
  [Symbol.iterator]?(): Iterator<T>;
  /** The dataset, for `NumClassCheckHook` (`CLASSES`) and evaluation. */
  readonly dataset?: { readonly CLASSES?: readonly string[] | string | null };
}

/** Metrics returned by an evaluation, e.g. `{bbox_mAP: 0.5, bbox_mAP_copypaste: "..."}`. */
export type EvalResults = Record<string, number | string>;
