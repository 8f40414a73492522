/**
 * The safetensors file format (Hugging Face): an 8-byte little-endian header length, a UTF-8 JSON
 * header `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`
 * padded with spaces to a multiple of 8 bytes, then the raw little-endian tensor bytes.
 *
 * @module
 */

/** Element types wgdet reads and writes, with their safetensors names. */
export type SafetensorsDtype =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U64"
  | "U32"
  | "U16"
  | "U8"
  | "BOOL";

/**
 * The typed array holding each dtype's data (F16 and BF16 as raw `Uint16Array` bits, BOOL as
 * bytes); {@link toFloat32} converts the float types.
 */
export type SafetensorsData =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint32Array
  | Uint16Array
  | Uint8Array;

/** One tensor: element type, shape and row-major data. */
export interface SafetensorsTensor {
  /** Element type. */
  dtype: SafetensorsDtype;
  /** Shape; `[]` for a scalar. */
  shape: number[];
  /** Row-major values in the array type of `dtype`. */
  data: SafetensorsData;
}

/** A decoded file: tensors in header order and the optional string metadata. */
export interface SafetensorsFile {
  /** Tensors by name, in header order. */
  tensors: Record<string, SafetensorsTensor>;
  /** The `__metadata__` strings (empty when absent). */
  metadata: Record<string, string>;
}

const BYTES: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

// deno-lint-ignore no-explicit-any
const ARRAY: Record<SafetensorsDtype, new (buf: ArrayBuffer, off: number, len: number) => any> = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U64: BigUint64Array,
  U32: Uint32Array,
  U16: Uint16Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Encodes tensors (and optional string metadata) as a safetensors file. Tensors are stored in the
 * header in the order given; the data section is ordered by element size so that every tensor is
 * aligned without gaps, as the reference implementation requires.
 *
 * @throws {TypeError} For an unknown dtype, a shape that does not match the data length, or
 *   non-string metadata values.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
 * decodeSafetensors(bytes).tensors.w.data; // Float32Array [1, 2]
 * ```
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Uint8Array<ArrayBuffer> {
  if (!LITTLE_ENDIAN) throw new RangeError("Cannot encode safetensors on a big-endian host");
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        throw new TypeError(
          `Cannot encode safetensors metadata "${k}": value must be a string, got ${typeof v}`,
        );
      }
    }
    header.__metadata__ = metadata;
  }
  // Data is laid out by element size, largest first, so every tensor is aligned with no gaps (the
  // reference reader rejects gaps); within a size the given order is kept.
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === "__metadata__") {
      throw new TypeError(
        `Cannot encode safetensors: "__metadata__" is reserved and cannot name a tensor`,
      );
    }
    const size = BYTES[t.dtype];
    if (size === undefined) {
      throw new TypeError(`Cannot encode tensor "${name}": unknown dtype "${t.dtype}"`);
    }
    if (!(t.data instanceof ARRAY[t.dtype])) {
      throw new TypeError(
        `Cannot encode tensor "${name}": dtype ${t.dtype} needs a ${
          ARRAY[t.dtype].name
        }, got a ${t.data.constructor.name}`,
      );
    }
    const n = numel(t.shape);
    if (t.data.length !== n) {
      throw new TypeError(
        `Cannot encode tensor "${name}": shape [${t.shape}] (${n} elements of ${size} bytes) does ` +
          `not match data of ${t.data.length} elements of ${t.data.BYTES_PER_ELEMENT} bytes`,
      );
    }
    header[name] = null; // keep the caller's order in the header
  }
  const layout = entries.map((e, i) => [e, i] as const)
    .sort(([a, i], [b, j]) => BYTES[b[1].dtype] - BYTES[a[1].dtype] || i - j);
  let offset = 0;
  const parts: [number, Uint8Array][] = [];
  for (const [[name, t]] of layout) {
    const nbytes = t.data.length * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + nbytes] };
    parts.push([offset, new Uint8Array(t.data.buffer, t.data.byteOffset, nbytes)]);
    offset += nbytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.fill(0x20, 8, 8 + headerLen);
  out.set(json, 8);
  for (const [off, bytes] of parts) out.set(bytes, 8 + headerLen + off);
  return out;
}

/**
 * Decodes a safetensors file. Tensor data is copied into fresh, aligned typed arrays.
 *
 * @param bytes The whole file.
 * @param name The file name, for error messages.
 * @throws {SyntaxError} For a truncated file, a bad header length or JSON, or data offsets outside
 *   the data section or inconsistent with the shape.
 */
export function decodeSafetensors(bytes: Uint8Array, name = "<bytes>"): SafetensorsFile {
  const fail = (why: string) => new SyntaxError(`Cannot decode safetensors "${name}": ${why}`);
  if (bytes.length < 8) {
    throw fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8 || headerLen > 100_000_000) {
    throw fail(
      `header length ${headerLen} exceeds the file size ${bytes.length} (truncated or not safetensors)`,
    );
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)),
    );
  } catch (e) {
    throw fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw fail("header is not an object");
  }
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const tensors: Record<string, SafetensorsTensor> = {};
  const spans: [number, number, string][] = [];
  let metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(header)) {
    if (key === "__metadata__") {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const dtype = e.dtype as SafetensorsDtype;
    if (!(dtype in BYTES)) throw fail(`tensor "${key}" has unsupported dtype "${e.dtype}"`);
    if (!Array.isArray(e.shape) || !Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) {
      throw fail(`tensor "${key}" needs "shape" and "data_offsets" arrays`);
    }
    const [begin, end] = e.data_offsets;
    if (!e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw fail(`tensor "${key}" shape ${JSON.stringify(e.shape)} must be non-negative integers`);
    }
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end)) {
      throw fail(`tensor "${key}" data_offsets ${JSON.stringify(e.data_offsets)} must be integers`);
    }
    const n = numel(e.shape);
    if (!(begin >= 0 && end >= begin && end <= dataLen)) {
      throw fail(
        `tensor "${key}" data_offsets [${begin}, ${end}] lie outside the ${dataLen}-byte data section`,
      );
    }
    if (end - begin !== n * BYTES[dtype]) {
      throw fail(
        `tensor "${key}" shape [${e.shape}] needs ${n * BYTES[dtype]} bytes, data_offsets give ${
          end - begin
        }`,
      );
    }
    spans.push([begin, end, key]);
    const copy = bytes.slice(dataStart + begin, dataStart + end);
    tensors[key] = { dtype, shape: [...e.shape], data: new ARRAY[dtype](copy.buffer, 0, n) };
  }
  // as the reference reader: the tensors tile the data section exactly (no overlap, no hole)
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let pos = 0;
  for (const [begin, end, key] of spans) {
    if (begin < pos) {
      throw fail(
        `tensor "${key}" data_offsets [${begin}, ${end}] overlap the previous tensor (ending at ${pos})`,
      );
    }
    if (begin > pos) {
      throw fail(
        `bytes ${pos}..${begin} of the data section belong to no tensor (before "${key}")`,
      );
    }
    pos = end;
  }
  if (pos !== dataLen) {
    throw fail(`bytes ${pos}..${dataLen} at the end of the data section belong to no tensor`);
  }
  return { tensors, metadata };
}

/** IEEE half bits → float. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/**
 * A float tensor as F32: F16 and BF16 bit patterns are converted exactly, F64 is rounded to
 * float32 (values beyond float32 become ±Infinity, which the non-finite check then names).
 * Other dtypes are returned unchanged.
 */
export function toFloat32(t: SafetensorsTensor): SafetensorsTensor {
  if (t.dtype === "F16") {
    const src = t.data as Uint16Array;
    return { dtype: "F32", shape: t.shape, data: Float32Array.from(src, halfToFloat) };
  }
  if (t.dtype === "BF16") {
    const src = t.data as Uint16Array;
    const bits = new Uint32Array(src.length);
    for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
    return { dtype: "F32", shape: t.shape, data: new Float32Array(bits.buffer) };
  }
  if (t.dtype === "F64") {
    return { dtype: "F32", shape: t.shape, data: Float32Array.from(t.data as Float64Array) };
  }
  return t;
}
