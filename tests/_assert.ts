/**
 * Test helpers shared by every test file: float-closeness with a clear report, fixture loading.
 */
import assert from "node:assert/strict";

export { assert };

type Num = ArrayLike<number>;

/**
 * Asserts `actual` ≈ `expected` elementwise: |a − e| ≤ atol + rtol·|e|. Reports the worst element,
 * its index, and how many elements failed. NaN matches NaN only when both are NaN.
 */
export function assertClose(
  actual: Num | number,
  expected: Num | number,
  opts: { rtol?: number; atol?: number; msg?: string } = {},
): void {
  const rtol = opts.rtol ?? 1e-4, atol = opts.atol ?? 1e-5;
  const a = typeof actual === "number" ? [actual] : actual;
  const e = typeof expected === "number" ? [expected] : expected;
  const where = opts.msg ? `${opts.msg}: ` : "";
  assert.equal(
    a.length,
    e.length,
    `${where}length ${a.length} does not match expected ${e.length}`,
  );
  let bad = 0, worst = -1, worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = e[i];
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (!(Number.isNaN(x) && Number.isNaN(y))) {
        bad++;
        if (worst < 0 || worstExcess < Infinity) [worst, worstExcess] = [i, Infinity];
      }
      continue;
    }
    if (x === y) continue; // also handles equal infinities
    const excess = Math.abs(x - y) - (atol + rtol * Math.abs(y));
    if (excess > 0) {
      bad++;
      if (excess > worstExcess) [worst, worstExcess] = [i, excess];
    }
  }
  if (bad > 0) {
    assert.fail(
      `${where}${bad} of ${a.length} elements differ (rtol ${rtol}, atol ${atol}); worst at ` +
        `index ${worst}: actual ${a[worst]}, expected ${e[worst]}`,
    );
  }
}

/** A named array in a JSON fixture: flat row-major data and its shape. */
export interface FixtureArray {
  shape: number[];
  dtype?: string;
  data: number[];
}

/** Reads a JSON fixture relative to `tests/fixtures/`. */
export async function loadFixture<T = Record<string, FixtureArray>>(path: string): Promise<T> {
  const url = new URL(`./fixtures/${path}`, import.meta.url);
  return JSON.parse(await Deno.readTextFile(url)) as T;
}
