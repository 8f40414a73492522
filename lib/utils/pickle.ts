/**
 * Python pickles of detection results (mmdetection's `results.pkl`: one list per image of one
 * float32 `[k, 5]` numpy array per class), over wgdet's one pickle writer (lib/utils/
 * pickle_writer.ts) and its one restricted unpickler (lib/utils/pth/unpickle.ts, which also reads
 * `.pth` checkpoints) extended with numpy arrays.
 *
 * The writer emits protocol 3 (Python ≥ 3.0 reads it): numpy arrays as numpy's own pickles do,
 * `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')` then `BUILD` with the state
 * `(1, shape, numpy.dtype('f4', False, True), False, raw bytes)`, so `pickle.load` gives real
 * `numpy.ndarray`s. The reader takes protocols 0–5 (lists, tuples, dicts, numbers, strings,
 * bytes, None/bools and numpy arrays of float32/float64/int32/int64 by `_reconstruct` or
 * protocol 5's `_frombuffer`), so it reads results.pkl files written by mmdetection as well; any
 * other Python global is refused, nothing from the file runs.
 *
 * @module
 */
import { PickleWriter, PyTuple } from "./pickle_writer.ts";
import { unpickle, type UnpickleExtension } from "./pth/unpickle.ts";
import { PthError } from "./pth/zip.ts";

export { PyTuple };

/** An n-dimensional numpy array (C order) as pickled by numpy. */
export class NdArray {
  /** Creates an array of `shape` over `data` (length = product of `shape`). */
  constructor(readonly data: Float32Array | Float64Array | Int32Array, readonly shape: number[]) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) {
      throw new RangeError(
        `Cannot make an array of shape [${shape}] from ${data.length} values: they must be equal`,
      );
    }
  }
}

/** The values the writer accepts and the reader returns. */
export type PickleValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | NdArray
  | PyTuple
  | PickleValue[]
  | { [key: string]: PickleValue };

const DTYPES = new Map<unknown, string>([
  [Float32Array, "f4"],
  [Float64Array, "f8"],
  [Int32Array, "i4"],
]);

/** Writes `a` as numpy pickles an array (see the module doc). */
function writeNdArray(w: PickleWriter, a: NdArray): void {
  w.global("numpy.core.multiarray", "_reconstruct");
  w.global("numpy", "ndarray");
  w.tuple([() => w.int(0)]);
  w.pyBytes(new Uint8Array([0x62])); // b'b'
  w.byte(0x87); // TUPLE3
  w.byte(0x52); // REDUCE
  // state: (version 1, shape, dtype, fortran order False, raw little-endian bytes)
  w.tuple([
    () => w.int(1),
    () => w.tuple(a.shape.map((d) => () => w.int(d))),
    () => {
      w.global("numpy", "dtype");
      w.tuple([
        () => w.str(DTYPES.get(a.data.constructor)!),
        () => w.value(false),
        () => w.value(true),
      ]);
      w.byte(0x52); // REDUCE
      // dtype state: (3, '<', None, None, None, -1, -1, 0)
      w.value(new PyTuple([3, "<", null, null, null, -1, -1, 0]));
      w.byte(0x62); // BUILD
    },
    () => w.value(false),
    () => w.pyBytes(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength)),
  ]);
  w.byte(0x62); // BUILD
}

/** Serialises `v` as a protocol-3 pickle (little-endian host assumed for array bytes). */
export function pickleDumps(v: PickleValue): Uint8Array {
  const w = new PickleWriter(3);
  w.value(v, (x, w) => {
    if (!(x instanceof NdArray)) return false;
    writeNdArray(w, x);
    return true;
  });
  return w.finish();
}

// ---- reader: numpy arrays on top of the restricted unpickler ----

class NpDtype {
  order = "<";
  constructor(readonly descr: string) {}
}
class NpPending {}
const NP_NDARRAY = "numpy.ndarray";
const RECONSTRUCT = /^numpy\.(_?core)\.multiarray\._reconstruct$/;
const FROMBUFFER = /^numpy\.(_?core)\.numeric\._frombuffer$/;

function toNdArray(
  raw: unknown,
  dtype: unknown,
  shapeV: unknown,
  fortran: boolean,
  fail: (why: string) => Error,
): NdArray {
  if (!(raw instanceof Uint8Array)) throw fail("a numpy array whose data is not bytes");
  if (!(dtype instanceof NpDtype)) throw fail("a numpy array without a dtype");
  if (fortran) throw fail("a Fortran-order numpy array");
  if (dtype.order === ">") throw fail("a big-endian numpy array");
  const items = shapeV instanceof PyTuple ? shapeV.items : null;
  if (!items || items.some((d) => typeof d !== "number" || !Number.isInteger(d) || d < 0)) {
    throw fail("a numpy array whose shape is not a tuple of sizes");
  }
  const shape = items as number[];
  const n = shape.reduce((a, b) => a * b, 1);
  const size = { f4: 4, f8: 8, i4: 4, i8: 8 }[dtype.descr];
  if (!size) throw fail(`a numpy array of dtype "${dtype.descr}"`);
  if (raw.length !== n * size) {
    throw fail(`a numpy array of shape [${shape}] with ${raw.length} bytes of data`);
  }
  const copy = raw.slice().buffer;
  if (dtype.descr === "f4") return new NdArray(new Float32Array(copy, 0, n), shape);
  if (dtype.descr === "f8") return new NdArray(new Float64Array(copy, 0, n), shape);
  if (dtype.descr === "i4") return new NdArray(new Int32Array(copy, 0, n), shape);
  const big = new BigInt64Array(copy, 0, n);
  return new NdArray(Int32Array.from(big, (x) => Number(x)), shape);
}

/** numpy's array pickles: `_reconstruct` + `BUILD`, `_frombuffer` (protocol 5), `dtype`. */
const NUMPY: UnpickleExtension = {
  kind: "a list, dict, number, string or numpy array (what a results file holds)",
  allows: (q) =>
    q === NP_NDARRAY || q === "numpy.dtype" || RECONSTRUCT.test(q) || FROMBUFFER.test(q),
  call(q, args, fail) {
    if (q === "numpy.dtype") {
      if (typeof args[0] !== "string") throw fail("numpy.dtype of something not a string");
      return new NpDtype(args[0]);
    }
    if (RECONSTRUCT.test(q)) return new NpPending();
    if (FROMBUFFER.test(q)) {
      const [buf, dtype, shape, order] = args;
      return toNdArray(buf, dtype, shape, order === "F", fail);
    }
    throw fail(`${q} called`);
  },
  build(obj, state, fail) {
    if (obj instanceof NpDtype) {
      if (state instanceof PyTuple && typeof state.items[1] === "string") {
        obj.order = state.items[1];
      }
      return obj;
    }
    if (!(obj instanceof NpPending)) return undefined;
    if (!(state instanceof PyTuple) || state.items.length < 5) {
      throw fail("a numpy array without state");
    }
    const [, shape, dtype, fortran, raw] = state.items;
    return toNdArray(raw, dtype, shape, fortran === true, fail);
  },
};

/** Unpickled values as {@linkcode PickleValue}: dicts as plain objects, big ints as numbers. */
function plain(v: unknown, fail: (why: string) => Error): PickleValue {
  if (v === null || typeof v === "boolean" || typeof v === "number" || typeof v === "string") {
    return v;
  }
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Uint8Array || v instanceof NdArray) return v;
  if (Array.isArray(v)) return v.map((x) => plain(x, fail));
  if (v instanceof PyTuple) return new PyTuple(v.items.map((x) => plain(x, fail)));
  if (v instanceof Map) {
    const o: { [key: string]: PickleValue } = {};
    for (const [k, x] of v) o[String(k)] = plain(x, fail);
    return o;
  }
  if (v instanceof NpDtype || v instanceof NpPending) throw fail("a bare numpy dtype or array");
  if (v instanceof Set) throw fail("a Python set");
  throw fail("a Python object of an unsupported type");
}

/**
 * Reads a pickle of the values {@linkcode PickleValue} describes (protocols 0–5; numpy arrays of
 * float32, float64, int32 and int64 — int64 read as Int32Array).
 *
 * @param what The file's name, for messages.
 * @throws {TypeError} For malformed data or a Python global outside that set, naming it and the
 *   byte where it stands; no code from the file runs.
 */
export function pickleLoads(bytes: Uint8Array, what = "pickle"): PickleValue {
  try {
    const { value } = unpickle(bytes, { file: what, extension: NUMPY });
    return plain(value, (why) => new PthError(`Cannot read "${what}": ${why}`));
  } catch (e) {
    if (e instanceof PthError) throw new TypeError(e.message);
    throw e;
  }
}
