/**
 * A small zip archive reader and writer for PyTorch's checkpoint format. Reading supports stored
 * and deflated entries (deflate through the built-in `DecompressionStream("deflate-raw")`) and
 * zip64 sizes and offsets; every size, offset and CRC-32 is checked against the bytes, so a
 * truncated or corrupt archive fails with a {@linkcode PthError} naming the file. Writing emits
 * stored entries aligned to 64 bytes, as `torch.save` does.
 *
 * @module
 */

/** A `.pth` file that cannot be read: corrupt, truncated, unsupported, or refused as unsafe. */
export class PthError extends Error {
  /** Creates the error with `message`. */
  constructor(message: string) {
    super(message);
    this.name = "PthError";
  }
}

/** One entry of a zip archive's central directory. */
export interface ZipEntry {
  /** Entry name (`archive/data.pkl`). */
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  /** CRC-32 of the uncompressed bytes. */
  crc32: number;
  /** Compressed size in bytes. */
  compressedSize: number;
  /** Uncompressed size in bytes. */
  size: number;
  /** Offset of the entry's data (after its local header) in the archive. */
  dataOffset: number;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE) of `bytes`, as zip stores it. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** True when `bytes` start like a zip archive (a local file header). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 &&
    bytes[3] === 4;
}

const MAX_ENTRIES = 1_000_000;

/** A parsed archive: its entries by name and a reader of their contents. */
export class ZipReader {
  /** Entries by name, in central-directory order. */
  readonly entries: Map<string, ZipEntry> = new Map();
  readonly #bytes: Uint8Array;
  readonly #file: string;

  /**
   * Parses the central directory of `bytes`.
   *
   * @param file The file name, for error messages.
   * @throws {PthError} For a truncated or corrupt archive, naming `file`.
   */
  constructor(bytes: Uint8Array, file: string) {
    this.#bytes = bytes;
    this.#file = file;
    const fail = (why: string) =>
      new PthError(`Cannot read "${file}": ${why} (a truncated or corrupt zip archive)`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // End of central directory: 22 bytes plus up to 65,535 bytes of comment.
    let eocd = -1;
    for (let i = bytes.length - 22; i >= 0 && i >= bytes.length - 22 - 65535; i--) {
      if (view.getUint32(i, true) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw fail("no end-of-central-directory record");
    let count = view.getUint16(eocd + 10, true);
    let cdSize = view.getUint32(eocd + 12, true);
    let cdOffset = view.getUint32(eocd + 16, true);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // zip64: the locator sits just before the end record
      const loc = eocd - 20;
      if (loc < 0 || view.getUint32(loc, true) !== 0x07064b50) {
        throw fail("zip64 sizes without a zip64 locator");
      }
      const z = Number(view.getBigUint64(loc + 8, true));
      if (!(z >= 0 && z + 56 <= bytes.length) || view.getUint32(z, true) !== 0x06064b50) {
        throw fail("the zip64 end record lies outside the file");
      }
      count = Number(view.getBigUint64(z + 32, true));
      cdSize = Number(view.getBigUint64(z + 40, true));
      cdOffset = Number(view.getBigUint64(z + 48, true));
    }
    if (count > MAX_ENTRIES) throw fail(`${count} entries`);
    if (cdOffset + cdSize > bytes.length) throw fail("the central directory lies outside the file");
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (p + 46 > bytes.length || view.getUint32(p, true) !== 0x02014b50) {
        throw fail(`central directory entry ${i} is missing`);
      }
      const flags = view.getUint16(p + 8, true);
      const method = view.getUint16(p + 10, true);
      const crc = view.getUint32(p + 16, true);
      let csize = view.getUint32(p + 20, true);
      let usize = view.getUint32(p + 24, true);
      const nameLen = view.getUint16(p + 28, true);
      const extraLen = view.getUint16(p + 30, true);
      const commentLen = view.getUint16(p + 32, true);
      let local = view.getUint32(p + 42, true);
      if (p + 46 + nameLen + extraLen + commentLen > bytes.length) {
        throw fail(`central directory entry ${i} runs past the end of the file`);
      }
      const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
      // zip64 extra field: the 64-bit values of the fields that read 0xFFFFFFFF, in order
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = view.getUint16(e, true);
        const len = view.getUint16(e + 2, true);
        if (e + 4 + len > eEnd) throw fail(`entry "${name}" has a malformed extra field`);
        if (id === 1) {
          let q = e + 4;
          const next = () => {
            if (q + 8 > e + 4 + len) throw fail(`entry "${name}" has a short zip64 field`);
            const v = Number(view.getBigUint64(q, true));
            q += 8;
            return v;
          };
          if (usize === 0xffffffff) usize = next();
          if (csize === 0xffffffff) csize = next();
          if (local === 0xffffffff) local = next();
        }
        e += 4 + len;
      }
      if (flags & 1) throw fail(`entry "${name}" is encrypted`);
      if (local + 30 > bytes.length || view.getUint32(local, true) !== 0x04034b50) {
        throw fail(`entry "${name}" has no local header at offset ${local}`);
      }
      const dataOffset = local + 30 + view.getUint16(local + 26, true) +
        view.getUint16(local + 28, true);
      if (dataOffset + csize > bytes.length) {
        throw fail(
          `entry "${name}" needs ${csize} bytes at offset ${dataOffset}, past the end of the ` +
            `${bytes.length}-byte file`,
        );
      }
      if (method === 0 && csize !== usize) {
        throw fail(`stored entry "${name}" has sizes ${csize} and ${usize}`);
      }
      if (this.entries.has(name)) throw fail(`entry "${name}" appears twice`);
      this.entries.set(name, {
        name,
        method,
        crc32: crc,
        compressedSize: csize,
        size: usize,
        dataOffset,
      });
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  /**
   * The uncompressed bytes of entry `name` (a view for stored entries), CRC-checked.
   *
   * @throws {PthError} For a missing entry, an unsupported method, or a CRC or size mismatch.
   */
  async read(name: string): Promise<Uint8Array> {
    const e = this.entries.get(name);
    if (!e) throw new PthError(`Cannot read "${this.#file}": the archive has no entry "${name}"`);
    const raw = this.#bytes.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
    let out: Uint8Array;
    if (e.method === 0) out = raw;
    else if (e.method === 8) out = await inflateRaw(raw, e.size, `${this.#file}:${name}`);
    else {
      throw new PthError(
        `Cannot read "${this.#file}": entry "${name}" uses zip compression method ${e.method} ` +
          `(only stored and deflate are supported)`,
      );
    }
    if (out.length !== e.size) {
      throw new PthError(
        `Cannot read "${this.#file}": entry "${name}" has ${out.length} bytes, its header says ${e.size}`,
      );
    }
    if (crc32(out) !== e.crc32) {
      throw new PthError(
        `Cannot read "${this.#file}": entry "${name}" fails its CRC-32 check (a corrupt file)`,
      );
    }
    return out;
  }
}

/** Inflates raw deflate data, failing as soon as the output would exceed `size` bytes. */
async function inflateRaw(data: Uint8Array, size: number, what: string): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let n = 0;
  const ds = new DecompressionStream("deflate-raw");
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  const w = writer.write(data as Uint8Array<ArrayBuffer>).then(() => writer.close()).catch(
    () => {},
  );
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      if (n + value.length > size) {
        throw new PthError(
          `Cannot read "${what}": it inflates to more than its declared ${size} bytes`,
        );
      }
      out.set(value, n);
      n += value.length;
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    if (e instanceof PthError) throw e;
    throw new PthError(`Cannot read "${what}": bad deflate data (${(e as Error).message})`);
  } finally {
    await w;
  }
  return out.subarray(0, n);
}

/**
 * Writes a zip archive of stored (uncompressed) entries, each entry's data aligned to 64 bytes
 * with a padding extra field as PyTorch's writer does; zip64 fields when the archive passes 4 GiB.
 */
export function writeZip(files: [string, Uint8Array][]): Uint8Array<ArrayBuffer> {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const big = files.reduce((a, [, d]) => a + d.length + 200, 0) >= 0xfffffff0;
  for (const [name, data] of files) {
    const nameBytes = enc.encode(name);
    const crc = crc32(data);
    // local header: 30 bytes + name + extra (zip64 20 bytes when big) + padding to 64
    const z64 = big ? 20 : 0;
    const base = offset + 30 + nameBytes.length + z64 + 4;
    const pad = (64 - (base % 64)) % 64;
    const extraLen = z64 + 4 + pad;
    const local = new Uint8Array(30 + nameBytes.length + extraLen);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, big ? 45 : 20, true);
    lv.setUint16(8, 0, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, big ? 0xffffffff : data.length, true);
    lv.setUint32(22, big ? 0xffffffff : data.length, true);
    lv.setUint16(26, nameBytes.length, true);
    lv.setUint16(28, extraLen, true);
    local.set(nameBytes, 30);
    let q = 30 + nameBytes.length;
    if (big) {
      lv.setUint16(q, 1, true);
      lv.setUint16(q + 2, 16, true);
      lv.setBigUint64(q + 4, BigInt(data.length), true);
      lv.setBigUint64(q + 12, BigInt(data.length), true);
      q += 20;
    }
    lv.setUint16(q, 0x4346, true); // PyTorch's padding field id ("FC")
    lv.setUint16(q + 2, pad, true);
    const cz64 = big ? 28 : 0;
    const cd = new Uint8Array(46 + nameBytes.length + cz64);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, big ? 45 : 20, true);
    cv.setUint16(6, big ? 45 : 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, big ? 0xffffffff : data.length, true);
    cv.setUint32(24, big ? 0xffffffff : data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint16(30, cz64, true);
    cv.setUint32(42, big ? 0xffffffff : offset, true);
    cd.set(nameBytes, 46);
    if (big) {
      const r = 46 + nameBytes.length;
      cv.setUint16(r, 1, true);
      cv.setUint16(r + 2, 24, true);
      cv.setBigUint64(r + 4, BigInt(data.length), true);
      cv.setBigUint64(r + 12, BigInt(data.length), true);
      cv.setBigUint64(r + 20, BigInt(offset), true);
    }
    parts.push(local, data);
    central.push(cd);
    offset += local.length + data.length;
  }
  const cdOffset = offset;
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const tail: Uint8Array[] = [];
  if (big) {
    const z = new Uint8Array(56 + 20);
    const zv = new DataView(z.buffer);
    zv.setUint32(0, 0x06064b50, true);
    zv.setBigUint64(4, 44n, true);
    zv.setUint16(12, 45, true);
    zv.setUint16(14, 45, true);
    zv.setBigUint64(24, BigInt(files.length), true);
    zv.setBigUint64(32, BigInt(files.length), true);
    zv.setBigUint64(40, BigInt(cdSize), true);
    zv.setBigUint64(48, BigInt(cdOffset), true);
    zv.setUint32(56, 0x07064b50, true);
    zv.setBigUint64(64, BigInt(cdOffset + cdSize), true);
    zv.setUint32(72, 1, true);
    tail.push(z);
  }
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, big ? 0xffff : files.length, true);
  ev.setUint16(10, big ? 0xffff : files.length, true);
  ev.setUint32(12, big ? 0xffffffff : cdSize, true);
  ev.setUint32(16, big ? 0xffffffff : cdOffset, true);
  tail.push(end);
  const all = [...parts, ...central, ...tail];
  const out = new Uint8Array(all.reduce((a, c) => a + c.length, 0));
  let p = 0;
  for (const c of all) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}
