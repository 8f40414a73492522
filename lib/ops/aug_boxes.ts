/**
 * Test-time augmentation box mapping on the GPU (`kernels/aug_boxes.wgsl`), mmdetection v2.25's
 * `bbox_mapping` (original image → augmentation: scale, then flip) and `bbox_mapping_back`
 * (augmentation → original: flip, then divide by `scale_factor`, correctly rounded) on one image's
 * padded proposal rows. No readback.
 *
 * @module
 */
import augSrc from "../../kernels/aug_boxes.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";

/** `kernels/aug_boxes.wgsl`. */
export const AUG_BOXES: KernelSpec = {
  name: "aug_boxes",
  source: augSrc,
  params: "uuuuffuuffff",
};

/** The geometry of one augmentation (from its `img_meta`). */
export interface AugFrame {
  /** `[h, w]` of the augmented (resized) image: flips mirror inside it. */
  imgShape: readonly [number, number];
  /** `[sx, sy, sx, sy]` from original to augmented pixels. */
  scaleFactor: readonly [number, number, number, number];
  /** Flip of the augmentation, or null. */
  flip: "horizontal" | "vertical" | "diagonal" | null;
}

const FLIP_CODE = { horizontal: 1, vertical: 2, diagonal: 3 } as const;

/** The `AugFrame` of an img_meta (`img_shape`, `scale_factor`, `flip`, `flip_direction`). */
export function augFrameOf(m: {
  img_shape?: number[];
  scale_factor?: number[] | number;
  flip?: boolean;
  flip_direction?: string | null;
}, where = "img_meta"): AugFrame {
  if (!Array.isArray(m.img_shape) || m.img_shape.length < 2) {
    throw new TypeError(`Cannot map augmented boxes: ${where} has no img_shape`);
  }
  const sf = m.scale_factor ?? 1;
  const s4 = typeof sf === "number"
    ? [sf, sf, sf, sf]
    : sf.length === 2
    ? [sf[0], sf[1], sf[0], sf[1]]
    : sf;
  if (s4.length !== 4 || s4.some((v) => !(v > 0))) {
    throw new RangeError(
      `Cannot map augmented boxes: ${where}.scale_factor ${
        JSON.stringify(m.scale_factor)
      } must be one positive number or [sx, sy(, sx, sy)]`,
    );
  }
  let flip: AugFrame["flip"] = null;
  if (m.flip) {
    const d = m.flip_direction ?? "horizontal";
    if (d !== "horizontal" && d !== "vertical" && d !== "diagonal") {
      throw new RangeError(
        `Cannot map augmented boxes: ${where}.flip_direction "${d}" is not one of "horizontal", "vertical", "diagonal"`,
      );
    }
    flip = d;
  }
  return {
    imgShape: [m.img_shape[0], m.img_shape[1]],
    scaleFactor: [s4[0], s4[1], s4[2], s4[3]],
    flip,
  };
}

function params(rows: number, offset: number, mode: number, f: AugFrame): number[] {
  return [
    rows,
    offset,
    mode,
    f.flip ? FLIP_CODE[f.flip] : 0,
    f.imgShape[0],
    f.imgShape[1],
    0,
    0,
    ...f.scaleFactor,
  ];
}

function check(props: RawTensor, valid: RawTensor, what: string): number {
  const M = valid.size;
  if (props.size !== M * 5 || props.dtype !== "f32" || valid.dtype !== "f32") {
    throw new TypeError(
      `Cannot ${what}: proposals ${fmtShape(props.shape)} and valid ${
        fmtShape(valid.shape)
      } must be one image's [M, 5] f32 rows and [M] f32 mask`,
    );
  }
  return M;
}

/**
 * `bbox_mapping_back` of one image's proposals `[M, 5]` into `boxes` `[K, 4]` / `scores` `[K]`
 * at row `offset` (padding rows get a NaN score: `rpnProposals` skips them).
 */
export function mapProposalsBackInto(
  props: RawTensor,
  valid: RawTensor,
  frame: AugFrame,
  out: { boxes: RawTensor; scores: RawTensor; offset: number },
): void {
  const M = check(props, valid, "map proposals back");
  if (out.offset + M > out.scores.size || out.boxes.size !== out.scores.size * 4) {
    throw new RangeError(
      `Cannot map proposals back: rows ${out.offset}..${out.offset + M} do not fit boxes ${
        fmtShape(out.boxes.shape)
      } / scores ${fmtShape(out.scores.shape)}`,
    );
  }
  if (M === 0) return;
  getGpu().dispatch(AUG_BOXES, {
    bindings: [props, valid, out.boxes, out.scores],
    params: params(M, out.offset, 0, frame),
    workgroups: Math.ceil(M / 256),
  });
}

/**
 * `bbox_mapping` of one image's proposals `[M, 5]` into an augmentation's frame, as RoIs
 * `[M, 5]` (`bbox2roi`: batch index 0; −1 on padding rows).
 */
export function mapProposalsToRois(
  props: RawTensor,
  valid: RawTensor,
  frame: AugFrame,
): RawTensor {
  const M = check(props, valid, "map proposals to RoIs");
  const gpu = getGpu();
  const rois = gpu.empty([M, 5], "f32", "aug_rois");
  const sink = gpu.empty([4], "f32", "aug_rois_sink");
  if (M > 0) {
    gpu.dispatch(AUG_BOXES, {
      bindings: [props, valid, rois, sink],
      params: params(M, 0, 1, frame),
      workgroups: Math.ceil(M / 256),
    });
  }
  sink.release();
  return rois;
}
