/**
 * A restricted unpickler for PyTorch checkpoints (pickle protocols 0–5, the opcodes `torch.save`
 * and Python's pickler emit for state dicts). It never executes code: every `GLOBAL` is looked up
 * in an allowlist of the globals tensors and state dicts need (`collections.OrderedDict`,
 * `torch._utils._rebuild_tensor_v2`, `_rebuild_parameter`, the storage types and dtypes, plain
 * containers), each implemented here in TypeScript; any other global is refused with
 * `refusing to load FILE: it calls MODULE.NAME`, as `torch.load(weights_only=True)` refuses it.
 *
 * Python values map to: `None` → `null`, `bool` → boolean, `int` → number (bigint beyond 2^53),
 * `float` → number, `str` → string, `bytes` → `Uint8Array`, `list` → array, `tuple` →
 * {@linkcode PyTuple}, `dict` / `OrderedDict` → `Map`, `set` → `Set`, tensors →
 * {@linkcode PthTensorRef}.
 *
 * @module
 */
import { PthError } from "./zip.ts";
import { PyTuple } from "../pickle_writer.ts";

export { PyTuple };

/** An allowlisted global (a storage type, a dtype, or a function implemented here). */
export class PyGlobal {
  /** Creates the marker of `module.name`. */
  constructor(readonly module: string, readonly name: string) {}
  /** `module.name`. */
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Element types of PyTorch storages wgdet reads. */
export type PthDtype =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U8"
  | "BOOL";

/** Bytes per element of each dtype. */
export const PTH_DTYPE_BYTES: Record<PthDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** The torch storage class of each dtype (`torch.FloatStorage`, ...). */
export const STORAGE_OF_DTYPE: Record<PthDtype, string> = {
  F64: "DoubleStorage",
  F32: "FloatStorage",
  F16: "HalfStorage",
  BF16: "BFloat16Storage",
  I64: "LongStorage",
  I32: "IntStorage",
  I16: "ShortStorage",
  I8: "CharStorage",
  U8: "ByteStorage",
  BOOL: "BoolStorage",
};

const DTYPE_OF_STORAGE: Record<string, PthDtype> = Object.fromEntries(
  Object.entries(STORAGE_OF_DTYPE).map(([d, s]) => [s, d as PthDtype]),
);

/** A storage named by a persistent id: its archive key, dtype and size in elements. */
export interface PthStorageRef {
  /** Archive record name (`"0"`) or legacy key. */
  key: string;
  /** Element type, from the storage class. */
  dtype: PthDtype;
  /** Declared number of elements. */
  numel: number;
  /** Legacy views: offset (elements) into the root storage. */
  viewOffset?: number;
}

/** A tensor as pickled: a strided view of a storage (materialised later by the reader). */
export class PthTensorRef {
  /** Creates the view. */
  constructor(
    readonly storage: PthStorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

const TORCH_DTYPES = new Set([
  "float64",
  "float32",
  "float16",
  "bfloat16",
  "int64",
  "int32",
  "int16",
  "int8",
  "uint8",
  "bool",
  "double",
  "float",
  "half",
  "long",
  "int",
  "short",
]);

/** Options of {@linkcode unpickle}. */
export interface UnpickleOptions {
  /** File name for error messages. */
  file: string;
  /** Resolves `BINPERSID`/`PERSID` ids (`("storage", type, key, location, numel)`). */
  persistentLoad?: (pid: unknown) => unknown;
  /** Most memo entries (default 10 million). */
  maxMemo?: number;
  /** Globals beyond the checkpoint allowlist, for other kinds of pickle (numpy arrays). */
  extension?: UnpickleExtension;
}

/**
 * More globals an unpickling accepts, each implemented in TypeScript (lib/utils/pickle.ts reads
 * numpy arrays with one). Everything else stays refused.
 */
export interface UnpickleExtension {
  /** What the file may hold, for the refusal message (default: tensors and state dicts). */
  kind: string;
  /** Whether `module.name` (Python 3 names) is one of the extension's globals. */
  allows(qualname: string): boolean;
  /** `REDUCE` (or `NEWOBJ`) of an allowed global with positional `args`: the value. */
  call(qualname: string, args: unknown[], fail: (why: string) => Error): unknown;
  /**
   * `BUILD` with `state` on `obj` (a value `call` made): the value that replaces it, or
   * `undefined` when `obj` is not the extension's.
   */
  build?(obj: unknown, state: unknown, fail: (why: string) => Error): unknown;
}

/** Python 2 module names pickles of protocol ≤ 2 use, mapped to Python 3's (`_compat_pickle`). */
const PY2_MODULES: Record<string, string> = {
  __builtin__: "builtins",
  copy_reg: "copyreg",
  commands: "subprocess",
  cPickle: "pickle",
  exceptions: "builtins",
  UserDict: "collections",
  UserList: "collections",
  Queue: "queue",
  StringIO: "io",
  cStringIO: "io",
  urllib2: "urllib.request",
  httplib: "http.client",
  thread: "_thread",
};

/** Bytes as a Python latin-1 string (one char per byte). */
function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) {
    s += String.fromCharCode(...b.subarray(i, Math.min(b.length, i + 8192)));
  }
  return s;
}

/** The `ins` result of one unpickling, with the tensors it created. */
export interface UnpickleResult {
  /** The unpickled value. */
  value: unknown;
  /** Bytes consumed (up to and including `STOP`). */
  end: number;
}

function isIntLike(v: unknown): v is number | bigint {
  return (typeof v === "number" && Number.isInteger(v)) || typeof v === "bigint";
}

function toInt(v: unknown, what: string, fail: (w: string) => PthError): number {
  if (typeof v === "bigint") {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw fail(`${what} ${v} is out of range`);
    }
    return Number(v);
  }
  if (typeof v !== "number" || !Number.isInteger(v)) throw fail(`${what} is not an integer`);
  return v;
}

function intList(v: unknown, what: string, fail: (w: string) => PthError): number[] {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
  if (!items) throw fail(`${what} is not a tuple`);
  if (items.length > 64) throw fail(`${what} has ${items.length} dimensions`);
  return items.map((x, i) => toInt(x, `${what}[${i}]`, fail));
}

/**
 * Unpickles `bytes` from `start` with the allowlist described in the module doc.
 *
 * @throws {PthError} `refusing to load FILE: it calls M.N` for a global outside the allowlist; a
 *   message naming the file and position for malformed or truncated data.
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions, start = 0): UnpickleResult {
  const file = opts.file;
  const maxMemo = opts.maxMemo ?? 10_000_000;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = start;
  let op = 0;
  let opPos = 0;
  const fail = (why: string) =>
    new PthError(
      `Cannot read "${file}": ${why} (pickle opcode 0x${op.toString(16)} at byte ${opPos})`,
    );
  const ext = opts.extension;
  const refuse = (what: string) =>
    new PthError(
      ext
        ? `refusing to load ${file}: it calls ${what}, which is not ${ext.kind} ` +
          `(no code from the file is run)`
        : `refusing to load ${file}: it calls ${what}, which is not a tensor or state-dict type ` +
          `(only weights are read; no code from the file is run)`,
    );
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  const need = (n: number) => {
    if (n < 0 || p + n > bytes.length) {
      throw fail(`needs ${n} bytes, only ${bytes.length - p} left (truncated data)`);
    }
  };
  const u8 = () => {
    need(1);
    return bytes[p++];
  };
  const u16 = () => {
    need(2);
    const v = view.getUint16(p, true);
    p += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = view.getUint32(p, true);
    p += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(p, true);
    p += 8;
    if (v > BigInt(bytes.length)) throw fail(`length ${v} exceeds the data`);
    return Number(v);
  };
  const take = (n: number) => {
    need(n);
    const v = bytes.subarray(p, p + n);
    p += n;
    return v;
  };
  const utf8 = (b: Uint8Array) => {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(b);
    } catch {
      throw fail("a string is not valid UTF-8");
    }
  };
  const line = () => {
    const e = bytes.indexOf(0x0a, p);
    if (e < 0) throw fail("a text argument has no end of line (truncated data)");
    const s = latin1(bytes.subarray(p, e));
    p = e + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) {
      throw fail("stack underflow");
    }
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) throw fail("stack underflow");
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) throw fail("no MARK on the stack");
    return stack.splice(m);
  };
  const memoPut = (i: number, v: unknown) => {
    if (memo.size >= maxMemo && !memo.has(i)) throw fail(`more than ${maxMemo} memo entries`);
    memo.set(i, v);
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) throw fail(`memo entry ${i} is not defined`);
    return memo.get(i);
  };
  const longFrom = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v;
  };
  const setItem = (d: unknown, k: unknown, v: unknown) => {
    if (!(d instanceof Map)) throw fail("SETITEM on something that is not a dict");
    if (typeof k === "object" && k !== null && !(k instanceof PyTuple)) {
      throw fail("a dict key is not hashable");
    }
    d.set(k instanceof PyTuple ? JSON.stringify(k.items) : k, v);
  };
  const globalOf = (py2module: string, name: string): PyGlobal => {
    // Python 2 module names, as Python 3's unpickler maps them (fix_imports)
    const module = PY2_MODULES[py2module] ?? py2module;
    const q = `${module}.${name}`;
    if (
      q === "collections.OrderedDict" ||
      q === "torch._utils._rebuild_tensor" ||
      q === "torch._utils._rebuild_tensor_v2" ||
      q === "torch._utils._rebuild_parameter" ||
      q === "torch._utils._rebuild_parameter_with_state" ||
      q === "torch._tensor._rebuild_from_type_v2" ||
      q === "torch.Tensor" ||
      q === "torch.nn.parameter.Parameter" ||
      q === "_codecs.encode" ||
      q === "builtins.set" || q === "builtins.frozenset" || q === "builtins.bytearray" ||
      q === "builtins.bytes" ||
      (module === "torch" && (name in DTYPE_OF_STORAGE || TORCH_DTYPES.has(name)))
    ) {
      return new PyGlobal(module, name);
    }
    if (ext?.allows(q)) return new PyGlobal(module, name);
    throw refuse(q);
  };
  const rebuildTensor = (args: unknown[], what: string) => {
    const [storage, offset, size, stride] = args;
    if (!storage || typeof storage !== "object" || !("dtype" in storage) || !("key" in storage)) {
      throw fail(`${what}: the first argument is not a storage`);
    }
    const s = storage as PthStorageRef;
    const shape = intList(size, `${what} size`, fail);
    const strides = intList(stride, `${what} stride`, fail);
    if (shape.length !== strides.length) {
      throw fail(`${what}: size has ${shape.length} dimensions, stride ${strides.length}`);
    }
    const off = toInt(offset, `${what} storage offset`, fail);
    if (off < 0 || shape.some((d) => d < 0) || strides.some((d) => d < 0)) {
      throw fail(`${what}: negative size, stride or storage offset`);
    }
    return new PthTensorRef(s, off, shape, strides);
  };
  const call = (fn: unknown, argsV: unknown): unknown => {
    if (!(fn instanceof PyGlobal)) throw fail("REDUCE of something that is not a global");
    if (!(argsV instanceof PyTuple)) {
      throw fail(`REDUCE arguments of ${fn.qualname} are not a tuple`);
    }
    const args = argsV.items;
    switch (fn.qualname) {
      case "collections.OrderedDict":
        if (args.length === 0) return new Map();
        if (args.length === 1 && Array.isArray(args[0])) {
          const m = new Map();
          for (const kv of args[0]) {
            if (!(kv instanceof PyTuple) || kv.items.length !== 2) {
              throw fail("OrderedDict items are not pairs");
            }
            setItem(m, kv.items[0], kv.items[1]);
          }
          return m;
        }
        throw fail("OrderedDict called with unexpected arguments");
      case "torch._utils._rebuild_tensor":
      case "torch._utils._rebuild_tensor_v2":
        if (args.length < 4 || args.length > 7) {
          throw fail(`${fn.qualname} with ${args.length} arguments`);
        }
        return rebuildTensor(args, fn.qualname);
      case "torch._utils._rebuild_parameter":
      case "torch._utils._rebuild_parameter_with_state":
        if (!(args[0] instanceof PthTensorRef)) {
          throw fail(`${fn.qualname} of something not a tensor`);
        }
        return args[0];
      case "torch._tensor._rebuild_from_type_v2": {
        const [f, type, inner] = args;
        if (
          !(type instanceof PyGlobal) ||
          (type.qualname !== "torch.Tensor" && type.qualname !== "torch.nn.parameter.Parameter")
        ) {
          throw refuse(type instanceof PyGlobal ? type.qualname : "a tensor subclass");
        }
        return call(f, inner);
      }
      case "_codecs.encode": {
        const [s, enc] = args;
        if (typeof s !== "string" || (enc !== "latin1" && enc !== "latin-1")) {
          throw fail("_codecs.encode with arguments other than (str, 'latin1')");
        }
        const b = new Uint8Array(s.length);
        for (let i = 0; i < s.length; i++) {
          const c = s.charCodeAt(i);
          if (c > 255) throw fail("_codecs.encode of a non-latin1 string");
          b[i] = c;
        }
        return b;
      }
      case "builtins.set":
      case "builtins.frozenset":
        if (args.length === 0) return new Set();
        if (args.length === 1 && Array.isArray(args[0])) return new Set(args[0]);
        throw fail(`${fn.qualname} called with unexpected arguments`);
      case "builtins.bytes": // b'' at protocol <= 2 is bytes()
      case "builtins.bytearray":
        if (args.length === 0) return new Uint8Array(0);
        if (args.length === 1 && args[0] instanceof Uint8Array) return args[0].slice();
        throw fail(`${fn.qualname} called with unexpected arguments`);
      default:
        if (ext?.allows(fn.qualname)) return ext.call(fn.qualname, args, fail);
        throw refuse(fn.qualname);
    }
  };
  const persistent = (pid: unknown) => {
    if (!opts.persistentLoad) throw fail("a persistent id outside a checkpoint");
    return opts.persistentLoad(pid);
  };

  while (true) {
    opPos = p;
    op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) throw fail(`pickle protocol ${v} (this reader knows 0-5)`);
        break;
      }
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length) {
          throw fail(`STOP with ${stack.length} values on the stack`);
        }
        return { value: stack[0], end: p };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop(), a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop(), b = pop(), a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: { // DICT
        const items = popMark();
        if (items.length % 2) throw fail("DICT with an odd number of items");
        const d = new Map();
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        stack.push(d);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x61: { // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) throw fail("APPEND to something that is not a list");
        l.push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) throw fail("APPENDS to something that is not a list");
        for (const v of items) l.push(v);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) throw fail("ADDITEMS to something that is not a set");
        for (const v of items) s.add(v);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop(), k = pop();
        setItem(top(), k, v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2) throw fail("SETITEMS with an odd number of items");
        const d = top();
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        break;
      }
      case 0x71: // BINPUT
        memoPut(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size, top());
        break;
      case 0x70: { // PUT
        const i = Number(line());
        if (!Number.isInteger(i) || i < 0) throw fail("PUT with a bad index");
        memoPut(i, top());
        break;
      }
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x67: { // GET
        const i = Number(line());
        if (!Number.isInteger(i)) throw fail("GET with a bad index");
        stack.push(memoGet(i));
        break;
      }
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(p, true));
        p += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(longFrom(take(u8())));
        break;
      case 0x8b: { // LONG4
        const n = u32();
        if (n > 1024) throw fail(`a ${n}-byte integer`);
        stack.push(longFrom(take(n)));
        break;
      }
      case 0x49: { // INT
        const s = line().trim();
        if (s === "00") stack.push(false);
        else if (s === "01") stack.push(true);
        else {
          if (!/^[+-]?\d{1,30}$/.test(s)) throw fail("INT with a bad value");
          const v = BigInt(s);
          stack.push(
            v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
              ? Number(v)
              : v,
          );
        }
        break;
      }
      case 0x4c: { // LONG
        const s = line().trim().replace(/L$/, "");
        if (!/^[+-]?\d{1,400}$/.test(s)) throw fail("LONG with a bad value");
        const v = BigInt(s);
        stack.push(
          v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
            ? Number(v)
            : v,
        );
        break;
      }
      case 0x47: // BINFLOAT
        need(8);
        stack.push(view.getFloat64(p, false));
        p += 8;
        break;
      case 0x46: { // FLOAT
        const v = Number(line());
        stack.push(v);
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(take(u8())));
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8(take(u32())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(take(u64())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1(take(u8())));
        break;
      case 0x54: { // BINSTRING
        need(4);
        const n = view.getInt32(p, true);
        p += 4;
        stack.push(latin1(take(n)));
        break;
      }
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
        break;
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        stack.push(globalOf(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== "string" || typeof name !== "string") {
          throw fail("STACK_GLOBAL of non-strings");
        }
        stack.push(globalOf(module, name));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        const cls = pop();
        if (
          cls instanceof PyGlobal &&
          (cls.qualname === "collections.OrderedDict" || ext?.allows(cls.qualname))
        ) {
          stack.push(call(cls, args));
        } else {throw refuse(
            cls instanceof PyGlobal ? `${cls.qualname}.__new__` : "an object constructor",
          );}
        break;
      }
      case 0x92: { // NEWOBJ_EX
        pop();
        const args = pop();
        const cls = pop();
        if (
          cls instanceof PyGlobal &&
          (cls.qualname === "collections.OrderedDict" || ext?.allows(cls.qualname))
        ) {
          stack.push(call(cls, args));
        } else {throw refuse(
            cls instanceof PyGlobal ? `${cls.qualname}.__new__` : "an object constructor",
          );}
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        const built = ext?.build?.(obj, state, fail);
        if (built !== undefined) {
          stack[stack.length - 1] = built;
          break;
        }
        // OrderedDict state (state_dict()'s `_metadata`) and empty tensor state are dropped.
        if (obj instanceof Map && (state instanceof Map || state === null)) break;
        if (
          obj instanceof PthTensorRef &&
          (state === null || (state instanceof Map && state.size === 0) ||
            (state instanceof PyTuple &&
              state.items.every((s) => s === null || (s instanceof Map && s.size === 0))))
        ) break;
        throw fail("BUILD (setting object state) on something other than a dict or tensor");
      }
      case 0x69: { // INST
        const module = line();
        const name = line();
        throw refuse(`${module}.${name}`);
      }
      case 0x6f: // OBJ
        throw refuse("an object constructor (OBJ)");
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      case 0x50: // PERSID
        stack.push(persistent(line()));
        break;
      case 0x30: // POP
        if (stack.length && marks.length && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x82:
      case 0x83:
      case 0x84:
        throw refuse("a copyreg extension (EXT1/EXT2/EXT4)");
      case 0x97:
      case 0x98:
        throw fail("out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER) are not supported");
      default:
        throw fail(`unknown or unsupported pickle opcode 0x${op.toString(16)}`);
    }
    if (stack.length > 50_000_000) throw fail("the stack grows past 50 million values");
  }
}

/** The storage ref of a `("storage", torch.XStorage, key, location, numel[, view])` id. */
export function storageFromPid(pid: unknown, file: string): PthStorageRef {
  const fail = (why: string) => new PthError(`Cannot read "${file}": ${why}`);
  if (!(pid instanceof PyTuple) || pid.items[0] !== "storage" || pid.items.length < 5) {
    throw fail('a persistent id is not a ("storage", type, key, location, size) tuple');
  }
  const [, type, key, , numel] = pid.items;
  if (!(type instanceof PyGlobal) || type.module !== "torch") {
    throw fail("a storage has no torch storage type");
  }
  const dtype = DTYPE_OF_STORAGE[type.name];
  if (!dtype) {
    throw fail(
      `storage type torch.${type.name} is not supported (supported: ${
        Object.values(STORAGE_OF_DTYPE).join(", ")
      })`,
    );
  }
  if (typeof key !== "string" && !isIntLike(key)) throw fail("a storage key is not a string");
  const n = toInt(numel, "a storage size", fail);
  if (n < 0) throw fail("a storage has a negative size");
  return { key: String(key), dtype, numel: n };
}
