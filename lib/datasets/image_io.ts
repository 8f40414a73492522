/**
 * Image decoding and encoding for the data pipeline: PNG (pngjs) and JPEG (jpeg-js) bytes to an
 * interleaved HWC `Uint8Array` in BGR channel order (as OpenCV and mmcv load images), and PNG
 * encoding for synthetic data and visualisation.
 *
 * @module
 */
import { jpegJs } from "../deps.ts";
import { platform } from "../platform/mod.ts";
import { DataError } from "../utils/errors.ts";

/**
 * An interleaved image: `data[(y * width + x) * channels + c]`, HWC. Loaded colour images are
 * BGR (OpenCV's order); after `Normalize` with `to_rgb` they are RGB float32.
 */
export interface HwcImage {
  /** Pixel values, HWC, row-major. */
  data: Uint8Array | Float32Array;
  /** Rows. */
  height: number;
  /** Columns. */
  width: number;
  /** 3 for colour, 1 for grayscale. */
  channels: number;
}

/** How to load an image, as mmcv's `flag`: 3-channel BGR or 1-channel gray. */
export type ColorType = "color" | "grayscale";

/** The container format of `bytes` from its magic number, or undefined. */
export function sniffImageFormat(bytes: Uint8Array): "png" | "jpeg" | undefined {
  if (
    bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e &&
    bytes[3] === 0x47
  ) return "png";
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    return "jpeg";
  }
  return undefined;
}

/** BT.601 luma with OpenCV's fixed-point weights (R 4899, G 9617, B 1868, shift 14). */
function luma(r: number, g: number, b: number): number {
  return (r * 4899 + g * 9617 + b * 1868 + 8192) >> 14;
}

/**
 * Decodes PNG or JPEG `bytes` into an HWC image: 8-bit RGB, gray, gray+alpha and RGBA sources
 * are accepted (alpha is dropped, gray is replicated, as OpenCV's `IMREAD_COLOR`).
 *
 * @param bytes the encoded file contents
 * @param opts `name` (for error messages) and `colorType` (`"color"` → 3-channel BGR,
 *   `"grayscale"` → 1 channel)
 * @returns the decoded image
 * @throws {DataError} when the bytes are neither PNG nor JPEG or fail to decode
 *
 * @example
 * ```ts ignore
 * const img = decodeImage(await Deno.readFile("a.jpg"), { name: "a.jpg" });
 * console.log(img.height, img.width, img.channels); // 480 640 3
 * ```
 */
export function decodeImage(
  bytes: Uint8Array,
  opts: { name?: string; colorType?: ColorType } = {},
): HwcImage {
  const name = opts.name ?? "<bytes>";
  const colorType = opts.colorType ?? "color";
  if (colorType !== "color" && colorType !== "grayscale") {
    throw new RangeError(
      `Cannot decode "${name}": color_type "${colorType}" is not "color" or "grayscale"`,
    );
  }
  const format = sniffImageFormat(bytes);
  let rgba: Uint8Array, width: number, height: number, stride: number;
  if (format === "png") {
    try {
      const png = platform().decodePng(bytes);
      rgba = png.data;
      width = png.width;
      height = png.height;
      stride = 4;
    } catch (e) {
      throw new DataError(
        `Cannot decode image "${name}": PNG data is corrupt: ${(e as Error).message}`,
      );
    }
  } else if (format === "jpeg") {
    try {
      const jpg = jpegJs.decode(bytes, {
        useTArray: true,
        formatAsRGBA: false,
        maxMemoryUsageInMB: 2048,
      });
      rgba = jpg.data as Uint8Array;
      width = jpg.width;
      height = jpg.height;
      stride = 3;
    } catch (e) {
      throw new DataError(
        `Cannot decode image "${name}": JPEG data is corrupt: ${(e as Error).message ?? e}`,
      );
    }
  } else {
    throw new DataError(
      `Cannot decode image "${name}": it is not a PNG or JPEG file (${bytes.length} bytes, starts with ` +
        `${[...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ")})`,
    );
  }
  if (!(width > 0 && height > 0) || rgba.length < width * height * stride) {
    throw new DataError(
      `Cannot decode image "${name}": decoder returned ${width}x${height} with ${rgba.length} bytes`,
    );
  }
  const n = width * height;
  if (colorType === "grayscale") {
    const out = new Uint8Array(n);
    for (let i = 0, j = 0; i < n; i++, j += stride) {
      out[i] = luma(rgba[j], rgba[j + 1], rgba[j + 2]);
    }
    return { data: out, height, width, channels: 1 };
  }
  const out = new Uint8Array(n * 3);
  for (let i = 0, j = 0, k = 0; i < n; i++, j += stride, k += 3) {
    out[k] = rgba[j + 2];
    out[k + 1] = rgba[j + 1];
    out[k + 2] = rgba[j];
  }
  return { data: out, height, width, channels: 3 };
}

/**
 * Reads and decodes an image file (synchronously, for use inside pipelines and workers).
 *
 * @throws {DataError} naming the file when it is missing, unreadable or undecodable
 */
export function readImage(path: string, opts: { colorType?: ColorType } = {}): HwcImage {
  let bytes: Uint8Array;
  try {
    bytes = platform().readFileSync(path);
  } catch (e) {
    if (platform().isNotFound(e)) {
      throw new DataError(
        `Cannot read image "${path}": the file does not exist; check img_prefix and the annotation's file name`,
      );
    }
    throw new DataError(`Cannot read image "${path}": ${(e as Error).message}`);
  }
  return decodeImage(bytes, { name: path, colorType: opts.colorType });
}

/**
 * Width and height from a PNG or JPEG header without decoding the pixels, or undefined when
 * the header cannot be parsed.
 */
export function readImageSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  const format = sniffImageFormat(bytes);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === "png") {
    if (bytes.length < 24) return undefined;
    return { width: dv.getUint32(16), height: dv.getUint32(20) };
  }
  if (format === "jpeg") {
    let i = 2;
    while (i + 9 < bytes.length) {
      if (bytes[i] !== 0xff) {
        i++;
        continue;
      }
      const marker = bytes[i + 1];
      if (marker === 0xff) {
        i++;
        continue;
      }
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        i += 2;
        continue;
      }
      const len = dv.getUint16(i + 2);
      const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 &&
        marker !== 0xcc;
      if (isSof) return { height: dv.getUint16(i + 5), width: dv.getUint16(i + 7) };
      i += 2 + len;
    }
  }
  return undefined;
}

/**
 * Encodes an HWC image as an 8-bit PNG (RGB for 3 channels, gray for 1). `image` is BGR when
 * `bgr` is true (the default, as loaded images), RGB otherwise. Float data is rounded and
 * clamped to 0..255.
 */
export function encodePng(image: HwcImage, opts: { bgr?: boolean } = {}): Uint8Array {
  const { width, height, channels, data } = image;
  if (channels !== 3 && channels !== 1) {
    throw new TypeError(`Cannot encode PNG: image has ${channels} channels, expected 1 or 3`);
  }
  if (data.length !== width * height * channels) {
    throw new TypeError(
      `Cannot encode PNG: data length ${data.length} does not match ${height}x${width}x${channels}`,
    );
  }
  const bgr = opts.bgr ?? true;
  const out = new Uint8Array(width * height * 4);
  const n = width * height;
  const clamp = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));
  for (let i = 0; i < n; i++) {
    const o = i * 4;
    if (channels === 1) {
      const v = clamp(data[i]);
      out[o] = out[o + 1] = out[o + 2] = v;
    } else {
      const s = i * 3;
      out[o] = clamp(data[s + (bgr ? 2 : 0)]);
      out[o + 1] = clamp(data[s + 1]);
      out[o + 2] = clamp(data[s + (bgr ? 0 : 2)]);
    }
    out[o + 3] = 255;
  }
  return platform().encodePng({ data: out, width, height }, channels === 1 ? 0 : 2);
}

/** Encodes `image` as PNG and writes it to `path` (see {@link encodePng}). */
export async function writePng(
  path: string,
  image: HwcImage,
  opts: { bgr?: boolean } = {},
): Promise<void> {
  await platform().writeFile(path, encodePng(image, opts));
}
