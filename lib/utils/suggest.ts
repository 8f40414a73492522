/**
 * "Did you mean" helpers shared by the config loader, the key checker, `--cfg-options` and the
 * train/test-cfg rules (lib/utils/cfg_rules.ts).
 *
 * @module
 */

/** Edit distance between `a` and `b` (insertions, deletions, substitutions). */
export function editDistance(a: string, b: string): number {
  const n = b.length;
  const row = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= n; j++) {
      const above = row[j];
      row[j] = Math.min(above + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = above;
    }
  }
  return row[n];
}

/**
 * The candidate closest to `name`, if it is near enough to be a typo of it: an edit distance of at
 * most max(2, ⌊len/4⌋), or one name containing the other.
 */
export function closestMatch(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined, bestD = Infinity;
  const lower = name.toLowerCase();
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  if (best === undefined) return undefined;
  const limit = Math.max(2, Math.floor(name.length / 4));
  if (bestD <= limit) return best;
  for (const c of candidates) {
    const cl = c.toLowerCase();
    if (lower.length >= 4 && cl.length >= 4 && (cl.includes(lower) || lower.includes(cl))) return c;
  }
  return undefined;
}
