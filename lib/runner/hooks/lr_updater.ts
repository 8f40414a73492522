/**
 * LR updater hooks (mmcv `lr_updater.py`): a base class with warmup, and the step, cosine
 * annealing, poly and fixed policies. `lr_config: {policy: "step", ...}` builds
 * `StepLrUpdaterHook` (see `registerTrainingHooks`).
 *
 * @module
 */
import { Hook, type Runner } from "../hook.ts";
import { annealingCos, polyLr, stepLr, type WarmupKind, warmupLr } from "../lr.ts";
import { HOOKS } from "../registry.ts";

/** Options shared by every LR updater (`lr_config` keys). */
export interface LrUpdaterCfg {
  /** Decay by epoch (true, default) or by iteration. */
  by_epoch?: boolean;
  /** Warmup curve ("constant", "linear" or "exp"), or null for none (default). */
  warmup?: WarmupKind | null;
  /** Warmup length in iterations (in epochs with `warmup_by_epoch`). */
  warmup_iters?: number;
  /** The lr at iteration 0 is `warmup_ratio` × the regular lr. */
  warmup_ratio?: number;
  /**
   * Read `warmup_iters` as epochs, converted to iterations at the first train epoch (default
   * false).
   */
  warmup_by_epoch?: boolean;
}

/** Base class: sets `initial_lr`, applies the regular lr per epoch/iter and warmup per iteration. */
export abstract class LrUpdaterHook extends Hook {
  /** Whether the regular lr changes per epoch (else per iteration). */
  readonly byEpoch: boolean;
  /** Warmup curve, or null for none. */
  readonly warmup: WarmupKind | null;
  /** Warmup length in iterations; undefined until the first train epoch with `warmup_by_epoch`. */
  warmupIters: number | undefined;
  /** The lr at iteration 0 is `warmupRatio` × the regular lr. */
  readonly warmupRatio: number;
  /** Warmup length in epochs (with `warmup_by_epoch`), else undefined. */
  readonly warmupEpochs: number | undefined;
  /** The `initial_lr` of every param group, read at `beforeRun`. */
  baseLr: number[] = [];
  /** The lr of every group before warmup, recomputed per epoch (or per iteration). */
  regularLr: number[] = [];

  /**
   * Validates `cfg`; throws `RangeError` for an unknown warmup curve or a non-positive length or
   * out-of-range ratio.
   */
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
  abstract getLr(runner: Runner, baseLr: number): number;

  /** The regular lr of every param group at the runner's current epoch or iteration. */
  getRegularLr(runner: Runner): number[] {
    return this.baseLr.map((b) => this.getLr(runner, b));
  }

  /** The warmup lr of every param group at iteration `curIter`, from `regularLr`. */
  getWarmupLr(curIter: number): number[] {
    return this.regularLr.map((lr) =>
      warmupLr(lr, curIter, this.warmup!, this.warmupIters!, this.warmupRatio)
    );
  }

  #setLr(runner: Runner, lrs: number[]): void {
    runner.optimizer?.paramGroups.forEach((g, i) => (g.lr = lrs[i]));
  }

  /** Records each group's `initial_lr` (set to its `lr` when missing) as the base lr. */
  override beforeRun(runner: Runner): void {
    const groups = runner.optimizer?.paramGroups ?? [];
    for (const g of groups) g.initial_lr ??= g.lr;
    this.baseLr = groups.map((g) => g.initial_lr!);
    this.regularLr = [...this.baseLr];
  }

  /** Resolves epoch-based warmup length; by epoch, sets each group's regular lr. */
  override beforeTrainEpoch(runner: Runner): void {
    if (this.warmupIters === undefined) {
      this.warmupIters = this.warmupEpochs! * (runner.dataLoader?.length ?? 0);
    }
    if (!this.byEpoch) return;
    this.regularLr = this.getRegularLr(runner);
    this.#setLr(runner, this.regularLr);
  }

  /**
   * Sets each group's lr for this iteration: warmup while `iter < warmupIters`, else the regular
   * lr.
   */
  override beforeTrainIter(runner: Runner): void {
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
  /** The base lr, unchanged. */
  getLr(_runner: Runner, baseLr: number): number {
    return baseLr;
  }
}

/** `policy: "step"`: multiply by `gamma` at each milestone epoch (or every `step` epochs). */
export class StepLrUpdaterHook extends LrUpdaterHook {
  /** Milestone epochs (iterations when not by epoch), or a period. */
  readonly step: number | number[];
  /** Multiplier applied at each milestone (default 0.1). */
  readonly gamma: number;
  /** Lower bound of the lr, or null for none. */
  readonly minLr: number | null;

  /** Validates `step` (positive number or list of positive numbers; `TypeError` otherwise). */
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

  /** `baseLr · gamma^k`, k the number of milestones passed, floored at `minLr`. */
  getLr(runner: Runner, baseLr: number): number {
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
  /** Final lr, or null when `minLrRatio` is set. */
  readonly minLr: number | null;
  /** Final lr as a fraction of the base lr, or null when `minLr` is set. */
  readonly minLrRatio: number | null;

  /** Requires exactly one of `min_lr` and `min_lr_ratio` (`RangeError` otherwise). */
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

  /** Cosine-annealed lr at progress `epoch/maxEpochs` (or `iter/maxIters`). */
  getLr(runner: Runner, baseLr: number): number {
    const [progress, max] = this.byEpoch
      ? [runner.epoch, runner.maxEpochs!]
      : [runner.iter, runner.maxIters!];
    const target = this.minLrRatio !== null ? baseLr * this.minLrRatio : this.minLr!;
    return annealingCos(baseLr, target, progress / max);
  }
}

/** `policy: "poly"`: `(base − min_lr)·(1 − progress/max)^power + min_lr`. */
export class PolyLrUpdaterHook extends LrUpdaterHook {
  /** Exponent of the decay (default 1). */
  readonly power: number;
  /** Final lr (default 0). */
  readonly minLr: number;

  /** Reads `power` and `min_lr`. */
  constructor(cfg: LrUpdaterCfg & { power?: number; min_lr?: number }) {
    super(cfg);
    this.power = cfg.power ?? 1;
    this.minLr = cfg.min_lr ?? 0;
  }

  /** Polynomially decayed lr at progress `epoch/maxEpochs` (or `iter/maxIters`). */
  getLr(runner: Runner, baseLr: number): number {
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
