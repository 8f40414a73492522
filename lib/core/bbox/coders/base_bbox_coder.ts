/**
 * The box-coder interface (mmdetection `BaseBBoxCoder`).
 *
 * @module
 */

/** Options of `decode`. */
export interface DecodeOptions {
  /** `[h, w]` of the resized, unpadded image; boxes are clipped to it when given. */
  maxShape?: readonly number[] | null;
  /** Maximum |log| width/height ratio is `|ln(whRatioClip)|`; default 16/1000. */
  whRatioClip?: number;
}

/** Encodes ground-truth boxes as regression targets relative to anchors, and back. */
export interface BaseBBoxCoder {
  /**
   * Regression targets `[n, 4]` of `gtBboxes` `[n, 4]` relative to `bboxes` `[n, 4]` (xyxy,
   * row-major, one gt per anchor).
   */
  encode(bboxes: Float32Array, gtBboxes: Float32Array): Float32Array;
  /**
   * Boxes `[n, 4·k]` decoded from `deltas` `[n, 4·k]` (k boxes per anchor, e.g. one per class)
   * relative to `bboxes` `[n, 4]`.
   */
  decode(bboxes: Float32Array, deltas: Float32Array, opts?: DecodeOptions): Float32Array;
}

/** Validates coder inputs and returns the number of boxes and deltas per box. */
export function checkCoderInputs(
  bboxes: Float32Array,
  other: Float32Array,
  what: "encode" | "decode",
): { n: number; k: number } {
  if (
    !(bboxes instanceof Float32Array) || !(other instanceof Float32Array) || bboxes.length % 4 !== 0
  ) {
    throw new TypeError(`Cannot ${what} boxes: inputs must be Float32Arrays of [n, 4] rows`);
  }
  const n = bboxes.length / 4;
  const k = n === 0 ? 1 : other.length / (4 * n);
  if (
    what === "encode"
      ? other.length !== bboxes.length
      : !Number.isInteger(k) || other.length === 0 && n > 0
  ) {
    throw new TypeError(
      `Cannot ${what} boxes: ${n} boxes do not match ${other.length / 4} ${
        what === "encode" ? "gt boxes" : "delta rows"
      }`,
    );
  }
  return { n, k };
}
