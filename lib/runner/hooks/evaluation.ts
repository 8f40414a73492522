/**
 * `EvalHook` (mmdet/mmcv `evaluation.py`): every `interval` epochs (or iterations) runs an injected
 * `evaluate(runner)` — single-GPU test plus `dataset.evaluate`, supplied by the train API — writes
 * the metrics into the log buffer for the logger hooks, and with `save_best` keeps the best
 * checkpoint as `best_{metric}_epoch_{n}.safetensors`.
 *
 * @module
 */
import { removeCheckpoint } from "../checkpoint.ts";
import { Hook, type Runner } from "../hook.ts";
import { HOOKS } from "../registry.ts";
import type { EvalResults } from "../types.ts";

/** Runs the evaluation; `evalKwargs` are the other `evaluation` config keys (e.g. `metric`). */
export type EvaluateFn = (
  runner: Runner,
  evalKwargs: Record<string, unknown>,
) => Promise<EvalResults>;

/** `evaluation` config keys plus the injected function. */
export interface EvalHookCfg {
  /** Runs the evaluation and returns the metrics (injected by the train API). */
  evaluate: EvaluateFn;
  /** Evaluate every `interval` epochs or iterations (default 1). */
  interval?: number;
  /** First epoch (1-based) to evaluate at; later ones follow `interval` from it. */
  start?: number | null;
  /** Count `interval` in epochs (true, default) or iterations. */
  by_epoch?: boolean;
  /** A metric key, or `"auto"` for the first returned metric; null disables. */
  save_best?: string | null;
  /** `"greater"` or `"less"`; inferred from the key when absent (mAP/AR/acc → greater, loss → less). */
  rule?: "greater" | "less" | null;
  /** Number of val batches, printed as the iteration of the `Epoch(val)` line. */
  eval_iter_num?: number;
  /** Further keys (e.g. `metric`), passed to `evaluate` as `evalKwargs`. */
  [key: string]: unknown;
}

const GREATER = ["acc", "top", "ar@", "auc", "precision", "map", "mdice", "miou", "macc", "aacc"];
const LESS = ["loss"];

/** The comparison rule for a metric key, as mmcv infers it. */
export function inferRule(key: string): "greater" | "less" {
  const k = key.toLowerCase();
  if (GREATER.includes(k)) return "greater";
  if (LESS.includes(k)) return "less";
  if (GREATER.some((g) => k.includes(g))) return "greater";
  if (LESS.some((l) => k.includes(l))) return "less";
  throw new RangeError(
    `Cannot infer the save_best rule for metric "${key}": set evaluation.rule to "greater" or "less"`,
  );
}

/** Periodic evaluation with optional best-checkpoint saving. */
export class EvalHook extends Hook {
  /** The injected evaluation function. */
  readonly evaluateFn: EvaluateFn;
  /** Evaluation period in epochs or iterations. */
  readonly interval: number;
  /** First epoch/iteration (1-based) to evaluate at, or null to follow `interval` only. */
  readonly start: number | null;
  /** Whether `interval` counts epochs (else iterations). */
  readonly byEpoch: boolean;
  /** The `save_best` metric key, `"auto"`, or null when best-checkpoint saving is off. */
  readonly saveBest: string | null;
  /** Comparison rule of the best metric; null until inferred. */
  rule: "greater" | "less" | null;
  /**
   * The metric compared for the best checkpoint (resolved from `"auto"` at the first evaluation).
   */
  keyIndicator: string | null;
  /** Path of the current best checkpoint, if any. */
  bestCkptPath: string | undefined;
  /** Further `evaluation` config keys, passed to `evaluateFn`. */
  readonly evalKwargs: Record<string, unknown>;
  /** Number of val batches, logged as `eval_iter_num`. */
  readonly evalIterNum: number | undefined;
  #initialFlag = true;

  /**
   * Validates `cfg`; throws `TypeError` without `evaluate` and `RangeError` for bad `interval`,
   * `start` or `rule`.
   */
  constructor(cfg: EvalHookCfg) {
    super();
    const {
      evaluate,
      interval = 1,
      start = null,
      by_epoch = true,
      save_best = null,
      rule = null,
      eval_iter_num,
      type: _t,
      ...rest
    } = cfg;
    if (typeof evaluate !== "function") {
      throw new TypeError("EvalHook: an evaluate(runner) function is required");
    }
    if (!(Number.isInteger(interval) && interval > 0)) {
      throw new RangeError(`Invalid evaluation.interval ${interval}: expected a positive integer`);
    }
    if (start !== null && start < 0) {
      throw new RangeError(`Invalid evaluation.start ${start}: expected a non-negative integer`);
    }
    this.evaluateFn = evaluate;
    this.interval = interval;
    this.start = start;
    this.byEpoch = by_epoch;
    this.saveBest = save_best;
    this.rule = rule;
    if (rule !== null && rule !== "greater" && rule !== "less") {
      throw new RangeError(`Invalid evaluation.rule "${rule}": expected "greater" or "less"`);
    }
    this.keyIndicator = save_best;
    if (save_best !== null && save_best !== "auto" && rule === null) {
      this.rule = inferRule(save_best);
    }
    this.evalKwargs = rest;
    this.evalIterNum = eval_iter_num;
  }

  /** With `save_best`, restores the best checkpoint path from `runner.meta.hook_msgs`. */
  override beforeRun(runner: Runner): void {
    if (this.saveBest !== null) {
      const msgs = (runner.meta.hook_msgs ??= {}) as Record<string, unknown>;
      this.bestCkptPath = msgs.best_ckpt as string | undefined;
    }
  }

  /** By epoch, on the first train epoch: evaluates once when resuming at or past `start`. */
  override async beforeTrainEpoch(runner: Runner): Promise<void> {
    // evaluate once before training when resuming past `start`
    if (!(this.byEpoch && this.#initialFlag)) return;
    if (this.start !== null && runner.epoch >= this.start) await this.afterTrainEpoch(runner);
    this.#initialFlag = false;
  }

  /**
   * By iteration, on the first train iteration: evaluates once when resuming at or past `start`.
   */
  override async beforeTrainIter(runner: Runner): Promise<void> {
    if (this.byEpoch || !this.#initialFlag) return;
    if (this.start !== null && runner.iter >= this.start) await this.afterTrainIter(runner);
    this.#initialFlag = false;
  }

  /** By epoch: evaluates when due, logs the metrics and keeps the best checkpoint. */
  override async afterTrainEpoch(runner: Runner): Promise<void> {
    if (this.byEpoch && this.shouldEvaluate(runner)) await this.#doEvaluate(runner);
  }

  /** By iteration: evaluates when due, logs the metrics and keeps the best checkpoint. */
  override async afterTrainIter(runner: Runner): Promise<void> {
    if (!this.byEpoch && this.shouldEvaluate(runner)) await this.#doEvaluate(runner);
  }

  /** Whether this epoch/iteration is due (interval counted from `start` when given). */
  shouldEvaluate(runner: Runner): boolean {
    const current = this.byEpoch ? runner.epoch : runner.iter;
    if (this.start === null) {
      return this.byEpoch
        ? this.everyNEpochs(runner, this.interval)
        : this.everyNIters(runner, this.interval);
    }
    if (current + 1 < this.start) return false;
    return (current + 1 - this.start) % this.interval === 0;
  }

  async #doEvaluate(runner: Runner): Promise<void> {
    const results = await this.evaluateFn(runner, this.evalKwargs);
    const out = runner.logBuffer.output;
    if (this.evalIterNum !== undefined) out.eval_iter_num = this.evalIterNum;
    for (const [k, v] of Object.entries(results)) out[k] = v;
    runner.logBuffer.ready = true;
    if (this.saveBest === null) return;
    const keys = Object.keys(results);
    if (keys.length === 0) {
      runner.logger.warn("Since evaluation results are empty, the best checkpoint cannot be saved");
      return;
    }
    if (this.keyIndicator === "auto") {
      this.keyIndicator = keys[0];
      this.rule ??= inferRule(keys[0]);
    }
    const score = results[this.keyIndicator!];
    if (typeof score !== "number") {
      throw new RangeError(
        `Cannot save the best checkpoint: metric "${this.keyIndicator}" is not in the evaluation results (${
          keys.join(", ")
        })`,
      );
    }
    await this.#saveBest(runner, score);
  }

  async #saveBest(runner: Runner, score: number): Promise<void> {
    const [curType, curTime] = this.byEpoch
      ? ["epoch", runner.epoch + 1]
      : ["iter", runner.iter + 1];
    const msgs = (runner.meta.hook_msgs ??= {}) as Record<string, unknown>;
    const best = (msgs.best_score as number | undefined) ??
      (this.rule === "greater" ? -Infinity : Infinity);
    const better = this.rule === "greater" ? score > best : score < best;
    if (!better) return;
    msgs.best_score = score;
    if (!runner.workDir) throw new TypeError("EvalHook: save_best needs a work_dir");
    if (this.bestCkptPath) await removeCheckpoint(this.bestCkptPath);
    const name = `best_${this.keyIndicator}_${curType}_${curTime}.safetensors`;
    this.bestCkptPath = await runner.saveCheckpoint(runner.workDir, {
      filenameTmpl: name,
      createSymlink: false,
    });
    msgs.best_ckpt = this.bestCkptPath;
    runner.logger.info(`Now best checkpoint is saved as ${name}.`);
    runner.logger.info(
      `Best ${this.keyIndicator} is ${score.toFixed(4)} at ${curTime} ${curType}.`,
    );
  }
}

HOOKS.register("EvalHook", EvalHook);
