/**
 * Learning-rate formulas of mmcv's LR updater hooks, as plain functions (shared by the hooks, the
 * plot, and anyone who wants to print a schedule).
 *
 * @module
 */

/** Warmup kinds of `lr_config.warmup`. */
export type WarmupKind = "constant" | "linear" | "exp";

/**
 * The warmup learning rate at iteration `curIter` (< `warmupIters`) for a regular lr:
 * constant: `lr·ratio`; linear: `lr·(1 − (1 − curIter/warmupIters)·(1 − ratio))`;
 * exp: `lr·ratio^(1 − curIter/warmupIters)`.
 *
 * @example
 * ```ts
 * import { warmupLr } from "./lr.ts";
 * warmupLr(0.01, 0, "linear", 500, 0.001); // 1e-5
 * ```
 */
export function warmupLr(
  regularLr: number,
  curIter: number,
  kind: WarmupKind,
  warmupIters: number,
  warmupRatio: number,
): number {
  switch (kind) {
    case "constant":
      return regularLr * warmupRatio;
    case "linear":
      return regularLr * (1 - (1 - curIter / warmupIters) * (1 - warmupRatio));
    case "exp":
      return regularLr * warmupRatio ** (1 - curIter / warmupIters);
    default:
      throw new RangeError(`Invalid warmup "${kind}": expected "constant", "linear" or "exp"`);
  }
}

/**
 * Step decay: `base·gamma^k` where k is the number of milestones ≤ `progress` (or
 * ⌊progress/step⌋ for a single number), clamped below by `minLr`.
 */
export function stepLr(
  baseLr: number,
  progress: number,
  step: number | readonly number[],
  gamma = 0.1,
  minLr: number | null = null,
): number {
  let exp: number;
  if (typeof step === "number") exp = Math.floor(progress / step);
  else {
    exp = step.length;
    for (let i = 0; i < step.length; i++) {
      if (progress < step[i]) {
        exp = i;
        break;
      }
    }
  }
  const lr = baseLr * gamma ** exp;
  return minLr !== null ? Math.max(lr, minLr) : lr;
}

/** Cosine interpolation from `start` (factor 0) to `end` (factor 1), scaled by `weight`. */
export function annealingCos(start: number, end: number, factor: number, weight = 1): number {
  const cosOut = Math.cos(Math.PI * factor) + 1;
  return end + 0.5 * weight * (start - end) * cosOut;
}

/** Polynomial decay: `(base − minLr)·(1 − progress/maxProgress)^power + minLr`. */
export function polyLr(
  baseLr: number,
  progress: number,
  maxProgress: number,
  power = 1,
  minLr = 0,
): number {
  const coeff = (1 - progress / maxProgress) ** power;
  return (baseLr - minLr) * coeff + minLr;
}

/** Formats like Python's `{:.3e}`: `1.000e-02` (two-digit exponent). */
export function formatExp(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x).toLowerCase().replace("infinity", "inf");
  const [m, e] = x.toExponential(digits).split("e");
  const sign = e.startsWith("-") ? "-" : "+";
  return `${m}e${sign}${e.replace(/^[-+]/, "").padStart(2, "0")}`;
}
