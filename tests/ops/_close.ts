/** Shared comparison for the op fixture tests: rtol 1e-4 plus an atol scaled to the magnitude. */
import { assertClose, type FixtureArray } from "../_assert.ts";

/** Asserts `actual` ≈ `expected` with rtol 1e-4 and atol 2e-5·max|expected|. */
export function closeTo(
  actual: ArrayLike<number>,
  expected: FixtureArray | { data: ArrayLike<number> },
  msg: string,
): void {
  let mx = 0;
  for (let i = 0; i < expected.data.length; i++) mx = Math.max(mx, Math.abs(expected.data[i]));
  assertClose(actual, expected.data, { rtol: 1e-4, atol: 2e-5 * Math.max(mx, 1e-3), msg });
}
