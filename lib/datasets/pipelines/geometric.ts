/**
 * Image geometry used by the pipelines, following mmcv/OpenCV numerics: `imresize` (OpenCV
 * `INTER_LINEAR`: half-pixel centres, and for uint8 the same 11-bit fixed-point weights and
 * rounding as `cv2.resize`), `imrescale`/`rescaleSize` (keep aspect ratio, round half up),
 * `imflip` and `impad`.
 *
 * @module
 */
import type { HwcImage } from "../image_io.ts";

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

/** C's `lrint` (round half to even), which OpenCV's `saturate_cast<short>(float)` uses. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

interface Taps {
  /** Source index of the first tap per output position. */
  ofs: Int32Array;
  /** Float weight of the second tap (float32 `fx`). */
  frac: Float32Array;
}

/** OpenCV's linear source positions for one axis (`resizeGeneric` coefficient setup). */
function linearTaps(src: number, dst: number, clampBothEnds: boolean): Taps {
  const scale = 1 / (dst / src); // cv2 stores inv_scale = dst / src and inverts it
  const ofs = new Int32Array(dst), frac = new Float32Array(dst);
  for (let d = 0; d < dst; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (clampBothEnds) {
      if (s < 0) [f, s] = [0, 0];
      if (s >= src - 1) [f, s] = [0, src - 1];
    }
    ofs[d] = s;
    frac[d] = f;
  }
  return { ofs, frac };
}

/** Row index clamped into [0, n) as OpenCV's `clip(y, 0, n)`. */
function clipRow(y: number, n: number): number {
  return y >= 0 ? (y < n ? y : n - 1) : 0;
}

/**
 * Resizes an HWC image to `width`×`height` with bilinear interpolation exactly as OpenCV's
 * `cv2.resize(..., interpolation=INTER_LINEAR)`: uint8 images use 11-bit fixed-point weights
 * (`round((1 - fx) * 2048)`, `round(fx * 2048)`), a horizontal pass into int rows and the
 * vertical combination `((b0·(r0 >> 4)) >> 16) + ((b1·(r1 >> 4)) >> 16) + 2) >> 2`; float32
 * images use float weights.
 */
export function imresize(img: HwcImage, width: number, height: number): HwcImage {
  const { height: sh, width: sw, channels: cn } = img;
  if (!(width > 0 && height > 0 && Number.isInteger(width) && Number.isInteger(height))) {
    throw new RangeError(`Cannot resize to ${width}x${height}: size must be positive integers`);
  }
  if (width === sw && height === sh) {
    return { data: img.data.slice(), height, width, channels: cn };
  }
  const xt = linearTaps(sw, width, true);
  const yt = linearTaps(sh, height, false);
  const rowLen = width * cn;
  if (img.data instanceof Uint8Array) {
    const src = img.data;
    // per output column: source offset of the first tap (×cn) and the two weights; the last
    // column(s) that would read past the row use weight (2048, 0) on the last pixel
    const xo = new Int32Array(width), a0 = new Int32Array(width), a1 = new Int32Array(width);
    for (let x = 0; x < width; x++) {
      const sx = xt.ofs[x];
      xo[x] = sx * cn;
      if (sx + 1 >= sw) {
        a0[x] = COEF_SCALE;
        a1[x] = 0;
        xo[x] = (sw - 1) * cn;
      } else {
        a0[x] = roundHalfEven(Math.fround(1 - xt.frac[x]) * COEF_SCALE);
        a1[x] = roundHalfEven(xt.frac[x] * COEF_SCALE);
      }
    }
    const srcRow = sw * cn;
    const hpass = (y: number, r: Int32Array) => {
      const base = y * srcRow;
      if (cn === 3) {
        for (let x = 0, o = 0; x < width; x++, o += 3) {
          const p = base + xo[x], w0 = a0[x], w1 = a1[x];
          if (w1 === 0) {
            r[o] = src[p] * w0;
            r[o + 1] = src[p + 1] * w0;
            r[o + 2] = src[p + 2] * w0;
          } else {
            r[o] = src[p] * w0 + src[p + 3] * w1;
            r[o + 1] = src[p + 1] * w0 + src[p + 4] * w1;
            r[o + 2] = src[p + 2] * w0 + src[p + 5] * w1;
          }
        }
      } else {
        for (let x = 0; x < width; x++) {
          const p = base + xo[x], w0 = a0[x], w1 = a1[x];
          for (let c = 0; c < cn; c++) {
            r[x * cn + c] = w1 === 0 ? src[p + c] * w0 : src[p + c] * w0 + src[p + cn + c] * w1;
          }
        }
      }
    };
    // two horizontal row buffers, reused while the source rows stay the same
    let rowA = new Int32Array(rowLen), rowB = new Int32Array(rowLen);
    let yA = -1, yB = -1;
    const out = new Uint8Array(height * rowLen);
    for (let y = 0; y < height; y++) {
      const sy = yt.ofs[y];
      const b0 = roundHalfEven(Math.fround(1 - yt.frac[y]) * COEF_SCALE);
      const b1 = roundHalfEven(yt.frac[y] * COEF_SCALE);
      const y0 = clipRow(sy, sh), y1 = clipRow(sy + 1, sh);
      if (yA !== y0) {
        if (yB === y0) {
          [rowA, rowB] = [rowB, rowA];
          [yA, yB] = [yB, yA];
        } else {
          hpass(y0, rowA);
          yA = y0;
        }
      }
      if (yB !== y1) {
        if (y1 === yA) {
          rowB.set(rowA);
        } else hpass(y1, rowB);
        yB = y1;
      }
      const o = y * rowLen;
      for (let i = 0; i < rowLen; i++) {
        const v = (((b0 * (rowA[i] >> 4)) >> 16) + ((b1 * (rowB[i] >> 4)) >> 16) + 2) >> 2;
        out[o + i] = v > 255 ? 255 : v;
      }
    }
    return { data: out, height, width, channels: cn };
  }
  const src = img.data;
  const f = Math.fround;
  const out = new Float32Array(height * rowLen);
  const hrowF = (y: number): Float32Array => {
    const r = new Float32Array(rowLen);
    const base = y * sw * cn;
    for (let x = 0; x < width; x++) {
      const sx = xt.ofs[x], fx = xt.frac[x], w0 = f(1 - fx);
      const p = base + sx * cn;
      const last = sx + 1 >= sw;
      for (let c = 0; c < cn; c++) {
        r[x * cn + c] = last ? src[p + c] : f(f(src[p + c] * w0) + f(src[p + cn + c] * fx));
      }
    }
    return r;
  };
  for (let y = 0; y < height; y++) {
    const sy = yt.ofs[y], fy = yt.frac[y], w0 = f(1 - fy);
    const r0 = hrowF(clipRow(sy, sh)), r1 = hrowF(clipRow(sy + 1, sh));
    const o = y * rowLen;
    for (let i = 0; i < rowLen; i++) out[o + i] = f(f(r0[i] * w0) + f(r1[i] * fy));
  }
  return { data: out, height, width, channels: cn };
}

/**
 * The output size of a keep-ratio rescale (mmcv `rescale_size`): with `scale = [a, b]` the factor
 * is `min(max(a, b) / max(h, w), min(a, b) / min(h, w))`; with a number it is that number.
 * New sizes round half up: `int(w * s + 0.5)`.
 *
 * @returns `[newW, newH, factor]`
 */
export function rescaleSize(
  w: number,
  h: number,
  scale: number | readonly number[],
): [number, number, number] {
  let s: number;
  if (typeof scale === "number") {
    if (!(scale > 0)) {
      throw new RangeError(`Cannot rescale: scale factor ${scale} must be positive`);
    }
    s = scale;
  } else {
    const long = Math.max(scale[0], scale[1]), short = Math.min(scale[0], scale[1]);
    s = Math.min(long / Math.max(h, w), short / Math.min(h, w));
  }
  return [Math.trunc(w * s + 0.5), Math.trunc(h * s + 0.5), s];
}

/** Keep-ratio resize (mmcv `imrescale`); returns the image and its scale factor. */
export function imrescale(
  img: HwcImage,
  scale: number | readonly number[],
): { img: HwcImage; factor: number } {
  const [nw, nh, s] = rescaleSize(img.width, img.height, scale);
  return { img: imresize(img, nw, nh), factor: s };
}

/** Flips an image: "horizontal" (mirror x), "vertical" (mirror y) or "diagonal" (both). */
export function imflip(img: HwcImage, direction: string): HwcImage {
  if (direction !== "horizontal" && direction !== "vertical" && direction !== "diagonal") {
    throw new RangeError(
      `Cannot flip: direction "${direction}" is not "horizontal", "vertical" or "diagonal"`,
    );
  }
  const { height: h, width: w, channels: cn, data } = img;
  const out = new (data.constructor as { new (n: number): Uint8Array | Float32Array })(data.length);
  const fx = direction !== "vertical", fy = direction !== "horizontal";
  for (let y = 0; y < h; y++) {
    const sy = fy ? h - 1 - y : y;
    for (let x = 0; x < w; x++) {
      const sx = fx ? w - 1 - x : x;
      const o = (y * w + x) * cn, s = (sy * w + sx) * cn;
      for (let c = 0; c < cn; c++) out[o + c] = data[s + c];
    }
  }
  return { data: out, height: h, width: w, channels: cn };
}

/** Pads an image at the bottom and right to `height`×`width` with `padVal` (mmcv `impad`). */
export function impad(img: HwcImage, height: number, width: number, padVal = 0): HwcImage {
  const { height: h, width: w, channels: cn, data } = img;
  if (height < h || width < w) {
    throw new RangeError(
      `Cannot pad a ${h}x${w} image to ${height}x${width}: the target is smaller than the image`,
    );
  }
  const n = height * width * cn;
  const out = data instanceof Float32Array ? new Float32Array(n) : new Uint8Array(n);
  if (padVal !== 0) out.fill(padVal);
  if (width === w) out.set(data);
  else {for (let y = 0; y < h; y++) {
      out.set(data.subarray(y * w * cn, (y + 1) * w * cn), y * width * cn);
    }}
  return { data: out, height, width, channels: cn };
}
