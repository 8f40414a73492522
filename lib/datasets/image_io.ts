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

/**
 * How to load an image, as mmcv's `flag`: 3-channel BGR or 1-channel gray. `color` and
 * `grayscale` apply a JPEG's EXIF orientation (OpenCV's `IMREAD_COLOR` default, which mmcv
 * uses); the `_ignore_orientation` variants keep the stored pixel order.
 */
export type ColorType =
  | "color"
  | "grayscale"
  | "color_ignore_orientation"
  | "grayscale_ignore_orientation";

const COLOR_TYPES = new Set<string>([
  "color",
  "grayscale",
  "color_ignore_orientation",
  "grayscale_ignore_orientation",
]);

/**
 * Default bound on decoded pixels (width × height) per image: PIL's decompression-bomb limit
 * (2 × 89,478,485). Larger declared sizes are refused before any pixel is allocated.
 */
export const DEFAULT_MAX_PIXELS = 178_956_970;

/** Throws unless `maxPixels` is a positive integer (or Infinity). */
export function checkMaxPixels(maxPixels: unknown, where: string): number {
  if (
    typeof maxPixels !== "number" || !(maxPixels > 0) ||
    (!Number.isInteger(maxPixels) && maxPixels !== Infinity)
  ) {
    throw new RangeError(
      `${where}: max_pixels must be a positive integer, got ${JSON.stringify(maxPixels)}`,
    );
  }
  return maxPixels;
}

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
  opts: { name?: string; colorType?: ColorType; maxPixels?: number } = {},
): HwcImage {
  const name = opts.name ?? "<bytes>";
  const colorType = opts.colorType ?? "color";
  if (!COLOR_TYPES.has(colorType)) {
    throw new RangeError(
      `Cannot decode "${name}": color_type "${colorType}" is not one of ${
        [...COLOR_TYPES].join(", ")
      }`,
    );
  }
  const maxPixels = checkMaxPixels(opts.maxPixels ?? DEFAULT_MAX_PIXELS, `Cannot decode "${name}"`);
  const format = sniffImageFormat(bytes);
  if (format !== undefined) {
    const size = readImageSize(bytes);
    if (!size || !(size.width > 0 && size.height > 0)) {
      throw new DataError(
        `Cannot decode image "${name}": the ${format.toUpperCase()} header has no valid size`,
      );
    }
    checkDeclaredSize(size, maxPixels, name);
  }
  let rgba: Uint8Array, width: number, height: number, stride: number;
  if (format === "png") {
    checkPngComplete(bytes, name);
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
        maxMemoryUsageInMB: Math.max(64, Math.ceil((maxPixels * 8) / 2 ** 20)),
        maxResolutionInMP: Math.max(1, maxPixels / 1e6),
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
  const orientation = colorType.endsWith("_ignore_orientation") || format !== "jpeg"
    ? 1
    : exifOrientation(bytes);
  let img: HwcImage;
  if (colorType.startsWith("grayscale")) {
    const out = new Uint8Array(n);
    for (let i = 0, j = 0; i < n; i++, j += stride) {
      out[i] = luma(rgba[j], rgba[j + 1], rgba[j + 2]);
    }
    img = { data: out, height, width, channels: 1 };
  } else {
    const out = new Uint8Array(n * 3);
    for (let i = 0, j = 0, k = 0; i < n; i++, j += stride, k += 3) {
      out[k] = rgba[j + 2];
      out[k + 1] = rgba[j + 1];
      out[k + 2] = rgba[j];
    }
    img = { data: out, height, width, channels: 3 };
  }
  return orientation === 1 ? img : applyExifOrientation(img, orientation);
}

function checkDeclaredSize(
  size: { width: number; height: number },
  maxPixels: number,
  name: string,
): void {
  if (size.width * size.height > maxPixels) {
    throw new DataError(
      `Cannot decode image "${name}": it declares ${size.width}x${size.height} = ${
        size.width * size.height
      } pixels, above max_pixels ${maxPixels}; raise max_pixels (LoadImageFromFile / dataset option) if this image is genuine`,
    );
  }
}

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/**
 * Inflates a PNG's image data and checks it holds every row the header declares (pngjs fills
 * missing rows with zeros without a word).
 */
function checkPngComplete(bytes: Uint8Array, name: string): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (why: string): never => {
    throw new DataError(`Cannot decode image "${name}": PNG data is corrupt: ${why}`);
  };
  let o = 8;
  let w = 0, h = 0, depth = 0, ctype = -1, interlace = 0;
  const idat: Uint8Array[] = [];
  let total = 0;
  while (o + 8 <= bytes.length) {
    const len = dv.getUint32(o);
    const type = String.fromCharCode(...bytes.subarray(o + 4, o + 8));
    if (o + 12 + len > bytes.length) {
      fail(`chunk ${type} at byte ${o} runs past the end of the file`);
    }
    const body = bytes.subarray(o + 8, o + 8 + len);
    if (type === "IHDR") {
      if (len < 13) fail("IHDR is too short");
      w = dv.getUint32(o + 8);
      h = dv.getUint32(o + 12);
      depth = body[8];
      ctype = body[9];
      interlace = body[12];
    } else if (type === "IDAT") {
      idat.push(body);
      total += len;
    } else if (type === "IEND") break;
    o += 12 + len;
  }
  const ch = PNG_CHANNELS[ctype];
  if (ch === undefined || ![1, 2, 4, 8, 16].includes(depth)) {
    fail(`unsupported colour type ${ctype} / bit depth ${depth}`);
  }
  if (idat.length === 0) fail("it has no IDAT chunk");
  const data = new Uint8Array(total);
  let p = 0;
  for (const c of idat) {
    data.set(c, p);
    p += c.length;
  }
  const bits = ch * depth;
  const rowBytes = (cols: number) => (cols === 0 ? 0 : Math.ceil((cols * bits) / 8) + 1);
  let expected = 0;
  if (interlace === 0) expected = h * rowBytes(w);
  else {
    // Adam7: [x0, y0, dx, dy] per pass
    for (
      const [x0, y0, dx, dy] of [
        [0, 0, 8, 8],
        [4, 0, 8, 8],
        [0, 4, 4, 8],
        [2, 0, 4, 4],
        [0, 2, 2, 4],
        [1, 0, 2, 2],
        [0, 1, 1, 2],
      ]
    ) {
      const cols = Math.ceil(Math.max(0, w - x0) / dx), rows = Math.ceil(Math.max(0, h - y0) / dy);
      if (cols > 0) expected += rows * rowBytes(cols);
    }
  }
  const inflate = platform().inflatedLength;
  if (!inflate) return; // no synchronous inflate on this platform (browsers): pngjs's own checks only
  let inflated: number;
  try {
    inflated = inflate(data, Math.max(expected, 1) + 1024);
  } catch (e) {
    fail(`the compressed image data does not inflate (${(e as Error).message})`);
  }
  if (inflated! < expected) {
    fail(
      `the image data holds ${inflated!} of the ${expected} bytes its ${w}x${h} header declares (truncated rows)`,
    );
  }
}

/**
 * The EXIF orientation (1–8) of a JPEG, or 1 when it has none (or an unreadable one).
 */
export function exifOrientation(bytes: Uint8Array): number {
  if (sniffImageFormat(bytes) !== "jpeg") return 1;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let i = 2;
  while (i + 4 <= bytes.length && bytes[i] === 0xff) {
    const marker = bytes[i + 1];
    if (marker === 0xda || marker === 0xd9) break;
    const len = dv.getUint16(i + 2);
    if (len < 2) break;
    if (
      marker === 0xe1 && i + 4 + len - 2 <= bytes.length && len >= 16 &&
      String.fromCharCode(...bytes.subarray(i + 4, i + 8)) === "Exif" && bytes[i + 8] === 0 &&
      bytes[i + 9] === 0
    ) {
      const t = i + 10, end = i + 2 + len;
      const le = bytes[t] === 0x49 && bytes[t + 1] === 0x49;
      if (!le && !(bytes[t] === 0x4d && bytes[t + 1] === 0x4d)) return 1;
      const u16 = (k: number) => (k + 2 <= end ? dv.getUint16(k, le) : -1);
      const u32 = (k: number) => (k + 4 <= end ? dv.getUint32(k, le) : -1);
      const ifd = u32(t + 4);
      if (ifd < 0) return 1;
      const count = u16(t + ifd);
      for (let e = 0; e < count; e++) {
        const at = t + ifd + 2 + e * 12;
        if (at + 12 > end) return 1;
        if (u16(at) === 0x0112) {
          const v = u16(at + 8);
          return v >= 1 && v <= 8 ? v : 1;
        }
      }
      return 1;
    }
    i += 2 + len;
  }
  return 1;
}

/**
 * Applies EXIF orientation `o` (1–8) to an HWC image, giving the upright image a viewer (and
 * OpenCV's `imread`) shows: 2 mirror, 3 rotate 180°, 4 flip, 5 transpose, 6 rotate 90° clockwise,
 * 7 transverse, 8 rotate 90° counter-clockwise.
 */
export function applyExifOrientation(img: HwcImage, o: number): HwcImage {
  if (o === 1) return img;
  const { width: W, height: H, channels: c, data } = img;
  const swap = o >= 5;
  const ow = swap ? H : W, oh = swap ? W : H;
  const out = new (data.constructor as Uint8ArrayConstructor)(data.length);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let sx: number, sy: number;
      switch (o) {
        case 2:
          [sx, sy] = [W - 1 - x, y];
          break;
        case 3:
          [sx, sy] = [W - 1 - x, H - 1 - y];
          break;
        case 4:
          [sx, sy] = [x, H - 1 - y];
          break;
        case 5:
          [sx, sy] = [y, x];
          break;
        case 6:
          [sx, sy] = [y, H - 1 - x];
          break;
        case 7:
          [sx, sy] = [W - 1 - y, H - 1 - x];
          break;
        case 8:
          [sx, sy] = [W - 1 - y, x];
          break;
        default:
          throw new RangeError(`EXIF orientation ${o} is not 1..8`);
      } // deno-fmt-ignore
      const si = (sy * W + sx) * c, di = (y * ow + x) * c;
      for (let k = 0; k < c; k++) out[di + k] = data[si + k];
    }
  }
  return { data: out, width: ow, height: oh, channels: c };
}

/**
 * Reads and decodes an image file (synchronously, for use inside pipelines and workers).
 *
 * @throws {DataError} naming the file when it is missing, unreadable or undecodable
 */
export function readImage(
  path: string,
  opts: { colorType?: ColorType; maxPixels?: number } = {},
): HwcImage {
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
  return decodeImage(bytes, { name: path, colorType: opts.colorType, maxPixels: opts.maxPixels });
}

/**
 * Width and height from a PNG or JPEG header without decoding the pixels, or undefined when
 * the header cannot be parsed. With `oriented`, a JPEG's EXIF orientation 5–8 swaps them (the
 * size of the image as loaded with `color_type` "color").
 */
export function readImageSize(
  bytes: Uint8Array,
  opts: { oriented?: boolean } = {},
): { width: number; height: number } | undefined {
  const size = rawImageSize(bytes);
  if (size && opts.oriented && exifOrientation(bytes) >= 5) {
    return { width: size.height, height: size.width };
  }
  return size;
}

function rawImageSize(bytes: Uint8Array): { width: number; height: number } | undefined {
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
 * Checks an image file at dataset load without decoding it: it exists, its header is PNG or
 * JPEG with a positive size, and that size is within `maxPixels`. Reads only the first 64 KiB
 * unless a JPEG's frame header lies further in. Returns the size as loaded (EXIF-oriented
 * unless `colorType` ignores orientation).
 *
 * @throws {DataError} naming the file
 */
export function checkImageFile(
  path: string,
  opts: { maxPixels?: number; colorType?: ColorType } = {},
): { width: number; height: number } {
  const maxPixels = checkMaxPixels(opts.maxPixels ?? DEFAULT_MAX_PIXELS, `Cannot check "${path}"`);
  let bytes: Uint8Array;
  try {
    bytes = platform().readFileHeadSync(path, 65536);
  } catch (e) {
    if (platform().isNotFound(e)) {
      throw new DataError(
        `Cannot read image "${path}": the file does not exist; check img_prefix and the annotation's file name`,
      );
    }
    throw new DataError(`Cannot read image "${path}": ${(e as Error).message}`);
  }
  const format = sniffImageFormat(bytes);
  if (format === undefined) {
    throw new DataError(
      `Cannot read image "${path}": it is not a PNG or JPEG file (${bytes.length} bytes read)`,
    );
  }
  const oriented = !(opts.colorType ?? "color").endsWith("_ignore_orientation");
  let size = readImageSize(bytes, { oriented });
  if (!size && format === "jpeg" && bytes.length === 65536) {
    try {
      bytes = platform().readFileSync(path);
    } catch (e) {
      throw new DataError(`Cannot read image "${path}": ${(e as Error).message}`);
    }
    size = readImageSize(bytes, { oriented });
  }
  if (!size || !(size.width > 0 && size.height > 0)) {
    throw new DataError(
      `Cannot read image "${path}": the ${format.toUpperCase()} header has no valid size`,
    );
  }
  checkDeclaredSize(size, maxPixels, path);
  return size;
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
