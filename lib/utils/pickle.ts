/**
 * A small Python pickle writer and reader for detection results (mmdetection's `results.pkl`:
 * one list per image of one float32 `[k, 5]` numpy array per class).
 *
 * The writer emits protocol 3 (Python ≥ 3.0 reads it): numpy arrays as numpy's own pickles do,
 * `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')` then `BUILD` with the state
 * `(1, shape, numpy.dtype('f4', False, True), False, raw bytes)`, so `pickle.load` gives real
 * `numpy.ndarray`s. The reader understands protocols 2–5 for the values such a file holds (lists,
 * tuples, dicts, numbers, strings, bytes, None/bools and numpy arrays of float32/float64/int32/
 * int64), memo included, so it reads results.pkl files written by mmdetection as well.
 *
 * @module
 */

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

/** A Python tuple (a JS array is a Python list). */
export class PyTuple {
  /** Wraps `items`. */
  constructor(readonly items: PickleValue[]) {}
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

class Writer {
  #chunks: number[] = [];
  byte(b: number): void {
    this.#chunks.push(b & 0xff);
  }
  bytes(b: ArrayLike<number>): void {
    for (let i = 0; i < b.length; i++) this.#chunks.push(b[i]);
  }
  u32(n: number): void {
    this.bytes([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]);
  }
  ascii(s: string): void {
    for (let i = 0; i < s.length; i++) this.#chunks.push(s.charCodeAt(i));
  }
  result(): Uint8Array {
    return Uint8Array.from(this.#chunks);
  }
}

const enc = new TextEncoder();

function writeValue(w: Writer, v: PickleValue): void {
  if (v === null) return w.byte(0x4e); // NONE
  if (v === true) return w.byte(0x88); // NEWTRUE
  if (v === false) return w.byte(0x89); // NEWFALSE
  if (typeof v === "number") {
    if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) {
      w.byte(0x4a); // BININT (signed 32-bit)
      return w.u32(v >>> 0);
    }
    w.byte(0x47); // BINFLOAT (big-endian double)
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    return w.bytes(b);
  }
  if (typeof v === "string") {
    const b = enc.encode(v);
    w.byte(0x58); // BINUNICODE
    w.u32(b.length);
    return w.bytes(b);
  }
  if (v instanceof Uint8Array) {
    w.byte(0x42); // BINBYTES
    w.u32(v.length);
    return w.bytes(v);
  }
  if (v instanceof NdArray) return writeNdArray(w, v);
  if (v instanceof PyTuple) {
    w.byte(0x28); // MARK
    for (const x of v.items) writeValue(w, x);
    return w.byte(0x74); // TUPLE
  }
  if (Array.isArray(v)) {
    w.byte(0x5d); // EMPTY_LIST
    if (!v.length) return;
    w.byte(0x28); // MARK
    for (const x of v) writeValue(w, x);
    return w.byte(0x65); // APPENDS
  }
  w.byte(0x7d); // EMPTY_DICT
  const keys = Object.keys(v);
  if (!keys.length) return;
  w.byte(0x28);
  for (const k of keys) {
    writeValue(w, k);
    writeValue(w, v[k]);
  }
  w.byte(0x75); // SETITEMS
}

function global(w: Writer, module: string, name: string): void {
  w.byte(0x63); // GLOBAL
  w.ascii(`${module}\n${name}\n`);
}

const DTYPES = new Map<unknown, [string, number]>([
  [Float32Array, ["f4", 4]],
  [Float64Array, ["f8", 8]],
  [Int32Array, ["i4", 4]],
]);

function writeNdArray(w: Writer, a: NdArray): void {
  const [descr] = DTYPES.get(a.data.constructor)!;
  global(w, "numpy.core.multiarray", "_reconstruct");
  global(w, "numpy", "ndarray");
  writeValue(w, new PyTuple([0]));
  writeValue(w, new Uint8Array([0x62])); // b'b'
  w.byte(0x87); // TUPLE3
  w.byte(0x52); // REDUCE
  // state: (version 1, shape, dtype, fortran order False, raw little-endian bytes)
  w.byte(0x28);
  writeValue(w, 1);
  writeValue(w, new PyTuple(a.shape));
  global(w, "numpy", "dtype");
  writeValue(w, descr);
  writeValue(w, false);
  writeValue(w, true);
  w.byte(0x87);
  w.byte(0x52);
  // dtype state: (3, '<', None, None, None, -1, -1, 0)
  writeValue(w, new PyTuple([3, "<", null, null, null, -1, -1, 0]));
  w.byte(0x62); // BUILD
  writeValue(w, false);
  writeValue(w, new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength));
  w.byte(0x74); // TUPLE
  w.byte(0x62); // BUILD
}

/** Serialises `v` as a protocol-3 pickle (little-endian host assumed for array bytes). */
export function pickleDumps(v: PickleValue): Uint8Array {
  const w = new Writer();
  w.byte(0x80); // PROTO
  w.byte(3);
  writeValue(w, v);
  w.byte(0x2e); // STOP
  return w.result();
}

// ---- reader ----

class Global {
  constructor(readonly module: string, readonly name: string) {}
}
class Pending {
  state: PickleValue | undefined;
  constructor(readonly fn: Global, readonly args: PickleValue[]) {}
}
const MARK = Symbol("mark");
type Slot = PickleValue | Global | Pending | typeof MARK;

const dec = new TextDecoder();

/**
 * Reads a pickle of the values {@linkcode PickleValue} describes (protocols 2–5; numpy arrays of
 * float32, float64, int32 and int64 — int64 read as Int32Array when every value fits).
 *
 * @throws {TypeError} On an opcode or a Python class outside that set, naming it.
 */
export function pickleLoads(bytes: Uint8Array, what = "pickle"): PickleValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: Slot[] = [];
  const memo = new Map<number, Slot>();
  let pos = 0;
  const fail = (m: string): never => {
    throw new TypeError(`Cannot read ${what}: ${m} (at byte ${pos})`);
  };
  const take = (n: number) => {
    if (pos + n > bytes.length) fail("truncated");
    const s = bytes.subarray(pos, pos + n);
    pos += n;
    return s;
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail("truncated");
    const s = dec.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const popMark = (): Slot[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail("MARK missing");
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const value = (s: Slot): PickleValue => {
    if (s instanceof Pending) return finish(s);
    if (s instanceof Global) return fail(`a bare Python global ${s.module}.${s.name}`);
    if (s === MARK) return fail("stray MARK");
    return s;
  };
  const finish = (p: Pending): PickleValue => {
    const f = `${p.fn.module}.${p.fn.name}`;
    if (/^numpy\.(_?core\.multiarray)\._reconstruct$/.test(f)) return toNdArray(p);
    if (f === "numpy.dtype") return fail("a numpy dtype outside an array");
    if ((f === "__builtin__.bytes" || f === "builtins.bytes") && p.args.length === 0) {
      return new Uint8Array(0);
    }
    if (f === "_codecs.encode") {
      const [s] = p.args as [string];
      return Uint8Array.from(s, (c) => c.charCodeAt(0));
    }
    return fail(`the Python class ${f} is not supported`);
  };
  const toNdArray = (p: Pending): NdArray => {
    const st = p.state;
    if (!(st instanceof PyTuple) || st.items.length < 5) return fail("a numpy array without state");
    const [, shapeT, dtypeP, fortran, rawSlot] = st.items as unknown as [
      number,
      PyTuple,
      Pending | NdArray,
      boolean,
      Uint8Array | Pending,
    ];
    const shape = (shapeT as PyTuple).items as number[];
    const raw = rawSlot instanceof Pending ? finish(rawSlot) as Uint8Array : rawSlot;
    if (!(raw instanceof Uint8Array)) return fail("a numpy array whose data is not bytes");
    if (fortran) return fail("a Fortran-order numpy array");
    const descr = dtypeP instanceof Pending ? String(dtypeP.args[0]) : "";
    const order = dtypeP instanceof Pending && dtypeP.state instanceof PyTuple
      ? dtypeP.state.items[1]
      : "<";
    if (order === ">") return fail("a big-endian numpy array");
    const copy = raw.slice().buffer;
    const n = shape.reduce((a, b) => a * b, 1);
    if (descr === "f4") return new NdArray(new Float32Array(copy, 0, n), shape);
    if (descr === "f8") return new NdArray(new Float64Array(copy, 0, n), shape);
    if (descr === "i4") return new NdArray(new Int32Array(copy, 0, n), shape);
    if (descr === "i8") {
      const big = new BigInt64Array(copy, 0, n);
      return new NdArray(Int32Array.from(big, (x) => Number(x)), shape);
    }
    return fail(`a numpy array of dtype "${descr}"`);
  };
  for (;;) {
    const op = take(1)[0];
    switch (op) {
      case 0x80: // PROTO
        take(1);
        break;
      case 0x95: // FRAME
        take(8);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail("bad stack at STOP");
        return value(stack[0]);
      case 0x63: { // GLOBAL
        const m = line();
        stack.push(new Global(m, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = stack.pop() as string, m = stack.pop() as string;
        stack.push(new Global(m, name));
        break;
      }
      case 0x28:
        stack.push(MARK);
        break;
      case 0x4e:
        stack.push(null);
        break;
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      case 0x4a:
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b:
        stack.push(take(1)[0]);
        break;
      case 0x4d:
        stack.push(view.getUint16(pos, true));
        pos += 2;
        break;
      case 0x47:
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x8a: { // LONG1
        const n = take(1)[0];
        const b = take(n);
        let x = 0n;
        for (let i = n - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]);
        if (n && b[n - 1] & 0x80) x -= 1n << BigInt(8 * n);
        stack.push(Number(x));
        break;
      }
      case 0x58: { // BINUNICODE
        const n = view.getUint32(pos, true);
        pos += 4;
        stack.push(dec.decode(take(n)));
        break;
      }
      case 0x8c: { // SHORT_BINUNICODE
        const n = take(1)[0];
        stack.push(dec.decode(take(n)));
        break;
      }
      case 0x42: { // BINBYTES
        const n = view.getUint32(pos, true);
        pos += 4;
        stack.push(take(n).slice());
        break;
      }
      case 0x43: { // SHORT_BINBYTES
        const n = take(1)[0];
        stack.push(take(n).slice());
        break;
      }
      case 0x5d:
        stack.push([]);
        break;
      case 0x29:
        stack.push(new PyTuple([]));
        break;
      case 0x7d:
        stack.push({});
        break;
      case 0x85:
      case 0x86:
      case 0x87: {
        const n = op - 0x84;
        const items = stack.splice(stack.length - n);
        stack.push(new PyTuple(items as PickleValue[]));
        break;
      }
      case 0x74:
        stack.push(new PyTuple(popMark() as PickleValue[]));
        break;
      case 0x6c: // LIST
        stack.push(popMark().map(value));
        break;
      case 0x61: { // APPEND
        const x = stack.pop()!;
        (stack[stack.length - 1] as PickleValue[]).push(value(x));
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        (stack[stack.length - 1] as PickleValue[]).push(...items.map(value));
        break;
      }
      case 0x73: { // SETITEM
        const v = stack.pop()!, k = stack.pop()!;
        (stack[stack.length - 1] as Record<string, PickleValue>)[String(value(k))] = value(v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        const d = stack[stack.length - 1] as Record<string, PickleValue>;
        for (let i = 0; i < items.length; i += 2) d[String(value(items[i]))] = value(items[i + 1]);
        break;
      }
      case 0x52: { // REDUCE
        const args = stack.pop() as PyTuple;
        const fn = stack.pop();
        if (!(fn instanceof Global)) fail("REDUCE of a non-global");
        stack.push(new Pending(fn as Global, args.items));
        break;
      }
      case 0x62: { // BUILD
        const st = stack.pop()!;
        const obj = stack[stack.length - 1];
        if (!(obj instanceof Pending)) fail("BUILD on a plain value");
        (obj as Pending).state = st as PickleValue;
        const done = (obj as Pending).fn.name === "dtype" ? obj : finish(obj as Pending);
        stack[stack.length - 1] = done;
        break;
      }
      case 0x94: // MEMOIZE
        memo.set(memo.size, stack[stack.length - 1]);
        break;
      case 0x71:
        memo.set(take(1)[0], stack[stack.length - 1]);
        break;
      case 0x72:
        memo.set(view.getUint32(pos, true), stack[stack.length - 1]);
        pos += 4;
        break;
      case 0x68:
        stack.push(memo.get(take(1)[0])!);
        break;
      case 0x6a:
        stack.push(memo.get(view.getUint32(pos, true))!);
        pos += 4;
        break;
      default:
        fail(`unsupported opcode 0x${op.toString(16)}`);
    }
  }
}
