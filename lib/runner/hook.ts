/**
 * The `Hook` base class: one method per runner stage (mmcv's stages, camelCased), all no-ops by
 * default. The train/val variants call the generic `beforeEpoch`/`afterEpoch`/`beforeIter`/
 * `afterIter` unless overridden, as in mmcv.
 *
 * @module
 */
import type { BaseRunner } from "./base_runner.ts";

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
 * import { Hook } from "./hook.ts";
 * import type { BaseRunner } from "./base_runner.ts";
 * class PrintEpochHook extends Hook {
 *   override afterTrainEpoch(runner: BaseRunner): void {
 *     console.log(`finished epoch ${runner.epoch + 1}`);
 *   }
 * }
 * ```
 */
export class Hook {
  /** Set by `runner.registerHook()`: the numeric priority this hook was registered with. */
  priority = 50;

  /** Called once before the first workflow phase. No-op by default. */
  beforeRun(_runner: BaseRunner): HookResult {}
  /** Called once after the run ends. No-op by default. */
  afterRun(_runner: BaseRunner): HookResult {}
  /**
   * Called before every train and val epoch unless the specific stage is overridden. No-op by
   * default.
   */
  beforeEpoch(_runner: BaseRunner): HookResult {}
  /**
   * Called after every train and val epoch unless the specific stage is overridden. No-op by
   * default.
   */
  afterEpoch(_runner: BaseRunner): HookResult {}
  /**
   * Called before every train and val iteration unless the specific stage is overridden. No-op by
   * default.
   */
  beforeIter(_runner: BaseRunner): HookResult {}
  /**
   * Called after every train and val iteration unless the specific stage is overridden. No-op by
   * default.
   */
  afterIter(_runner: BaseRunner): HookResult {}

  /** Called before each train epoch; defaults to `beforeEpoch`. */
  beforeTrainEpoch(runner: BaseRunner): HookResult {
    return this.beforeEpoch(runner);
  }
  /** Called before each val epoch; defaults to `beforeEpoch`. */
  beforeValEpoch(runner: BaseRunner): HookResult {
    return this.beforeEpoch(runner);
  }
  /** Called after each train epoch; defaults to `afterEpoch`. */
  afterTrainEpoch(runner: BaseRunner): HookResult {
    return this.afterEpoch(runner);
  }
  /** Called after each val epoch; defaults to `afterEpoch`. */
  afterValEpoch(runner: BaseRunner): HookResult {
    return this.afterEpoch(runner);
  }
  /** Called before each train iteration; defaults to `beforeIter`. */
  beforeTrainIter(runner: BaseRunner): HookResult {
    return this.beforeIter(runner);
  }
  /** Called before each val iteration; defaults to `beforeIter`. */
  beforeValIter(runner: BaseRunner): HookResult {
    return this.beforeIter(runner);
  }
  /** Called after each train iteration (`OptimizerHook` steps here); defaults to `afterIter`. */
  afterTrainIter(runner: BaseRunner): HookResult {
    return this.afterIter(runner);
  }
  /** Called after each val iteration; defaults to `afterIter`. */
  afterValIter(runner: BaseRunner): HookResult {
    return this.afterIter(runner);
  }

  /** True after every `n`-th epoch: `(epoch + 1) % n === 0` (false for n ≤ 0). */
  everyNEpochs(runner: BaseRunner, n: number): boolean {
    return n > 0 ? (runner.epoch + 1) % n === 0 : false;
  }

  /** True after every `n`-th iteration within the epoch. */
  everyNInnerIters(runner: BaseRunner, n: number): boolean {
    return n > 0 ? (runner.innerIter + 1) % n === 0 : false;
  }

  /** True after every `n`-th global iteration. */
  everyNIters(runner: BaseRunner, n: number): boolean {
    return n > 0 ? (runner.iter + 1) % n === 0 : false;
  }

  /** True at the last iteration of the current epoch's loader. */
  endOfEpoch(runner: BaseRunner): boolean {
    return runner.innerIter + 1 === (runner.dataLoader?.length ?? -1);
  }

  /** True during the last epoch. */
  isLastEpoch(runner: BaseRunner): boolean {
    return runner.epoch + 1 === runner.maxEpochs;
  }

  /** True at the last global iteration. */
  isLastIter(runner: BaseRunner): boolean {
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
