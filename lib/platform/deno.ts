/**
 * The Deno implementation of {@linkcode Platform}: `Deno.*` file system, environment and
 * process APIs; PNG through pngjs.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { hostname } from "node:os";
import { inflateSync } from "node:zlib";
import { PNG } from "../deps_deno.ts";
import type { Platform, PlatformDirEntry, RgbaImage } from "./types.ts";

const enc = new TextEncoder();

/** Deno's platform. */
export const denoPlatform: Platform = {
  name: "deno",
  readFile: (p) => Deno.readFile(p),
  readFileSync: (p) => Deno.readFileSync(p),
  readFileHeadSync: (p, n) => {
    const f = Deno.openSync(p, { read: true });
    try {
      const buf = new Uint8Array(n);
      let got = 0;
      while (got < n) {
        const r = f.readSync(buf.subarray(got));
        if (r === null || r === 0) break;
        got += r;
      }
      return buf.subarray(0, got);
    } finally {
      f.close();
    }
  },
  readTextFile: (p) => Deno.readTextFile(p),
  readTextFileSync: (p) => Deno.readTextFileSync(p),
  writeFile: (p, d, o) => Deno.writeFile(p, d, { append: o?.append }),
  writeFileSync: (p, d, o) => Deno.writeFileSync(p, d, { append: o?.append }),
  writeTextFile: (p, t, o) => Deno.writeTextFile(p, t, { append: o?.append }),
  writeTextFileSync: (p, t, o) => Deno.writeTextFileSync(p, t, { append: o?.append }),
  stat: async (p) => {
    const s = await Deno.stat(p);
    return {
      isFile: s.isFile,
      isDirectory: s.isDirectory,
      size: s.size,
      mtime: s.mtime?.getTime(),
    };
  },
  readDir: async function* (p): AsyncIterable<PlatformDirEntry> {
    for await (const e of Deno.readDir(p)) {
      yield { name: e.name, isFile: e.isFile, isDirectory: e.isDirectory };
    }
  },
  mkdir: (p, o) => Deno.mkdir(p, o),
  mkdirSync: (p, o) => Deno.mkdirSync(p, o),
  remove: (p, o) => Deno.remove(p, o),
  rename: (a, b) => Deno.rename(a, b),
  makeTempDir: (o) => Deno.makeTempDir(o),
  isNotFound: (e) => e instanceof Deno.errors.NotFound,
  notFound: (m) => new Deno.errors.NotFound(m),
  cwd: () => Deno.cwd(),
  env: (name) => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined; // no --allow-env
    }
  },
  setEnv: (name, value) => Deno.env.set(name, value),
  get pid() {
    return Deno.pid;
  },
  hostname: () => hostname(),
  stdoutIsTerminal: () => Deno.stdout.isTerminal(),
  writeStdout: (text) => {
    const b = enc.encode(text);
    for (let o = 0; o < b.length;) o += Deno.stdout.writeSync(b.subarray(o));
  },
  stderrIsTerminal: () => Deno.stderr.isTerminal(),
  writeStderr: (text) => {
    const b = enc.encode(text);
    for (let o = 0; o < b.length;) o += Deno.stderr.writeSync(b.subarray(o));
  },
  exit: (code) => Deno.exit(code),
  onTerminate: (fn) => {
    if (Deno.build.os === "windows") return () => {};
    Deno.addSignalListener("SIGTERM", fn);
    return () => Deno.removeSignalListener("SIGTERM", fn);
  },
  inflatedLength: (data, maxOutput) => inflateSync(data, { maxOutputLength: maxOutput }).length,
  decodePng: (bytes): RgbaImage => {
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return {
      data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength),
      width: png.width,
      height: png.height,
    };
  },
  encodePng: (image, colorType = 6) => {
    const png = new PNG({ width: image.width, height: image.height });
    png.data.set(image.data);
    const buf = PNG.sync.write(png, { colorType });
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  },
  loaderWorkers: true,
};
