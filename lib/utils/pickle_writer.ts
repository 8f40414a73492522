/**
 * The one Python pickle writer of wgdet: `results.pkl` (lib/utils/pickle.ts, numpy arrays) and
 * `.pth` checkpoints (lib/utils/pth/pth.ts, tensors as persistent storage ids) both emit through
 * it, each adding its own objects with the `custom` hook of {@linkcode PickleWriter.value}.
 *
 * Values: `null` → `None`, booleans, integers (`BININT1`/`BININT`/`LONG1`, bigints too), other
 * numbers as `BINFLOAT`, strings, `Uint8Array` → `bytes` (`BINBYTES` from protocol 3, the
 * `_codecs.encode(str, 'latin1')` form Python 3 writes at protocol 2), arrays → `list`,
 * {@linkcode PyTuple} → `tuple`, `Map` → `collections.OrderedDict`, plain objects → `dict`.
 *
 * @module
 */

/** A Python tuple (a JS array is a Python list). */
export class PyTuple<T = unknown> {
  /** Creates a tuple of `items`. */
  constructor(readonly items: T[]) {}
}

/** Writes a pickle of `protocol` (2 or 3) opcode by opcode; {@linkcode finish} ends it. */
export class PickleWriter {
  readonly #chunks: Uint8Array[] = [];
  #cur = new Uint8Array(1 << 16);
  #n = 0;
  readonly #enc = new TextEncoder();

  /** Starts a pickle of `protocol` (2: what `torch.save` writes; 3: first with `bytes`). */
  constructor(readonly protocol: 2 | 3) {}

  /** One opcode or data byte. */
  byte(b: number): void {
    if (this.#n === this.#cur.length) this.#flushCur();
    this.#cur[this.#n++] = b & 0xff;
  }
  /** Raw bytes. */
  bytes(b: Uint8Array): void {
    if (b.length > 4096) {
      this.#flushCur();
      this.#chunks.push(b.slice());
      return;
    }
    for (const x of b) this.byte(x);
  }
  /** A little-endian u32 (lengths). */
  u32(v: number): void {
    this.bytes(new Uint8Array(new Uint32Array([v >>> 0]).buffer));
  }
  #flushCur(): void {
    if (this.#n) this.#chunks.push(this.#cur.slice(0, this.#n));
    this.#n = 0;
  }
  /** `GLOBAL module name`. */
  global(module: string, name: string): void {
    this.byte(0x63);
    this.bytes(this.#enc.encode(`${module}\n${name}\n`));
  }
  /** A `str` (`BINUNICODE`). */
  str(s: string): void {
    const b = this.#enc.encode(s);
    this.byte(0x58);
    this.u32(b.length);
    this.bytes(b);
  }
  /** A Python `int`. */
  int(v: number | bigint): void {
    if (typeof v === "number" && v >= 0 && v < 256) {
      this.byte(0x4b); // BININT1
      this.byte(v);
    } else if (typeof v === "number" && v >= -(2 ** 31) && v < 2 ** 31) {
      this.byte(0x4a); // BININT
      this.bytes(new Uint8Array(new Int32Array([v]).buffer));
    } else {
      let b = BigInt(v);
      const out: number[] = [];
      while (true) {
        out.push(Number(b & 0xffn));
        const done = b >= -128n && b < 128n;
        b >>= 8n;
        if (done) break;
      }
      this.byte(0x8a); // LONG1
      this.byte(out.length);
      this.bytes(new Uint8Array(out));
    }
  }
  /** A Python `float` (`BINFLOAT`, big-endian double). */
  float(v: number): void {
    this.byte(0x47);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    this.bytes(b);
  }
  /** A Python `bytes`. */
  pyBytes(b: Uint8Array): void {
    if (this.protocol >= 3) {
      this.byte(0x42); // BINBYTES
      this.u32(b.length);
      this.bytes(b);
      return;
    }
    // protocol 2: _codecs.encode(latin-1 str, 'latin1'), as Python 3 pickles bytes there
    this.global("_codecs", "encode");
    let s = "";
    for (let i = 0; i < b.length; i += 8192) {
      s += String.fromCharCode(...b.subarray(i, Math.min(b.length, i + 8192)));
    }
    this.str(s);
    this.str("latin1");
    this.byte(0x86); // TUPLE2
    this.byte(0x52); // REDUCE
  }
  /** A tuple of the values each `items` callback writes. */
  tuple(items: (() => void)[]): void {
    if (items.length === 0) return this.byte(0x29); // EMPTY_TUPLE
    if (items.length > 3) this.byte(0x28); // MARK
    for (const f of items) f();
    this.byte(items.length <= 3 ? [0, 0x85, 0x86, 0x87][items.length] : 0x74);
  }
  /** `SETITEMS` batches of `entries` onto the dict on the stack. */
  setItems(entries: [unknown, unknown][], custom?: CustomWriter): void {
    for (let i = 0; i < entries.length; i += 1000) {
      this.byte(0x28);
      for (const [k, v] of entries.slice(i, i + 1000)) {
        this.value(k, custom);
        this.value(v, custom);
      }
      this.byte(0x75);
    }
  }
  /**
   * Appends the pickle of `v`. `custom` is asked first and returns `true` when it wrote `v`
   * itself (numpy arrays, tensors); nested values get the same hook.
   *
   * @throws {TypeError} For a value with no Python counterpart (undefined, functions, symbols).
   */
  value(v: unknown, custom?: CustomWriter): void {
    if (custom?.(v, this)) return;
    if (v === null) this.byte(0x4e); // NONE
    else if (v === true) this.byte(0x88); // NEWTRUE
    else if (v === false) this.byte(0x89); // NEWFALSE
    else if (typeof v === "bigint") this.int(v);
    else if (typeof v === "number") {
      if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER && !Object.is(v, -0)) {
        this.int(v);
      } else this.float(v);
    } else if (typeof v === "string") this.str(v);
    else if (v instanceof Uint8Array) this.pyBytes(v);
    else if (Array.isArray(v)) {
      this.byte(0x5d); // EMPTY_LIST
      for (let i = 0; i < v.length; i += 1000) {
        this.byte(0x28);
        for (const x of v.slice(i, i + 1000)) this.value(x, custom);
        this.byte(0x65); // APPENDS
      }
    } else if (v instanceof PyTuple) {
      this.tuple(v.items.map((x) => () => this.value(x, custom)));
    } else if (v instanceof Map) {
      this.global("collections", "OrderedDict");
      this.byte(0x29);
      this.byte(0x52);
      this.setItems([...v.entries()], custom);
    } else if (typeof v === "object" && v !== undefined) {
      this.byte(0x7d); // EMPTY_DICT
      this.setItems(Object.entries(v as Record<string, unknown>), custom);
    } else {
      throw new TypeError(`Cannot pickle a value of type ${typeof v}`);
    }
  }
  /** The finished pickle: `PROTO protocol`, the values written, `STOP`. */
  finish(): Uint8Array<ArrayBuffer> {
    this.byte(0x2e); // STOP
    this.#flushCur();
    const out = new Uint8Array(this.#chunks.reduce((a, c) => a + c.length, 0) + 2);
    out[0] = 0x80;
    out[1] = this.protocol;
    let p = 2;
    for (const c of this.#chunks) {
      out.set(c, p);
      p += c.length;
    }
    return out;
  }
}

/** Writes `v` itself and returns `true`, or returns `false` to leave it to the writer. */
export type CustomWriter = (v: unknown, w: PickleWriter) => boolean;
