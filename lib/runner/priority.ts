/**
 * Hook priorities, as mmcv's `Priority`: lower values run first; equal priorities run in
 * registration order.
 *
 * @module
 */

/** The named priorities and their values. */
export const Priority = {
  HIGHEST: 0,
  VERY_HIGH: 10,
  HIGH: 30,
  ABOVE_NORMAL: 40,
  NORMAL: 50,
  BELOW_NORMAL: 60,
  LOW: 70,
  VERY_LOW: 90,
  LOWEST: 100,
} as const;

/** A priority name such as `"NORMAL"`. */
export type PriorityName = keyof typeof Priority;

/**
 * The numeric value of a priority given as a number in [0, 100] or a name (case-insensitive).
 *
 * @throws {RangeError} For a number outside [0, 100] or an unknown name.
 *
 * @example
 * ```ts
 * import { getPriority } from "./priority.ts";
 * getPriority("very_low"); // 90
 * ```
 */
export function getPriority(priority: number | string): number {
  if (typeof priority === "number") {
    if (!Number.isInteger(priority) || priority < 0 || priority > 100) {
      throw new RangeError(`Invalid hook priority ${priority}: expected an integer in [0, 100]`);
    }
    return priority;
  }
  const key = String(priority).toUpperCase();
  if (!Object.hasOwn(Priority, key)) {
    throw new RangeError(
      `Invalid hook priority "${priority}": expected one of ${
        Object.keys(Priority).join(", ")
      } or 0-100`,
    );
  }
  return Priority[key as PriorityName];
}

/** The name of a numeric priority, or the number as a string when it has none. */
export function priorityName(value: number): string {
  for (const [k, v] of Object.entries(Priority)) if (v === value) return k;
  return String(value);
}
