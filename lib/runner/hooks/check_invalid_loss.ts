/**
 * `CheckInvalidLossHook`: stops training with `NonFiniteLossError` when a logged loss is NaN or
 * infinite. It checks with the log buffer's batched readback every `interval` iterations and at the
 * end of each epoch — never per step — so a bad value is found within one interval, before the
 * next checkpoint is written.
 *
 * @module
 */
import { Hook, type Runner } from "../hook.ts";
import { HOOKS } from "../registry.ts";

/** Checks losses for NaN/Inf every `interval` iterations (default 50). */
export class CheckInvalidLossHook extends Hook {
  /** Check period in iterations. */
  readonly interval: number;

  /** Reads `interval` (default 50). */
  constructor(cfg: { interval?: number } = {}) {
    super();
    this.interval = cfg.interval ?? 50;
  }

  /**
   * Every `interval` iterations and at the epoch's last iteration: throws `NonFiniteLossError` if a
   * logged loss is not finite.
   */
  override async afterTrainIter(runner: Runner): Promise<void> {
    if (this.everyNIters(runner, this.interval) || this.endOfEpoch(runner)) {
      await runner.assertFiniteLosses();
    }
  }

  /** Throws `NonFiniteLossError` if a loss logged during the epoch is not finite. */
  override async afterTrainEpoch(runner: Runner): Promise<void> {
    await runner.assertFiniteLosses();
  }

  /** Throws `NonFiniteLossError` if a loss logged since the last check is not finite. */
  override async afterRun(runner: Runner): Promise<void> {
    await runner.assertFiniteLosses();
  }
}

HOOKS.register("CheckInvalidLossHook", CheckInvalidLossHook);
