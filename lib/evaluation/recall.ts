/**
 * Proposal recall with the semantics of mmdetection v2.25's `eval_recalls` (what `--eval
 * proposal_fast` and VOC's `recall` metric report): per image the proposals are sorted by score
 * (when they have one), the first `max(proposalNums)` kept, and ground truths are matched to
 * proposals greedily — repeatedly the (gt, proposal) pair of highest IoU, both then removed — which
 * gives each gt its IoU; recall at `n` proposals and threshold `t` is the share of all gts whose IoU
 * among the first `n` proposals is `≥ t`.
 *
 * @module
 */
import { bboxOverlaps } from "./voc_eval.ts";

/** Options of {@link evalRecalls}. */
export interface EvalRecallsOptions {
  /** Proposal counts (default `[100, 300, 1000]`, mmdetection's `proposal_nums`). */
  proposalNums?: readonly number[];
  /** IoU thresholds (default 0.5). */
  iouThrs?: readonly number[];
  /** `x2 − x1 + 1` widths (mmdetection's VOCDataset passes true). */
  useLegacyCoordinate?: boolean;
}

/** Output of {@link evalRecalls}. */
export interface EvalRecallsResult {
  /** `recalls[i][j]`: recall with `proposalNums[i]` proposals at `iouThrs[j]`. */
  recalls: number[][];
  /** Mean over the thresholds per proposal count (mmdetection's `ar = recalls.mean(axis=1)`). */
  ar: number[];
  proposalNums: number[];
  iouThrs: number[];
  /** Ground truths counted. */
  numGts: number;
}

/** mmdetection's default IoU thresholds of `fast_eval_recall`: `np.linspace(.5, .95, 10)`. */
export const RECALL_IOU_THRS: readonly number[] = Array.from(
  { length: 10 },
  (_, i) => i === 9 ? 0.95 : i * ((0.95 - 0.5) / 9) + 0.5,
);

function checkRows(a: ArrayLike<number>, width: number, what: string): number {
  if (a.length % width !== 0) {
    throw new TypeError(
      `Cannot evaluate recalls: ${what} has ${a.length} values, not rows of ${width}`,
    );
  }
  return a.length / width;
}

/**
 * Recall of proposals against ground truths (mmdetection's `eval_recalls`).
 *
 * @param gts per image `[g, 4]` xyxy boxes, flat (crowd/ignored boxes already removed).
 * @param proposals per image `[k, 5]` (x1, y1, x2, y2, score) or `[k, 4]` rows, flat.
 * @param proposalWidth 5 (with scores; rows are sorted by score first) or 4.
 *
 * @example
 * ```ts
 * import { evalRecalls } from "./recall.ts";
 * const r = evalRecalls([[0, 0, 10, 10]], [[0, 0, 10, 9, 0.9, 50, 50, 60, 60, 0.8]], 5, {
 *   proposalNums: [1, 2],
 *   iouThrs: [0.5, 0.95],
 * });
 * console.log(r.recalls); // [[1, 0], [1, 0]]
 * ```
 */
export function evalRecalls(
  gts: readonly ArrayLike<number>[],
  proposals: readonly ArrayLike<number>[],
  proposalWidth: 4 | 5 = 5,
  opts: EvalRecallsOptions = {},
): EvalRecallsResult {
  if (gts.length !== proposals.length) {
    throw new TypeError(
      `Cannot evaluate recalls: ${gts.length} images of ground truth but ${proposals.length} of proposals`,
    );
  }
  const nums = [...(opts.proposalNums ?? [100, 300, 1000])];
  const thrs = [...(opts.iouThrs ?? [0.5])];
  for (const n of nums) {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(
        `Cannot evaluate recalls: proposal number ${n} is not a positive integer`,
      );
    }
  }
  const maxNum = nums[nums.length - 1];
  // per image: IoU matrix [g, p] of its gts against its first maxNum proposals (by score)
  const all: { g: number; p: number; ious: Float32Array }[] = gts.map((gt, i) => {
    const g = checkRows(gt, 4, `the ground truth of image ${i}`);
    const raw = proposals[i];
    const k = checkRows(raw, proposalWidth, `the proposals of image ${i}`);
    let order = Array.from({ length: k }, (_, j) => j);
    if (proposalWidth === 5) {
      // numpy's argsort(scores)[::-1] (quicksort for small arrays is not stable; equal scores are
      // rare in proposals — ties keep the reverse of index order, as a stable sort reversed does)
      order = order.sort((a, b) => raw[a * 5 + 4] - raw[b * 5 + 4] || a - b).reverse();
    }
    const p = Math.min(k, maxNum);
    const boxes = new Float32Array(p * 4);
    for (let j = 0; j < p; j++) {
      for (let c = 0; c < 4; c++) boxes[j * 4 + c] = raw[order[j] * proposalWidth + c];
    }
    const ious = g === 0
      ? new Float32Array(0)
      : bboxOverlaps(gt, boxes, { use_legacy_coordinate: opts.useLegacyCoordinate ?? false });
    return { g, p, ious };
  });
  const numGts = all.reduce((s, x) => s + x.g, 0);
  const best: Float32Array[] = nums.map((num) => {
    const out = new Float32Array(numGts);
    let o = 0;
    for (const { g, p, ious } of all) {
      const cols = Math.min(num, p);
      if (g === 0) continue;
      if (cols === 0) {
        o += g;
        continue;
      }
      const m = new Float32Array(g * cols);
      for (let a = 0; a < g; a++) {
        for (let b = 0; b < cols; b++) m[a * cols + b] = ious[a * p + b];
      }
      for (let j = 0; j < g; j++) {
        // each gt's best proposal (first on ties), then the gt whose best is highest (first on ties)
        let gi = -1, bi = -1, v = -Infinity;
        for (let a = 0; a < g; a++) {
          let ba = 0;
          for (let b = 1; b < cols; b++) if (m[a * cols + b] > m[a * cols + ba]) ba = b;
          if (m[a * cols + ba] > v) {
            v = m[a * cols + ba];
            gi = a;
            bi = ba;
          }
        }
        out[o + j] = v;
        for (let b = 0; b < cols; b++) m[gi * cols + b] = -1;
        for (let a = 0; a < g; a++) m[a * cols + bi] = -1;
      }
      o += g;
    }
    return out;
  });
  const recalls = best.map((b) =>
    thrs.map((t) => {
      if (numGts === 0) return NaN;
      let n = 0;
      // float32 IoUs against float64 thresholds, as numpy compares them
      for (const v of b) if (v >= t) n++;
      return n / numGts;
    })
  );
  return {
    recalls,
    ar: recalls.map((r) => r.reduce((a, v) => a + v, 0) / r.length),
    proposalNums: nums,
    iouThrs: thrs,
    numGts,
  };
}

/** mmdetection's `print_recall_summary` table (rows: proposal counts, columns: IoU thresholds). */
export function formatRecallSummary(r: EvalRecallsResult): string {
  const head = ["", ...r.iouThrs.map((t) => String(Math.round(t * 1000) / 1000))];
  const rows = r.proposalNums.map((n, i) => [String(n), ...r.recalls[i].map((v) => v.toFixed(3))]);
  const width = head.map((_, c) => Math.max(...[head, ...rows].map((row) => row[c].length)));
  const line = (row: string[]) => "| " + row.map((x, c) => x.padEnd(width[c])).join(" | ") + " |";
  const sep = "+" + width.map((w) => "-".repeat(w + 2)).join("+") + "+";
  return [sep, line(head), sep, ...rows.map(line), sep].join("\n");
}
