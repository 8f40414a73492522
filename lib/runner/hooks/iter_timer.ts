/**
 * `IterTimerHook`: logs `data_time` (waiting for the batch) and `time` (the whole iteration) in
 * seconds (mmcv `iter_timer.py`).
 *
 * @module
 */
import { Hook, type Runner } from "../hook.ts";
import { HOOKS } from "../registry.ts";

/** Times iterations into the log buffer with count 1. */
export class IterTimerHook extends Hook {
  #t = 0;

  /** Takes no options (the config is accepted and ignored). */
  constructor(_cfg: Record<string, unknown> = {}) {
    super();
  }

  /** Starts the clock. */
  override beforeEpoch(_runner: Runner): void {
    this.#t = performance.now();
  }

  /** Logs `data_time`: seconds since the previous iteration ended (waiting for the batch). */
  override beforeIter(runner: Runner): void {
    runner.logBuffer.update({ data_time: (performance.now() - this.#t) / 1000 }, 1, runner.iter);
  }

  /** Logs `time`: seconds of the whole iteration, and restarts the clock. */
  override afterIter(runner: Runner): void {
    const now = performance.now();
    runner.logBuffer.update({ time: (now - this.#t) / 1000 }, 1, runner.iter);
    this.#t = now;
  }
}

HOOKS.register("IterTimerHook", IterTimerHook);
