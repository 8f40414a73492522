/**
 * mmdet's `_parse_losses`: reduce each loss entry to a scalar and sum the entries whose key contains
 * "loss". Written against a tiny ops interface so that the same key logic serves GPU tensors (the
 * autograd `mean`/`add`) and CPU numbers.
 *
 * @module
 */

/** The three tensor operations `parseLosses` needs. */
export interface LossOps<T> {
  /** Whether `v` is a single tensor (as opposed to a list of tensors). */
  isTensor(v: unknown): v is T;
  /** The mean of all elements, as a scalar tensor. */
  mean(t: T): T;
  /** Elementwise sum of two scalars. */
  add(a: T, b: T): T;
}

/** The result of `parseLosses`: the total loss and every entry plus `loss`, in insertion order. */
export interface ParsedLosses<T> {
  /** The total loss to back-propagate. */
  loss: T;
  /** The reduced entries and `loss`, for logging. */
  log_vars: Record<string, T>;
}

/**
 * Reduces a loss dict as mmdet's `BaseDetector._parse_losses` does:
 * 1. a tensor entry → its mean; a list entry → the sum of its elements' means;
 * 2. `loss` = the sum of the entries whose key contains the substring `"loss"`;
 * 3. `log_vars` = the reduced entries in insertion order, then `loss`.
 *
 * @throws {TypeError} When an entry is neither a tensor nor a list of tensors.
 * @throws {RangeError} When no key contains "loss".
 *
 * @example
 * ```ts
 * import { cpuLossOps, parseLosses } from "./parse_losses.ts";
 * const { loss, log_vars } = parseLosses({ loss_cls: 1.5, loss_bbox: [0.25, 0.25], acc: 0.9 }, cpuLossOps);
 * // loss === 2.0; Object.keys(log_vars) → ["loss_cls", "loss_bbox", "acc", "loss"]
 * ```
 */
export function parseLosses<T>(losses: Record<string, unknown>, ops: LossOps<T>): ParsedLosses<T> {
  const logVars: Record<string, T> = {};
  for (const [name, value] of Object.entries(losses)) {
    if (ops.isTensor(value)) {
      logVars[name] = ops.mean(value);
    } else if (Array.isArray(value) && value.length > 0 && value.every((v) => ops.isTensor(v))) {
      let sum = ops.mean(value[0]);
      for (let i = 1; i < value.length; i++) sum = ops.add(sum, ops.mean(value[i]));
      logVars[name] = sum;
    } else {
      throw new TypeError(
        `Cannot parse loss "${name}": it is not a tensor or a non-empty list of tensors`,
      );
    }
  }
  let total: T | undefined;
  for (const [name, v] of Object.entries(logVars)) {
    if (name.includes("loss")) total = total === undefined ? v : ops.add(total, v);
  }
  if (total === undefined) {
    throw new RangeError(
      `Cannot parse losses: no key contains "loss" (keys: ${Object.keys(losses).join(", ")})`,
    );
  }
  logVars.loss = total;
  return { loss: total, log_vars: logVars };
}

/** A CPU "tensor": a number or a typed array of numbers. */
export type CpuLoss = number | Float32Array | Float64Array;

/** `LossOps` over CPU numbers and typed arrays (plain arrays are lists). */
export const cpuLossOps: LossOps<CpuLoss> = {
  isTensor(v: unknown): v is CpuLoss {
    return typeof v === "number" || v instanceof Float32Array || v instanceof Float64Array;
  },
  mean(t: CpuLoss): CpuLoss {
    if (typeof t === "number") return t;
    let s = 0;
    for (const x of t) s += x;
    return s / t.length;
  },
  add(a: CpuLoss, b: CpuLoss): CpuLoss {
    return (a as number) + (b as number);
  },
};
