/**
 * `LoggerHook` base (mmcv `logger/base.py`): averages the log buffer every `interval` iterations
 * and hands the result to `log()`; logs eval results after an epoch and val averages.
 *
 * @module
 */
import { Hook, type Runner } from "../../hook.ts";

/** Common logger options (`log_config` passes `interval`). */
export interface LoggerHookCfg {
  /** Log every `interval` iterations (default 10). */
  interval?: number;
  /** Skip the last partial interval of an epoch (mmcv default true). */
  ignore_last?: boolean;
  /** Clear the output after logging; set automatically on the last logger hook. */
  reset_flag?: boolean;
  /** Count `interval` within the epoch (true, default) or in global iterations. */
  by_epoch?: boolean;
}

/** Base class of logger hooks; subclasses implement `log(runner)`. */
export abstract class LoggerHook extends Hook {
  /** Logging period in iterations. */
  readonly interval: number;
  /** Whether the last partial interval of an epoch is skipped. */
  readonly ignoreLast: boolean;
  /** Whether the log output is cleared after logging (set on the last logger hook). */
  resetFlag: boolean;
  /** Whether `interval` counts iterations within the epoch (else global iterations). */
  readonly byEpoch: boolean;

  /** Reads the options; throws `RangeError` for a non-positive `interval`. */
  constructor(cfg: LoggerHookCfg = {}) {
    super();
    this.interval = cfg.interval ?? 10;
    if (!(this.interval > 0)) {
      throw new RangeError(
        `Invalid log_config.interval ${cfg.interval}: expected a positive integer`,
      );
    }
    this.ignoreLast = cfg.ignore_last ?? true;
    this.resetFlag = cfg.reset_flag ?? false;
    this.byEpoch = cfg.by_epoch ?? true;
  }

  /** Writes one record from `runner.logBuffer.output`. */
  abstract log(runner: Runner): void | Promise<void>;

  /** `"train"` while training with timing in the output, else `"val"`. */
  getMode(runner: Runner): string {
    if (runner.mode === "train") return "time" in runner.logBuffer.output ? "train" : "val";
    if (runner.mode === "val") return "val";
    throw new RangeError(`Cannot log in runner mode "${runner.mode}": expected "train" or "val"`);
  }

  /** 1-based epoch: `epoch + 1` while training, `epoch` in a val phase (already incremented). */
  getEpoch(runner: Runner): number {
    return runner.mode === "train" ? runner.epoch + 1 : runner.epoch;
  }

  /** 1-based iteration: within the epoch when `byEpoch && inner`, else global. */
  getIter(runner: Runner, inner = false): number {
    return this.byEpoch && inner ? runner.innerIter + 1 : runner.iter + 1;
  }

  /** Sets `resetFlag` on the last registered logger hook. */
  override beforeRun(runner: Runner): void {
    for (let i = runner.hooks.length - 1; i >= 0; i--) {
      const h = runner.hooks[i];
      if (h instanceof LoggerHook) {
        h.resetFlag = true;
        break;
      }
    }
  }

  /** Clears the log buffer. */
  override beforeEpoch(runner: Runner): void {
    runner.logBuffer.clear();
  }

  /** Averages the buffer over `interval` when due, then logs if the output is ready. */
  override async afterTrainIter(runner: Runner): Promise<void> {
    const due = this.byEpoch
      ? this.everyNInnerIters(runner, this.interval)
      : this.everyNIters(runner, this.interval);
    if (due || (this.endOfEpoch(runner) && !this.ignoreLast)) {
      await runner.logBuffer.resolve();
      runner.logBuffer.average(this.interval);
    }
    if (runner.logBuffer.ready) await this.#emit(runner);
  }

  /** Logs pending output (e.g. evaluation results) after a train epoch. */
  override async afterTrainEpoch(runner: Runner): Promise<void> {
    if (runner.logBuffer.ready) await this.#emit(runner);
  }

  /** Averages the whole val epoch and logs it. */
  override async afterValEpoch(runner: Runner): Promise<void> {
    await runner.logBuffer.resolve();
    runner.logBuffer.average();
    await this.#emit(runner);
  }

  async #emit(runner: Runner): Promise<void> {
    await this.log(runner);
    if (this.resetFlag) runner.logBuffer.clearOutput();
  }
}
