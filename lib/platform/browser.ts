/**
 * The browser implementation of {@linkcode Platform}: an in-memory file system (files arrive
 * through {@linkcode mountFile} from `File`s, `fetch` or the synthetic generator, and leave as
 * downloads), environment variables in memory, console output, and PNG decoding by the browser's
 * own decoder (`createImageBitmap`, done when a file is mounted, because pipelines decode
 * synchronously). No `Deno.*`, no `node:*`.
 *
 * @module
 */
import type { Platform, PlatformDirEntry, RgbaImage } from "./types.ts";

/** A missing file or directory (the browser's `Deno.errors.NotFound`). */
export class NotFoundError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "NotFound";
  }
}

const files = new Map<string, Uint8Array>();
const dirs = new Set<string>(["/"]);
const env = new Map<string, string>();
const decoded = new Map<string, RgbaImage>(); // PNG bytes' key -> pixels
const dec = new TextDecoder();
const enc = new TextEncoder();
let tmpCounter = 0;

/** `path` made absolute (from `/`) and normalised. */
export function normPath(path: string | URL): string {
  let p = typeof path === "string"
    ? path
    : path.protocol === "file:"
    ? decodeURIComponent(path.pathname)
    : path.href;
  if (!p.startsWith("/")) p = "/" + p;
  const out: string[] = [];
  for (const s of p.split("/")) {
    if (s === "" || s === ".") continue;
    if (s === "..") out.pop();
    else out.push(s);
  }
  return "/" + out.join("/");
}

function parentOf(p: string): string {
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}

function ensureDirs(p: string): void {
  for (let d = parentOf(p); !dirs.has(d); d = parentOf(d)) dirs.add(d);
}

function getFile(path: string | URL): Uint8Array {
  const p = normPath(path);
  const f = files.get(p);
  if (!f) throw new NotFoundError(`No such file: ${p} (browser file system: mount it first)`);
  return f;
}

function write(path: string, data: Uint8Array, append?: boolean): void {
  const p = normPath(path);
  if (!dirs.has(parentOf(p))) {
    throw new NotFoundError(`No such directory: ${parentOf(p)} (writing ${p})`);
  }
  const old = append ? files.get(p) : undefined;
  if (old) {
    const both = new Uint8Array(old.length + data.length);
    both.set(old);
    both.set(data, old.length);
    files.set(p, both);
  } else files.set(p, data.slice());
}

function pngKey(bytes: Uint8Array): string {
  // FNV-1a over the bytes plus the length: pipelines re-read the same file, so decoded pixels are
  // looked up by content, not by identity
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return `${bytes.length}:${(h >>> 0).toString(16)}`;
}

function isPng(b: Uint8Array): boolean {
  return b.length > 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
}

/**
 * Decodes PNG `bytes` with the browser's decoder (`createImageBitmap`, no colour-space
 * conversion, no premultiplied alpha: the file's exact 8-bit values) and remembers the pixels so
 * that the synchronous `decodePng` of the data pipeline finds them.
 */
export async function predecodePng(bytes: Uint8Array): Promise<RgbaImage> {
  const key = pngKey(bytes);
  const hit = decoded.get(key);
  if (hit) return hit;
  const bmp = await createImageBitmap(new Blob([bytes as BlobPart], { type: "image/png" }), {
    colorSpaceConversion: "none",
    premultiplyAlpha: "none",
  });
  const canvas = new OffscreenCanvas(bmp.width, bmp.height);
  // Deno's DOM typings lack the 2-D context; this is the part used
  const ctx = canvas.getContext("2d", { colorSpace: "srgb" }) as unknown as {
    drawImage(b: ImageBitmap, x: number, y: number): void;
    getImageData(x: number, y: number, w: number, h: number): ImageData;
  };
  ctx.drawImage(bmp, 0, 0);
  const id = ctx.getImageData(0, 0, bmp.width, bmp.height);
  bmp.close();
  const img = {
    data: new Uint8Array(id.data.buffer, id.data.byteOffset, id.data.byteLength),
    width: id.width,
    height: id.height,
  };
  decoded.set(key, img);
  return img;
}

/**
 * Puts a file into the browser file system (creating its folders); PNG files are decoded now
 * (see {@linkcode predecodePng}). Returns the normalised path.
 */
export async function mountFile(path: string, data: Uint8Array | Blob): Promise<string> {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(await data.arrayBuffer());
  const p = normPath(path);
  ensureDirs(p);
  files.set(p, bytes);
  if (isPng(bytes)) await predecodePng(bytes);
  return p;
}

/** Every path in the browser file system under `dir` (default: all). */
export function listFiles(dir = "/"): string[] {
  const d = normPath(dir);
  const pre = d === "/" ? "/" : d + "/";
  return [...files.keys()].filter((p) => p.startsWith(pre)).sort();
}

/** Forgets every file under `dir` (default: all). */
export function clearFiles(dir = "/"): void {
  for (const p of listFiles(dir)) files.delete(p);
}

// ---- PNG encoding without compression (stored deflate blocks): small and synchronous --------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(parts: Uint8Array[]): number {
  let c = 0xffffffff;
  for (const b of parts) {
    for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

function u32be(v: number): Uint8Array {
  return new Uint8Array([(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
}

function chunk(type: string, data: Uint8Array): Uint8Array[] {
  const t = enc.encode(type);
  return [u32be(data.length), t, data, u32be(crc32([t, data]))];
}

function encodePngStored(image: RgbaImage, colorType: 0 | 2 | 6): Uint8Array {
  const { width, height, data } = image;
  const ch = colorType === 0 ? 1 : colorType === 2 ? 3 : 4;
  const row = width * ch + 1;
  const raw = new Uint8Array(row * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * 4, o = y * row + 1 + x * ch;
      if (ch === 1) raw[o] = data[s];
      else {
        raw[o] = data[s];
        raw[o + 1] = data[s + 1];
        raw[o + 2] = data[s + 2];
        if (ch === 4) raw[o + 3] = data[s + 3];
      }
    }
  }
  // zlib stream of stored blocks
  const blocks = Math.max(1, Math.ceil(raw.length / 65535));
  const z = new Uint8Array(2 + raw.length + blocks * 5 + 4);
  z[0] = 0x78;
  z[1] = 0x01;
  let o = 2;
  for (let b = 0; b < blocks; b++) {
    const start = b * 65535, len = Math.min(65535, raw.length - start);
    z[o++] = b === blocks - 1 ? 1 : 0;
    z[o++] = len & 255;
    z[o++] = len >>> 8;
    z[o++] = ~len & 255;
    z[o++] = (~len >>> 8) & 255;
    z.set(raw.subarray(start, start + len), o);
    o += len;
  }
  let a = 1, bsum = 0;
  for (let i = 0; i < raw.length; i++) {
    a = (a + raw[i]) % 65521;
    bsum = (bsum + a) % 65521;
  }
  z.set(u32be(((bsum << 16) | a) >>> 0), o);
  const ihdr = new Uint8Array(13);
  ihdr.set(u32be(width), 0);
  ihdr.set(u32be(height), 4);
  ihdr[8] = 8;
  ihdr[9] = colorType;
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    ...chunk("IHDR", ihdr),
    ...chunk("IDAT", z),
    ...chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

let stdoutLine = "";
let stderrLine = "";

/** The browser's platform. */
export const browserPlatform: Platform = {
  name: "browser",
  readFile: async (p) => getFile(p).slice(),
  readFileSync: (p) => getFile(p).slice(),
  readFileHeadSync: (p, n) => getFile(p).slice(0, n),
  readTextFile: async (p) => dec.decode(getFile(p)),
  readTextFileSync: (p) => dec.decode(getFile(p)),
  writeFile: async (p, d, o) => write(p, d, o?.append),
  writeFileSync: (p, d, o) => write(p, d, o?.append),
  writeTextFile: async (p, t, o) => write(p, enc.encode(t), o?.append),
  writeTextFileSync: (p, t, o) => write(p, enc.encode(t), o?.append),
  stat: async (path) => {
    const p = normPath(path);
    const f = files.get(p);
    if (f) return { isFile: true, isDirectory: false, size: f.length };
    if (dirs.has(p)) return { isFile: false, isDirectory: true, size: 0 };
    throw new NotFoundError(`No such file or directory: ${p}`);
  },
  readDir: async function* (path): AsyncIterable<PlatformDirEntry> {
    const d = normPath(path);
    if (!dirs.has(d)) throw new NotFoundError(`No such directory: ${d}`);
    const pre = d === "/" ? "/" : d + "/";
    const seen = new Set<string>();
    for (const p of [...files.keys(), ...dirs]) {
      if (!p.startsWith(pre) || p === d) continue;
      const name = p.slice(pre.length).split("/")[0];
      if (seen.has(name)) continue;
      seen.add(name);
      const full = pre + name;
      yield { name, isFile: files.has(full), isDirectory: dirs.has(full) };
    }
  },
  mkdir: async (p, o) => browserPlatform.mkdirSync(p, o),
  mkdirSync: (path, o) => {
    const p = normPath(path);
    if (!o?.recursive && !dirs.has(parentOf(p))) {
      throw new NotFoundError(`No such directory: ${parentOf(p)}`);
    }
    ensureDirs(p);
    dirs.add(p);
  },
  remove: async (path, o) => {
    const p = normPath(path);
    if (files.delete(p)) return;
    if (!dirs.has(p)) throw new NotFoundError(`No such file or directory: ${p}`);
    const inside = [...files.keys(), ...dirs].filter((q) => q.startsWith(p + "/"));
    if (inside.length && !o?.recursive) throw new Error(`Directory not empty: ${p}`);
    for (const q of inside) {
      files.delete(q);
      dirs.delete(q);
    }
    dirs.delete(p);
  },
  rename: async (from, to) => {
    const a = normPath(from), b = normPath(to);
    const f = files.get(a);
    if (f) {
      ensureDirs(b);
      files.delete(a);
      files.set(b, f);
      return;
    }
    if (!dirs.has(a)) throw new NotFoundError(`No such file or directory: ${a}`);
    for (const q of [...files.keys()]) {
      if (q.startsWith(a + "/")) {
        files.set(b + q.slice(a.length), files.get(q)!);
        files.delete(q);
      }
    }
    for (const q of [...dirs]) {
      if (q === a || q.startsWith(a + "/")) {
        dirs.delete(q);
        dirs.add(b + q.slice(a.length));
      }
    }
    ensureDirs(b);
  },
  makeTempDir: async (o) => {
    const base = normPath(o?.dir ?? "/tmp");
    const p = `${base === "/" ? "" : base}/${o?.prefix ?? "tmp-"}${Date.now()}-${tmpCounter++}`;
    ensureDirs(p + "/x");
    return p;
  },
  isNotFound: (e) => e instanceof NotFoundError,
  notFound: (m) => new NotFoundError(m),
  cwd: () => "/",
  env: (name) => env.get(name),
  setEnv: (name, value) => void env.set(name, value),
  pid: 0,
  hostname: () => "browser",
  stdoutIsTerminal: () => false,
  writeStdout: (text) => {
    stdoutLine += text;
    const lines = stdoutLine.split("\n");
    stdoutLine = lines.pop()!;
    for (const l of lines) console.log(l);
  },
  stderrIsTerminal: () => false,
  writeStderr: (text) => {
    const lines = (stderrLine + text).split("\n");
    stderrLine = lines.pop()!;
    stderrLine = stderrLine.slice(stderrLine.lastIndexOf("\r") + 1);
    for (const l of lines) console.error(l.slice(l.lastIndexOf("\r") + 1));
  },
  exit: (code) => {
    throw new Error(`exit(${code}) called in a browser tab`);
  },
  onTerminate: () => () => {},
  decodePng: (bytes) => {
    const hit = decoded.get(pngKey(bytes));
    if (!hit) {
      throw new Error(
        "PNG not decoded yet: in the browser, images are decoded when mounted " +
          "(mountFile / datasetFromFiles / fetchDataset); mount the file first",
      );
    }
    return hit;
  },
  encodePng: (image, colorType = 6) => {
    const bytes = encodePngStored(image, colorType);
    // lossless: decoding these bytes gives `image` back (gray and RGB files decode with r=g=b
    // and alpha 255, which the callers' RGBA already has), so the pipeline can read them at once
    const rgba = image.data.slice();
    if (colorType !== 6) { for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255; }
    if (colorType === 0) {
      for (let i = 0; i < rgba.length; i += 4) rgba[i + 1] = rgba[i + 2] = rgba[i];
    }
    decoded.set(pngKey(bytes), { data: rgba, width: image.width, height: image.height });
    return bytes;
  },
  loaderWorkers: false,
};
