/**
 * Anchor helpers shared by the heads: per-image targets split into levels, and inside flags.
 *
 * @module
 */

/** A typed array that targets are stored in. */
export type TargetArray = Float32Array | Int32Array | Uint8Array;

/**
 * mmdetection's `images_to_levels`: stacks per-image targets and splits them by level.
 *
 * @param perImage one array per image, each `[totalAnchors·width]` row-major (width 1 for labels
 *   and weights, 4 for box targets); all images must have the same length and array type.
 * @param numLevelAnchors anchors per level; they sum to `totalAnchors`.
 * @param opts.width values per anchor (default 1).
 * @returns per level one array `[N, A_l·width]` (image-major), of the input's array type.
 *
 * @example
 * ```ts
 * import { imagesToLevels } from "./utils.ts";
 * const levels = imagesToLevels([Int32Array.of(1, 2, 3), Int32Array.of(4, 5, 6)], [2, 1]);
 * // levels: [Int32Array [1, 2, 4, 5], Int32Array [3, 6]]
 * ```
 */
export function imagesToLevels<T extends TargetArray>(
  perImage: T[],
  numLevelAnchors: number[],
  opts: { width?: number } = {},
): T[] {
  const width = opts.width ?? 1;
  const total = numLevelAnchors.reduce((a, b) => a + b, 0);
  perImage.forEach((t, i) => {
    if (t.length !== total * width) {
      throw new TypeError(
        `Cannot split targets of image ${i} into levels: length ${t.length} does not match ${total} anchors × ${width}`,
      );
    }
  });
  const out: T[] = [];
  let start = 0;
  for (const n of numLevelAnchors) {
    const ctor = (perImage[0]?.constructor ?? Float32Array) as new (n: number) => T;
    const level = new ctor(perImage.length * n * width);
    perImage.forEach((t, i) =>
      level.set(t.subarray(start * width, (start + n) * width), i * n * width)
    );
    out.push(level);
    start += n;
  }
  return out;
}

/**
 * mmdetection's `anchor_inside_flags`: with `allowedBorder < 0` the valid flags themselves; else an
 * anchor must also satisfy `x1 ≥ −b`, `y1 ≥ −b`, `x2 < W + b`, `y2 < H + b` for `imgShape = [H, W]`
 * (the unpadded image).
 *
 * @param flatAnchors `[n, 4]` xyxy anchors, row-major.
 * @param validFlags `[n]` 1 = valid.
 * @returns `[n]` 1 = inside.
 */
export function anchorInsideFlags(
  flatAnchors: Float32Array,
  validFlags: Uint8Array,
  opts: { imgShape: readonly number[]; allowedBorder?: number },
): Uint8Array {
  const { imgShape, allowedBorder = 0 } = opts;
  const n = validFlags.length;
  if (flatAnchors.length !== n * 4) {
    throw new TypeError(
      `Cannot compute inside flags: ${flatAnchors.length / 4} anchors but ${n} valid flags`,
    );
  }
  if (allowedBorder < 0) return validFlags.slice();
  const [h, w] = imgShape, b = allowedBorder;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const a = i * 4;
    out[i] = validFlags[i] && flatAnchors[a] >= -b && flatAnchors[a + 1] >= -b &&
        flatAnchors[a + 2] < w + b && flatAnchors[a + 3] < h + b
      ? 1
      : 0;
  }
  return out;
}

/** Concatenates typed arrays of one type (e.g. the levels' anchors into one `[n, 4]` array). */
export function concatArrays<T extends TargetArray>(parts: T[]): T {
  const ctor = (parts[0]?.constructor ?? Float32Array) as new (n: number) => T;
  const out = new ctor(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
