/**
 * mmdetection v2.25's test-time augmentation merging on the CPU (`mmdet/core/bbox/transforms.py`
 * `bbox_flip` / `bbox_mapping` / `bbox_mapping_back`, `mmdet/core/post_processing/merge_augs.py`
 * `merge_aug_bboxes`), in float32 as PyTorch computes it. The proposal half (`merge_aug_proposals`)
 * runs on the GPU (`RPNHead.augTestRpn`).
 *
 * @module
 */
import type { AugFrame } from "../../ops/aug_boxes.ts";

export { type AugFrame, augFrameOf } from "../../ops/aug_boxes.ts";

/**
 * `bbox_flip`: rows of `4·k` values (`[x1, y1, x2, y2]` repeated) mirrored inside
 * `imgShape` `[h, w]`.
 */
export function bboxFlip(
  boxes: Float32Array,
  imgShape: readonly [number, number],
  direction: "horizontal" | "vertical" | "diagonal",
): Float32Array {
  const [h, w] = imgShape;
  const out = boxes.slice();
  const hor = direction !== "vertical", ver = direction !== "horizontal";
  for (let i = 0; i + 3 < boxes.length; i += 4) {
    if (hor) {
      out[i] = Math.fround(w - boxes[i + 2]);
      out[i + 2] = Math.fround(w - boxes[i]);
    }
    if (ver) {
      out[i + 1] = Math.fround(h - boxes[i + 3]);
      out[i + 3] = Math.fround(h - boxes[i + 1]);
    }
  }
  return out;
}

/** `bbox_mapping`: original image → augmentation (times `scale_factor`, then flip). */
export function bboxMapping(boxes: Float32Array, f: AugFrame): Float32Array {
  const out = new Float32Array(boxes.length);
  const sf = f.scaleFactor.map((v) => Math.fround(v));
  for (let i = 0; i < boxes.length; i++) out[i] = Math.fround(boxes[i] * sf[i % 4]);
  return f.flip ? bboxFlip(out, f.imgShape, f.flip) : out;
}

/** `bbox_mapping_back`: augmentation → original image (flip, then divided by `scale_factor`). */
export function bboxMappingBack(boxes: Float32Array, f: AugFrame): Float32Array {
  const out = f.flip ? bboxFlip(boxes, f.imgShape, f.flip) : boxes.slice();
  const sf = f.scaleFactor.map((v) => Math.fround(v));
  for (let i = 0; i < out.length; i++) out[i] = Math.fround(out[i] / sf[i % 4]);
  return out;
}

/**
 * `merge_aug_bboxes`: every augmentation's `[n, 4·k]` boxes mapped back to the original image and
 * averaged, and the `[n, C + 1]` scores averaged (all augmentations score the same `n` RoIs).
 */
export function mergeAugBboxes(
  augBboxes: readonly Float32Array[],
  augScores: readonly Float32Array[],
  frames: readonly AugFrame[],
): { bboxes: Float32Array; scores: Float32Array } {
  const A = augBboxes.length;
  if (A === 0 || augScores.length !== A || frames.length !== A) {
    throw new TypeError(
      `Cannot merge augmented boxes: ${A} box sets, ${augScores.length} score sets and ${frames.length} img_metas`,
    );
  }
  const mean = (xs: readonly Float32Array[], what: string): Float32Array => {
    const out = new Float32Array(xs[0].length);
    for (const [i, x] of xs.entries()) {
      if (x.length !== out.length) {
        throw new TypeError(
          `Cannot merge augmented boxes: augmentation ${i} has ${x.length} ${what} values, augmentation 0 ${out.length}`,
        );
      }
      for (let j = 0; j < x.length; j++) out[j] = Math.fround(out[j] + x[j]);
    }
    for (let j = 0; j < out.length; j++) out[j] = Math.fround(out[j] / A);
    return out;
  };
  return {
    bboxes: mean(augBboxes.map((b, i) => bboxMappingBack(b, frames[i])), "box"),
    scores: mean(augScores, "score"),
  };
}
