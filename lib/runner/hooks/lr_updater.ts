/**
 * LR updater hooks (mmcv `lr_updater.py`): a base class with warmup, and the step, cosine
 * annealing, poly and fixed policies. `lr_config: {policy: "step", ...}` builds
 * `StepLrUpdaterHook` (see `registerTrainingHooks`).
 *
 * @module
 */
import type { BaseRunner } from "../base_runner.ts";
import { Hook } from "../hook.ts";
import { annealingCos, polyLr, stepLr, type WarmupKind, warmupLr } from "../lr.ts";
import { HOOKS } from "../registry.ts";

/** Options shared by every LR updater (`lr_config` keys). */
export interface LrUpdaterCfg {
  /** Decay by epoch (true, default) or by iteration. */
  by_epoch?: boolean;
  warmup?: WarmupKind | null;
  /** Warmup length in iterations (in epochs with `warmup_by_epoch`). */
  warmup_iters?: number;
  /** The lr at iteration 0 is `warmup_ratio` × the regular lr. */
  warmup_ratio?: number;
  warmup_by_epoch?: boolean;
}

/** Base class: sets `initial_lr`, applies the regular lr per epoch/iter and warmup per iteration. */
export abstract class LrUpdaterHook extends Hook {
  readonly byEpoch: boolean;
  readonly warmup: WarmupKind | null;
  warmupIters: number | undefined;
  readonly warmupRatio: number;
  readonly warmupEpochs: number | undefined;
  /** The `initial_lr` of every param group, read at `beforeRun`. */
  baseLr: number[] = [];
  /** The lr of every group before warmup, recomputed per epoch (or per iteration). */
  regularLr: number[] = [];

  constructor(cfg: LrUpdaterCfg = {}) {
    super();
    const {
      by_epoch = true,
      warmup = null,
      warmup_iters = 0,
      warmup_ratio = 0.1,
      warmup_by_epoch = false,
    } = cfg;
    if (warmup !== null && !["constant", "linear", "exp"].includes(warmup)) {
      throw new RangeError(
        `Invalid lr_config.warmup "${warmup}": expected "constant", "linear" or "exp"`,
      );
    }
    if (warmup !== null && !(warmup_iters > 0)) {
      throw new RangeError(
        `Invalid lr_config.warmup_iters ${warmup_iters}: must be positive when warmup is set`,
      );
    }
    if (warmup !== null && !(warmup_ratio > 0 && warmup_ratio <= 1)) {
      throw new RangeError(
        `Invalid lr_config.warmup_ratio ${warmup_ratio}: expected a value in (0, 1]`,
      );
    }
    this.byEpoch = by_epoch;
    this.warmup = warmup;
    this.warmupRatio = warmup_ratio;
    if (warmup_by_epoch) {
      this.warmupEpochs = warmup_iters;
      this.warmupIters = undefined;
    } else {
      this.warmupIters = warmup_iters;
    }
  }

  /** The regular lr of a group at the runner's current epoch or iteration. */
  abstract getLr(runner: BaseRunner, baseLr: number): number;

  getRegularLr(runner: BaseRunner): number[] {
    return this.baseLr.map((b) => this.getLr(runner, b));
  }

  getWarmupLr(curIter: number): number[] {
    return this.regularLr.map((lr) =>
      warmupLr(lr, curIter, this.warmup!, this.warmupIters!, this.warmupRatio)
    );
  }

  #setLr(runner: BaseRunner, lrs: number[]): void {
    runner.optimizer?.paramGroups.forEach((g, i) => (g.lr = lrs[i]));
  }

  override beforeRun(runner: BaseRunner): void {
    const groups = runner.optimizer?.paramGroups ?? [];
    for (const g of groups) g.initial_lr ??= g.lr;
    this.baseLr = groups.map((g) => g.initial_lr!);
    this.regularLr = [...this.baseLr];
  }

  override beforeTrainEpoch(runner: BaseRunner): void {
    if (this.warmupIters === undefined) {
      this.warmupIters = this.warmupEpochs! * (runner.dataLoader?.length ?? 0);
    }
    if (!this.byEpoch) return;
    this.regularLr = this.getRegularLr(runner);
    this.#setLr(runner, this.regularLr);
  }

  override beforeTrainIter(runner: BaseRunner): void {
    const cur = runner.iter;
    if (!this.byEpoch) {
      this.regularLr = this.getRegularLr(runner);
      if (this.warmup === null || cur >= this.warmupIters!) this.#setLr(runner, this.regularLr);
      else this.#setLr(runner, this.getWarmupLr(cur));
      return;
    }
    if (this.warmup === null || cur > this.warmupIters!) return;
    if (cur === this.warmupIters) this.#setLr(runner, this.regularLr);
    else this.#setLr(runner, this.getWarmupLr(cur));
  }
}

/** `policy: "fixed"`: the base lr (warmup still applies). */
export class FixedLrUpdaterHook extends LrUpdaterHook {
  getLr(_runner: BaseRunner, baseLr: number): number {
    return baseLr;
  }
}

/** `policy: "step"`: multiply by `gamma` at each milestone epoch (or every `step` epochs). */
export class StepLrUpdaterHook extends LrUpdaterHook {
  readonly step: number | number[];
  readonly gamma: number;
  readonly minLr: number | null;

  constructor(
    cfg: LrUpdaterCfg & { step: number | number[]; gamma?: number; min_lr?: number | null },
  ) {
    super(cfg);
    const { step, gamma = 0.1, min_lr = null } = cfg;
    const ok = typeof step === "number"
      ? step > 0
      : Array.isArray(step) && step.every((s) => s > 0);
    if (!ok) {
      throw new TypeError(
        `Invalid lr_config.step ${
          JSON.stringify(step)
        }: expected a positive number or a list of them`,
      );
    }
    this.step = step;
    this.gamma = gamma;
    this.minLr = min_lr;
  }

  getLr(runner: BaseRunner, baseLr: number): number {
    return stepLr(
      baseLr,
      this.byEpoch ? runner.epoch : runner.iter,
      this.step,
      this.gamma,
      this.minLr,
    );
  }
}

/** `policy: "CosineAnnealing"`: cosine from the base lr to `min_lr` (or `min_lr_ratio`·base). */
export class CosineAnnealingLrUpdaterHook extends LrUpdaterHook {
  readonly minLr: number | null;
  readonly minLrRatio: number | null;

  constructor(cfg: LrUpdaterCfg & { min_lr?: number | null; min_lr_ratio?: number | null }) {
    super(cfg);
    const { min_lr = null, min_lr_ratio = null } = cfg;
    if ((min_lr === null) === (min_lr_ratio === null)) {
      throw new RangeError(
        "Invalid CosineAnnealing lr_config: set exactly one of min_lr and min_lr_ratio",
      );
    }
    this.minLr = min_lr;
    this.minLrRatio = min_lr_ratio;
  }

  getLr(runner: BaseRunner, baseLr: number): number {
    const [progress, max] = this.byEpoch
      ? [runner.epoch, runner.maxEpochs!]
      : [runner.iter, runner.maxIters!];
    const target = this.minLrRatio !== null ? baseLr * this.minLrRatio : this.minLr!;
    return annealingCos(baseLr, target, progress / max);
  }
}

/** `policy: "poly"`: `(base − min_lr)·(1 − progress/max)^power + min_lr`. */
export class PolyLrUpdaterHook extends LrUpdaterHook {
  readonly power: number;
  readonly minLr: number;

  constructor(cfg: LrUpdaterCfg & { power?: number; min_lr?: number }) {
    super(cfg);
    this.power = cfg.power ?? 1;
    this.minLr = cfg.min_lr ?? 0;
  }

  getLr(runner: BaseRunner, baseLr: number): number {
    const [progress, max] = this.byEpoch
      ? [runner.epoch, runner.maxEpochs!]
      : [runner.iter, runner.maxIters!];
    return polyLr(baseLr, progress, max, this.power, this.minLr);
  }
}

HOOKS.register("FixedLrUpdaterHook", FixedLrUpdaterHook);
HOOKS.register("StepLrUpdaterHook", StepLrUpdaterHook);
HOOKS.register("CosineAnnealingLrUpdaterHook", CosineAnnealingLrUpdaterHook);
HOOKS.register("PolyLrUpdaterHook", PolyLrUpdaterHook);
