/**
 * TensorBoard event files (`events.out.tfevents.<time>.<host>`), written without TensorFlow: each
 * record is TFRecord-framed (`uint64 length`, `uint32 masked_crc32c(length)`, data,
 * `uint32 masked_crc32c(data)`, little-endian) and holds an `Event` protocol buffer
 * (`wall_time` = 1 double, `step` = 2 int64, `file_version` = 3 string, `summary` = 5 with
 * `Summary.value` = 1 of `{tag = 1 string, simple_value = 2 float}`), encoded by the small
 * protobuf writer below. The first record is `file_version: "brain.Event:2"`, as TensorFlow's
 * and tensorboardX's writers do, so `tensorboard --logdir` reads the file.
 *
 * @module
 */
import { platform } from "../platform/mod.ts";

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli) of `data`. */
export function crc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: `((crc >>> 15) | (crc << 17)) + 0xa282ead8`. */
export function maskedCrc32c(data: Uint8Array): number {
  const c = crc32c(data);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: length, its masked CRC, the data, the data's masked CRC. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + data.length);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(data.length), true);
  dv.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  dv.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

/** A minimal protobuf writer: varints, 64-bit doubles, 32-bit floats, length-delimited fields. */
class Proto {
  #b: number[] = [];
  varint(v: bigint | number): this {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.#b.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.#b.push(Number(x));
    return this;
  }
  key(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  double(field: number, v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.key(field, 1);
    this.#b.push(...b);
    return this;
  }
  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.key(field, 5);
    this.#b.push(...b);
    return this;
  }
  int64(field: number, v: number): this {
    return this.key(field, 0).varint(v);
  }
  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2).varint(b.length);
    for (const x of b) this.#b.push(x);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  done(): Uint8Array {
    return Uint8Array.from(this.#b);
  }
}

/** An `Event` with `file_version` (the first record of a file). */
export function fileVersionEvent(wallTime: number): Uint8Array {
  return new Proto().double(1, wallTime).string(3, "brain.Event:2").done();
}

/** An `Event` with one scalar summary per `[tag, value]`. */
export function scalarEvent(
  wallTime: number,
  step: number,
  scalars: [string, number][],
): Uint8Array {
  const summary = new Proto();
  for (const [tag, v] of scalars) summary.bytes(1, new Proto().string(1, tag).float(2, v).done());
  return new Proto().double(1, wallTime).int64(2, step).bytes(5, summary.done()).done();
}

/** A decoded event record (for tests and tools). */
export interface DecodedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars: [string, number][];
}

function readVarint(b: Uint8Array, p: { i: number }): bigint {
  let x = 0n, s = 0n;
  for (;;) {
    const c = b[p.i++];
    x |= BigInt(c & 0x7f) << s;
    if (!(c & 0x80)) return x;
    s += 7n;
  }
}

function fields(b: Uint8Array): [number, number, Uint8Array | bigint | number][] {
  const out: [number, number, Uint8Array | bigint | number][] = [];
  const p = { i: 0 };
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  while (p.i < b.length) {
    const k = Number(readVarint(b, p));
    const f = k >> 3, w = k & 7;
    if (w === 0) out.push([f, w, readVarint(b, p)]);
    else if (w === 1) {
      out.push([f, w, dv.getFloat64(p.i, true)]);
      p.i += 8;
    } else if (w === 5) {
      out.push([f, w, dv.getFloat32(p.i, true)]);
      p.i += 4;
    } else if (w === 2) {
      const n = Number(readVarint(b, p));
      out.push([f, w, b.subarray(p.i, p.i + n)]);
      p.i += n;
    } else throw new TypeError(`Cannot decode protobuf: wire type ${w}`);
  }
  return out;
}

/**
 * Reads an event file: checks every record's two masked CRCs and decodes the events.
 *
 * @throws {TypeError} On a bad CRC or a truncated record, naming the byte offset.
 */
export function readEventFile(bytes: Uint8Array): DecodedEvent[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: DecodedEvent[] = [];
  let o = 0;
  while (o < bytes.length) {
    if (o + 12 > bytes.length) throw new TypeError(`Truncated event record at byte ${o}`);
    const n = Number(dv.getBigUint64(o, true));
    if (dv.getUint32(o + 8, true) !== maskedCrc32c(bytes.subarray(o, o + 8))) {
      throw new TypeError(`Bad length CRC of the event record at byte ${o}`);
    }
    const data = bytes.subarray(o + 12, o + 12 + n);
    if (o + 16 + n > bytes.length) throw new TypeError(`Truncated event record at byte ${o}`);
    if (dv.getUint32(o + 12 + n, true) !== maskedCrc32c(data)) {
      throw new TypeError(`Bad data CRC of the event record at byte ${o}`);
    }
    const ev: DecodedEvent = { wallTime: 0, step: 0, scalars: [] };
    for (const [f, , v] of fields(data)) {
      if (f === 1) ev.wallTime = v as number;
      else if (f === 2) ev.step = Number(BigInt.asIntN(64, v as bigint));
      else if (f === 3) ev.fileVersion = new TextDecoder().decode(v as Uint8Array);
      else if (f === 5) {
        for (const [sf, , sv] of fields(v as Uint8Array)) {
          if (sf !== 1) continue;
          let tag = "", val = NaN;
          for (const [vf, , vv] of fields(sv as Uint8Array)) {
            if (vf === 1) tag = new TextDecoder().decode(vv as Uint8Array);
            if (vf === 2) val = vv as number;
          }
          ev.scalars.push([tag, val]);
        }
      }
    }
    out.push(ev);
    o += 16 + n;
  }
  return out;
}

/** Appends events to one `events.out.tfevents.<seconds>.<host>` file in a folder. */
export class EventFileWriter {
  /** The file written. */
  readonly path: string;
  #closed = false;

  /** Creates `logDir` and the event file with its `file_version` record. */
  constructor(logDir: string, now: number = Date.now() / 1000) {
    platform().mkdirSync(logDir, { recursive: true });
    let host = "localhost";
    try {
      host = platform().hostname();
    } catch {
      // no sys permission: keep the default
    }
    this.path = `${logDir}/events.out.tfevents.${Math.floor(now)}.${host}`;
    this.#write(fileVersionEvent(now));
  }

  #write(ev: Uint8Array): void {
    if (this.#closed) throw new Error(`Event file ${this.path} is closed`);
    platform().writeFileSync(this.path, tfRecord(ev), { append: true });
  }

  /** Writes the scalars of one step (one event). */
  addScalars(
    step: number,
    scalars: [string, number][],
    wallTime: number = Date.now() / 1000,
  ): void {
    if (scalars.length) this.#write(scalarEvent(wallTime, step, scalars));
  }

  /** Closes the file. */
  close(): void {
    this.#closed = true;
  }
}
