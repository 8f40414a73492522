/**
 * Reference greedy NMS, written from spec §2.10: visit boxes by score descending (equal scores
 * in ascending index order), keep a box unless a kept box overlaps it with IoU > threshold
 * (strict). Class-wise NMS is defined directly (a separate NMS per class, merged by score), not
 * with the coordinate-offset trick, so it also checks that trick.
 *
 * @module
 */

/** Indices kept by NMS, in score-descending order. `f32` rounds the IoU steps to float32. */
export function nmsRef(
  boxes: ArrayLike<number>,
  scores: ArrayLike<number>,
  iouThr: number,
  opts: { f32?: boolean } = {},
): number[] {
  const r = opts.f32 ? Math.fround : (v: number) => v;
  const n = scores.length;
  const order = [...Array(n).keys()].sort((a, b) => scores[b] - scores[a] || a - b);
  const keep: number[] = [];
  const area = (i: number) =>
    r(r(boxes[4 * i + 2] - boxes[4 * i]) * r(boxes[4 * i + 3] - boxes[4 * i + 1]));
  for (const j of order) {
    let suppressed = false;
    for (const i of keep) {
      const w = Math.max(
        0,
        r(Math.min(boxes[4 * i + 2], boxes[4 * j + 2]) - Math.max(boxes[4 * i], boxes[4 * j])),
      );
      const h = Math.max(
        0,
        r(
          Math.min(boxes[4 * i + 3], boxes[4 * j + 3]) -
            Math.max(boxes[4 * i + 1], boxes[4 * j + 1]),
        ),
      );
      const inter = r(w * h);
      if (r(inter / r(r(area(i) + area(j)) - inter)) > iouThr) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) keep.push(j);
  }
  return keep;
}

/** Class-wise NMS: NMS per label, then all kept indices by score descending (ties by index). */
export function batchedNmsRef(
  boxes: ArrayLike<number>,
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  iouThr: number,
  opts: { f32?: boolean } = {},
): number[] {
  const kept: number[] = [];
  for (const label of new Set(Array.from(labels))) {
    const members = [...Array(labels.length).keys()].filter((i) => labels[i] === label);
    const sub = members.flatMap((
      i,
    ) => [boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]]);
    kept.push(...nmsRef(sub, members.map((i) => scores[i]), iouThr, opts).map((k) => members[k]));
  }
  return kept.sort((a, b) => scores[b] - scores[a] || a - b);
}
