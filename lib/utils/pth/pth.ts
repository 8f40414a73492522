/**
 * PyTorch checkpoint files (`torch.save`): reading the zip format (PyTorch ≥ 1.6:
 * `ARCHIVE/data.pkl`, `ARCHIVE/data/KEY` storages, `ARCHIVE/byteorder`, `ARCHIVE/version`) and the
 * legacy format (a magic number, the pickled object, then the raw storages), and writing the zip
 * format that `torch.load(weights_only=True)` accepts. Pickles go through the restricted
 * unpickler of `unpickle.ts`: no code from a file ever runs.
 *
 * @module
 */
import {
  PTH_DTYPE_BYTES,
  type PthDtype,
  type PthStorageRef,
  PthTensorRef,
  PyGlobal,
  PyTuple,
  STORAGE_OF_DTYPE,
  storageFromPid,
  unpickle,
} from "./unpickle.ts";
import { isZip, PthError, writeZip, ZipReader } from "./zip.ts";
import { PickleWriter } from "../pickle_writer.ts";

export { PthError, PthTensorRef, PyTuple };
export type { PthDtype, PthStorageRef };

/** Typed array of each dtype: F16/BF16 as raw `Uint16Array` bits, BOOL as bytes. */
export type PthData =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/** A materialised tensor: contiguous row-major data. */
export interface PthTensor {
  /** Element type. */
  dtype: PthDtype;
  /** Shape; `[]` for a scalar. */
  shape: number[];
  /** Row-major values. */
  data: PthData;
}

/** A read `.pth` file. */
export interface PthFile {
  /** The unpickled object; tensors are {@linkcode PthTensorRef}s, to pass to `tensor()`. */
  value: unknown;
  /** `"zip"` (PyTorch ≥ 1.6) or `"legacy"`. */
  format: "zip" | "legacy";
  /** Copies a tensor view out of its storage (checked against the storage bounds). */
  tensor(ref: PthTensorRef): PthTensor;
}

// deno-lint-ignore no-explicit-any
const ARRAY: Record<PthDtype, new (n: number | ArrayBuffer, o?: number, l?: number) => any> = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

/** Most elements a tensor may have beyond its storage's (stride-0 broadcast views). */
const MAX_BROADCAST = 1 << 22;

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/**
 * Reads a `.pth` file (zip or legacy format).
 *
 * @param file The file name, for messages.
 * @throws {PthError} For a refused global (`refusing to load FILE: it calls M.N`), or a corrupt,
 *   truncated or inconsistent file, naming it.
 */
export async function readPth(bytes: Uint8Array, file: string): Promise<PthFile> {
  if (isZip(bytes)) return await readZipPth(bytes, file);
  if (bytes.length > 262 && new TextDecoder().decode(bytes.subarray(257, 262)) === "ustar") {
    throw new PthError(
      `Cannot read "${file}": it is a tar-format checkpoint of PyTorch < 0.4, which is not ` +
        `supported: re-save it with torch.save(torch.load(f), out, _use_new_zipfile_serialization=True)`,
    );
  }
  if (bytes[0] === 0x80) return readLegacyPth(bytes, file);
  throw new PthError(
    `Cannot read "${file}": it is neither a PyTorch zip checkpoint nor a legacy pickle ` +
      `(first bytes ${
        [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ")
      })`,
  );
}

async function readZipPth(bytes: Uint8Array, file: string): Promise<PthFile> {
  const zip = new ZipReader(bytes, file);
  const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    throw new PthError(
      `Cannot read "${file}": a PyTorch zip checkpoint has one "ARCHIVE/data.pkl", this one has ${pkls.length}`,
    );
  }
  const prefix = pkls[0].slice(0, -"data.pkl".length);
  let little = true;
  if (zip.entries.has(`${prefix}byteorder`)) {
    const bo = new TextDecoder().decode(await zip.read(`${prefix}byteorder`)).trim();
    if (bo !== "little" && bo !== "big") {
      throw new PthError(`Cannot read "${file}": byteorder record says "${bo}"`);
    }
    little = bo === "little";
  }
  const storages = new Map<string, PthStorageRef>();
  const { value, end } = unpickle(await zip.read(pkls[0]), {
    file,
    persistentLoad: (pid) => {
      const s = storageFromPid(pid, file);
      const have = storages.get(s.key);
      if (have) {
        if (have.dtype !== s.dtype || have.numel !== s.numel) {
          throw new PthError(
            `Cannot read "${file}": storage "${s.key}" is declared twice with different types or sizes`,
          );
        }
        return have;
      }
      if (!zip.entries.has(`${prefix}data/${s.key}`)) {
        throw new PthError(
          `Cannot read "${file}": storage "${s.key}" has no record "${prefix}data/${s.key}" in the archive`,
        );
      }
      storages.set(s.key, s);
      return s;
    },
  });
  void end;
  const data = new Map<string, Uint8Array>();
  for (const s of storages.values()) {
    const name = `${prefix}data/${s.key}`;
    const need = s.numel * PTH_DTYPE_BYTES[s.dtype];
    const size = zip.entries.get(name)!.size;
    if (size !== need) {
      throw new PthError(
        `Cannot read "${file}": storage "${s.key}" declares ${s.numel} ${s.dtype} elements ` +
          `(${need} bytes) but its record "${name}" has ${size} bytes`,
      );
    }
    data.set(s.key, await zip.read(name));
  }
  return { value, format: "zip", tensor: (ref) => materialize(ref, data, little, file) };
}

function readLegacyPth(bytes: Uint8Array, file: string): PthFile {
  const fail = (why: string) => new PthError(`Cannot read legacy-format "${file}": ${why}`);
  const magic = unpickle(bytes, { file });
  if (magic.value !== LEGACY_MAGIC && BigInt(magic.value as number) !== LEGACY_MAGIC) {
    throw fail(
      "it does not start with PyTorch's magic number (not a torch.save file); if it is, re-save " +
        "it with torch.save(obj, f, _use_new_zipfile_serialization=True)",
    );
  }
  const proto = unpickle(bytes, { file }, magic.end);
  if (proto.value !== 1001) {
    throw fail(`protocol version ${String(proto.value)} (PyTorch writes 1001)`);
  }
  const sys = unpickle(bytes, { file }, proto.end);
  const sysInfo = sys.value instanceof Map ? sys.value : new Map();
  const little = sysInfo.get("little_endian") !== false;
  const storages = new Map<string, PthStorageRef>();
  const views: PthStorageRef[] = [];
  const obj = unpickle(bytes, {
    file,
    persistentLoad: (pid) => {
      const s = storageFromPid(pid, file);
      const view = pid instanceof PyTuple ? pid.items[5] : null;
      let root = storages.get(s.key);
      if (!root) {
        root = s;
        storages.set(s.key, s);
      } else if (root.dtype !== s.dtype || (!view && root.numel !== s.numel)) {
        throw fail(`storage "${s.key}" is declared twice with different types or sizes`);
      }
      if (view instanceof PyTuple && view.items.length === 3) {
        const [, off, size] = view.items;
        if (typeof off !== "number" || typeof size !== "number" || off < 0 || size < 0) {
          throw fail(`storage "${s.key}" has a bad view`);
        }
        const v: PthStorageRef = { key: s.key, dtype: s.dtype, numel: size, viewOffset: off };
        views.push(v);
        return v;
      }
      if (view !== null && view !== undefined) throw fail(`storage "${s.key}" has a bad view`);
      return root;
    },
  }, sys.end);
  const keysP = unpickle(bytes, { file }, obj.end);
  if (!Array.isArray(keysP.value) || keysP.value.some((k) => typeof k !== "string")) {
    throw fail("the storage key list is not a list of strings");
  }
  const data = new Map<string, Uint8Array>();
  let p = keysP.end;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keysP.value as string[]) {
    const s = storages.get(key);
    if (!s) throw fail(`the data section holds storage "${key}", which no tensor declares`);
    if (data.has(key)) throw fail(`storage "${key}" appears twice in the data section`);
    if (p + 8 > bytes.length) throw fail(`storage "${key}" is missing (truncated file)`);
    const n = little ? view.getBigInt64(p, true) : view.getBigInt64(p, false);
    if (n !== BigInt(s.numel)) {
      throw fail(`storage "${key}" declares ${s.numel} elements but the data section records ${n}`);
    }
    const nbytes = s.numel * PTH_DTYPE_BYTES[s.dtype];
    if (p + 8 + nbytes > bytes.length) {
      throw fail(
        `storage "${key}" needs ${nbytes} bytes, the file has ${
          bytes.length - p - 8
        } left (truncated)`,
      );
    }
    data.set(key, bytes.subarray(p + 8, p + 8 + nbytes));
    p += 8 + nbytes;
  }
  for (const key of storages.keys()) {
    if (!data.has(key)) throw fail(`storage "${key}" has no data in the file (truncated)`);
  }
  for (const v of views) {
    if (v.viewOffset! + v.numel > storages.get(v.key)!.numel) {
      throw fail(`a view of storage "${v.key}" lies outside it`);
    }
  }
  return {
    value: obj.value,
    format: "legacy",
    tensor: (ref) => materialize(ref, data, little, file),
  };
}

function materialize(
  ref: PthTensorRef,
  data: Map<string, Uint8Array>,
  little: boolean,
  file: string,
): PthTensor {
  const s = ref.storage;
  const raw = data.get(s.key);
  if (!raw) throw new PthError(`Cannot read "${file}": storage "${s.key}" was never loaded`);
  const esize = PTH_DTYPE_BYTES[s.dtype];
  const base = (s.viewOffset ?? 0) + ref.offset;
  const storageNumel = raw.length / esize;
  const numel = ref.shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(numel)) {
    throw new PthError(`Cannot read "${file}": a tensor has ${numel} elements`);
  }
  if (numel > 0) {
    let last = base;
    for (let i = 0; i < ref.shape.length; i++) last += (ref.shape[i] - 1) * ref.stride[i];
    const limit = s.viewOffset !== undefined
      ? Math.min(storageNumel, s.viewOffset + s.numel)
      : storageNumel;
    if (last >= limit) {
      throw new PthError(
        `Cannot read "${file}": a tensor of shape [${ref.shape}] with stride [${ref.stride}] at ` +
          `offset ${ref.offset} reads element ${last} of storage "${s.key}", which has ${storageNumel}`,
      );
    }
    if (numel > storageNumel + MAX_BROADCAST) {
      throw new PthError(
        `Cannot read "${file}": a tensor of ${numel} elements is a broadcast view of a storage ` +
          `of ${storageNumel} (refused: it would expand the file)`,
      );
    }
  }
  // an aligned, host-order copy of the storage
  const aligned = new Uint8Array(raw.length);
  aligned.set(raw);
  if (!little && esize > 1) {
    for (let i = 0; i < aligned.length; i += esize) aligned.subarray(i, i + esize).reverse();
  }
  const src = new ARRAY[s.dtype](aligned.buffer, 0, storageNumel);
  const out = new ARRAY[s.dtype](numel);
  const nd = ref.shape.length;
  const contiguous = ref.stride.every((st, i) =>
    ref.shape[i] === 1 || st === ref.shape.slice(i + 1).reduce((a, b) => a * b, 1)
  );
  if (numel === 0) { /* empty */ }
  else if (contiguous) out.set(src.subarray(base, base + numel));
  else {
    const idx = new Array(nd).fill(0);
    let off = base;
    for (let n = 0; n < numel; n++) {
      out[n] = src[off];
      for (let d = nd - 1; d >= 0; d--) {
        idx[d]++;
        off += ref.stride[d];
        if (idx[d] < ref.shape[d]) break;
        off -= ref.stride[d] * ref.shape[d];
        idx[d] = 0;
      }
    }
  }
  return { dtype: s.dtype, shape: [...ref.shape], data: out };
}

// ---------------------------------------------------------------------------------------------
// Writing

/** A value {@linkcode writePth} can pickle: JSON-like data, tuples, Maps and tensors. */
export type PthValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PthValue[]
  | PyTuple
  | Map<string | number, PthValue>
  | { [k: string]: PthValue }
  | PthTensor;

function isTensor(v: unknown): v is PthTensor {
  return typeof v === "object" && v !== null && "dtype" in v && "shape" in v && "data" in v &&
    ArrayBuffer.isView((v as PthTensor).data);
}

/**
 * The pickle (protocol 2) of `value` as `torch.save` writes it, tensors as persistent storage ids
 * `("storage", torch.XStorage, key, "cpu", numel)` whose bytes go to `storages` (key = index).
 */
function picklePth(value: PthValue, storages: Uint8Array[]): Uint8Array {
  const w = new PickleWriter(2);
  const tensor = (v: unknown): boolean => {
    if (!isTensor(v)) return false;
    const t = v;
    const key = String(storages.length);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) {
      throw new TypeError(
        `Cannot write a tensor of shape [${t.shape}] from ${t.data.length} values`,
      );
    }
    storages.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).slice());
    const strides = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    w.global("torch._utils", "_rebuild_tensor_v2");
    w.tuple([
      () => {
        w.tuple([
          () => w.str("storage"),
          () => w.global("torch", STORAGE_OF_DTYPE[t.dtype]),
          () => w.str(key),
          () => w.str("cpu"),
          () => w.int(n),
        ]);
        w.byte(0x51); // BINPERSID
      },
      () => w.int(0),
      () => w.tuple(t.shape.map((d) => () => w.int(d))),
      () => w.tuple(strides.map((d) => () => w.int(d))),
      () => w.byte(0x89), // requires_grad False
      () => w.value(new Map()), // backward hooks: an empty OrderedDict
    ]);
    w.byte(0x52); // REDUCE
    return true;
  };
  w.value(value, tensor);
  return w.finish();
}

/**
 * Writes `value` as `torch.save(value, f)` does in the zip format (`archive/data.pkl` protocol 2,
 * `archive/byteorder`, `archive/data/N` storages, `archive/version`). `Map`s are written as
 * `OrderedDict`s, plain objects as dicts, tensors as CPU tensors (each with its own storage).
 */
export function writePth(value: PthValue, archiveName = "archive"): Uint8Array<ArrayBuffer> {
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
    throw new RangeError("Cannot write .pth files on a big-endian host");
  }
  const storages: Uint8Array[] = [];
  const pkl = picklePth(value, storages);
  const enc = new TextEncoder();
  return writeZip([
    [`${archiveName}/data.pkl`, pkl],
    [`${archiveName}/byteorder`, enc.encode("little")],
    ...storages.map((s, i) => [`${archiveName}/data/${i}`, s] as [string, Uint8Array]),
    [`${archiveName}/version`, enc.encode("3\n")],
  ]);
}

/** Whether `v` is an allowlisted global marker (for callers walking unpickled values). */
export function isPyGlobal(v: unknown): v is PyGlobal {
  return v instanceof PyGlobal;
}

/** The float value of IEEE half-precision bits. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** A tensor's values as float32 (F16/BF16 decoded, F64 rounded, integers converted). */
export function pthToFloat32(t: PthTensor): Float32Array {
  if (t.dtype === "F32") return t.data as Float32Array;
  if (t.dtype === "F16") return Float32Array.from(t.data as Uint16Array, halfToFloat);
  if (t.dtype === "BF16") {
    const bits = new Uint32Array(t.data.length);
    (t.data as Uint16Array).forEach((h, i) => (bits[i] = h << 16));
    return new Float32Array(bits.buffer);
  }
  if (t.dtype === "I64") return Float32Array.from(t.data as BigInt64Array, Number);
  return Float32Array.from(t.data as ArrayLike<number>);
}
