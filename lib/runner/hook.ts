/**
 * The `Hook` base class: one method per runner stage (mmcv's stages, camelCased), all no-ops by
 * default. The train/val variants call the generic `beforeEpoch`/`afterEpoch`/`beforeIter`/
 * `afterIter` unless overridden, as in mmcv.
 *
 * @module
 */
import type { LogBuffer } from "./log_buffer.ts";
import type { RunnerLogger } from "./logger.ts";
import type { Optimizer, RunnerDataLoader, RunnerModel, TrainStepOutput } from "./types.ts";

/** Options of `runner.saveCheckpoint()`. */
export interface SaveCheckpointCall {
  /** File name template with `{}` for the epoch/iteration, e.g. `epoch_{}.safetensors`. */
  filenameTmpl?: string;
  /** Also save the optimizer state (default true). */
  saveOptimizer?: boolean;
  /** Extra meta merged over `runner.meta`. */
  meta?: Record<string, unknown>;
  /** Point `latest` at the new checkpoint (default true). */
  createSymlink?: boolean;
}

/**
 * What a hook sees of the runner (as mmcv's hooks see `runner`): `Runner` implements it, and
 * hooks depend on this interface, not on the runner classes (no import cycle).
 */
export interface Runner {
  /** The model being trained. */
  model: RunnerModel;
  /** Its optimizer. */
  optimizer: Optimizer | undefined;
  /** Folder for logs and checkpoints. */
  workDir: string | undefined;
  /** Where log lines go. */
  logger: RunnerLogger;
  /** Saved in checkpoints and as the JSON log's first line; `hook_msgs` lives here. */
  meta: Record<string, unknown>;
  /** `YYYYMMDD_HHMMSS`; names the `.log` and `.log.json` files. */
  timestamp: string | undefined;
  /** `"train"` or `"val"` while a phase runs. */
  mode: string | undefined;
  /** Completed epochs (0-based index of the running epoch). */
  epoch: number;
  /** Global iteration (0-based during an iteration). */
  iter: number;
  /** Iteration within the epoch. */
  innerIter: number;
  /** Epochs to train. */
  maxEpochs: number | undefined;
  /** Iterations to train. */
  maxIters: number | undefined;
  /** The loader of the running phase. */
  dataLoader: RunnerDataLoader | undefined;
  /** What the last `trainStep`/`valStep` returned. */
  outputs: TrainStepOutput | undefined;
  /** Logged values of the current epoch. */
  readonly logBuffer: LogBuffer;
  /** Peak GPU memory in MB, when the GPU runtime provides it. */
  memoryMb: (() => number) | undefined;
  /** The registered hooks in call order. */
  readonly hooks: readonly Hook[];
  /** Registers `hook` with `priority`. */
  registerHook(hook: Hook, priority?: number | string): void;
  /** Calls `stage` on every hook in order. */
  callHook(stage: HookStage): Promise<void>;
  /** The learning rate of each parameter group. */
  currentLr(): number[];
  /** The momentum of each parameter group (`betas[0]` for Adam-style groups). */
  currentMomentum(): number[];
  /** Throws when a logged loss of the epoch is not finite. */
  assertFiniteLosses(): Promise<void>;
  /** Saves a checkpoint into `outDir`; returns its path. */
  saveCheckpoint(outDir: string, opts?: SaveCheckpointCall): Promise<string>;
}

/** The runner stages in the order mmcv lists them. */
export const HOOK_STAGES = [
  "before_run",
  "before_train_epoch",
  "before_train_iter",
  "after_train_iter",
  "after_train_epoch",
  "before_val_epoch",
  "before_val_iter",
  "after_val_iter",
  "after_val_epoch",
  "after_run",
] as const;

/** A stage name as passed to `runner.callHook()`; the generic ones are used by `IterBasedRunner`. */
export type HookStage =
  | typeof HOOK_STAGES[number]
  | "before_epoch"
  | "after_epoch"
  | "before_iter"
  | "after_iter";

/** The method name of a stage: `"before_train_epoch"` → `"beforeTrainEpoch"`. */
export function stageMethod(stage: HookStage): HookMethod {
  return stage.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) as HookMethod;
}

/** A hook method name. */
export type HookMethod =
  | "beforeRun"
  | "afterRun"
  | "beforeEpoch"
  | "afterEpoch"
  | "beforeIter"
  | "afterIter"
  | "beforeTrainEpoch"
  | "beforeValEpoch"
  | "afterTrainEpoch"
  | "afterValEpoch"
  | "beforeTrainIter"
  | "beforeValIter"
  | "afterTrainIter"
  | "afterValIter";

/** What a hook method returns: nothing, or a promise the runner awaits before the next hook. */
export type HookResult = void | Promise<void>;

const GENERIC_OF: Record<string, HookMethod> = {
  beforeTrainEpoch: "beforeEpoch",
  beforeValEpoch: "beforeEpoch",
  afterTrainEpoch: "afterEpoch",
  afterValEpoch: "afterEpoch",
  beforeTrainIter: "beforeIter",
  beforeValIter: "beforeIter",
  afterTrainIter: "afterIter",
  afterValIter: "afterIter",
};

/**
 * Base class of every hook. Subclasses override the stages they act on and are registered in
 * `HOOKS` with one line, e.g. `HOOKS.register("CheckpointHook", CheckpointHook);`.
 *
 * @example
 * ```ts
 * import { Hook, type Runner } from "./hook.ts";
 * class PrintEpochHook extends Hook {
 *   override afterTrainEpoch(runner: Runner): void {
 *     console.log(`finished epoch ${runner.epoch + 1}`);
 *   }
 * }
 * ```
 */
export class Hook {
  /** Set by `runner.registerHook()`: the numeric priority this hook was registered with. */
  priority = 50;

  /** Called once before the first workflow phase. No-op by default. */
  beforeRun(_runner: Runner): HookResult {}
  /** Called once after the run ends. No-op by default. */
  afterRun(_runner: Runner): HookResult {}
  /**
   * Called before every train and val epoch unless the specific stage is overridden. No-op by
   * default.
   */
  beforeEpoch(_runner: Runner): HookResult {}
  /**
   * Called after every train and val epoch unless the specific stage is overridden. No-op by
   * default.
   */
  afterEpoch(_runner: Runner): HookResult {}
  /**
   * Called before every train and val iteration unless the specific stage is overridden. No-op by
   * default.
   */
  beforeIter(_runner: Runner): HookResult {}
  /**
   * Called after every train and val iteration unless the specific stage is overridden. No-op by
   * default.
   */
  afterIter(_runner: Runner): HookResult {}

  /** Called before each train epoch; defaults to `beforeEpoch`. */
  beforeTrainEpoch(runner: Runner): HookResult {
    return this.beforeEpoch(runner);
  }
  /** Called before each val epoch; defaults to `beforeEpoch`. */
  beforeValEpoch(runner: Runner): HookResult {
    return this.beforeEpoch(runner);
  }
  /** Called after each train epoch; defaults to `afterEpoch`. */
  afterTrainEpoch(runner: Runner): HookResult {
    return this.afterEpoch(runner);
  }
  /** Called after each val epoch; defaults to `afterEpoch`. */
  afterValEpoch(runner: Runner): HookResult {
    return this.afterEpoch(runner);
  }
  /** Called before each train iteration; defaults to `beforeIter`. */
  beforeTrainIter(runner: Runner): HookResult {
    return this.beforeIter(runner);
  }
  /** Called before each val iteration; defaults to `beforeIter`. */
  beforeValIter(runner: Runner): HookResult {
    return this.beforeIter(runner);
  }
  /** Called after each train iteration (`OptimizerHook` steps here); defaults to `afterIter`. */
  afterTrainIter(runner: Runner): HookResult {
    return this.afterIter(runner);
  }
  /** Called after each val iteration; defaults to `afterIter`. */
  afterValIter(runner: Runner): HookResult {
    return this.afterIter(runner);
  }

  /** True after every `n`-th epoch: `(epoch + 1) % n === 0` (false for n ≤ 0). */
  everyNEpochs(runner: Runner, n: number): boolean {
    return n > 0 ? (runner.epoch + 1) % n === 0 : false;
  }

  /** True after every `n`-th iteration within the epoch. */
  everyNInnerIters(runner: Runner, n: number): boolean {
    return n > 0 ? (runner.innerIter + 1) % n === 0 : false;
  }

  /** True after every `n`-th global iteration. */
  everyNIters(runner: Runner, n: number): boolean {
    return n > 0 ? (runner.iter + 1) % n === 0 : false;
  }

  /** True at the last iteration of the current epoch's loader. */
  endOfEpoch(runner: Runner): boolean {
    return runner.innerIter + 1 === (runner.dataLoader?.length ?? -1);
  }

  /** True during the last epoch. */
  isLastEpoch(runner: Runner): boolean {
    return runner.epoch + 1 === runner.maxEpochs;
  }

  /** True at the last global iteration. */
  isLastIter(runner: Runner): boolean {
    return runner.iter + 1 === runner.maxIters;
  }

  /** The stages at which this hook does something (it overrides the method or its generic one). */
  getTriggeredStages(): HookStage[] {
    const base = Hook.prototype as unknown as Record<string, unknown>;
    const self = this as unknown as Record<string, unknown>;
    const overrides = (m: HookMethod) => self[m] !== base[m];
    return HOOK_STAGES.filter((stage) => {
      const m = stageMethod(stage);
      return overrides(m) || (GENERIC_OF[m] !== undefined && overrides(GENERIC_OF[m]));
    });
  }
}
