/**
 * POSIX path helpers (`join`, `dirname`, `basename`, `extname`, `isAbsolute`, `resolve`,
 * `relative`) and file-URL conversion, in place of `node:path`/`node:url` so that the library
 * runs in browsers too (whose file system, `lib/platform/browser.ts`, is POSIX-shaped).
 *
 * @module
 */
import { platform } from "../platform/mod.ts";

function normalizeParts(p: string): string {
  const abs = p.startsWith("/");
  const out: string[] = [];
  for (const s of p.split("/")) {
    if (s === "" || s === ".") continue;
    if (s === "..") {
      if (out.length && out[out.length - 1] !== "..") out.pop();
      else if (!abs) out.push("..");
    } else out.push(s);
  }
  const body = out.join("/");
  return abs ? "/" + body : body || ".";
}

/** Joins path segments and normalises the result (as `node:path`'s posix `join`). */
export function join(...parts: string[]): string {
  const p = parts.filter((s) => s !== "").join("/");
  return p === "" ? "." : normalizeParts(p);
}

/** Whether `p` starts at the root. */
export function isAbsolute(p: string): boolean {
  return p.startsWith("/");
}

/** The folder part of `p` (as `node:path`'s posix `dirname`). */
export function dirname(p: string): string {
  if (p === "") return ".";
  let end = p.length;
  while (end > 1 && p[end - 1] === "/") end--;
  const i = p.lastIndexOf("/", end - 1);
  if (i < 0) return ".";
  if (i === 0) return "/";
  return p.slice(0, i);
}

/** The last segment of `p`, without `ext` when it ends with it. */
export function basename(p: string, ext?: string): string {
  let end = p.length;
  while (end > 1 && p[end - 1] === "/") end--;
  const s = p.slice(p.lastIndexOf("/", end - 1) + 1, end);
  return ext && s.endsWith(ext) && s !== ext ? s.slice(0, -ext.length) : s;
}

/** The extension of the last segment, with its dot (`".ts"`), or `""`. */
export function extname(p: string): string {
  const b = basename(p);
  const i = b.lastIndexOf(".");
  return i <= 0 ? "" : b.slice(i);
}

/** An absolute, normalised path (relative ones start at the platform's current directory). */
export function resolve(...parts: string[]): string {
  let p = "";
  for (let i = parts.length - 1; i >= 0 && !isAbsolute(p); i--) {
    if (parts[i]) p = p ? `${parts[i]}/${p}` : parts[i];
  }
  if (!isAbsolute(p)) p = `${platform().cwd()}/${p}`;
  return normalizeParts(p);
}

/** The path from `from` to `to` (both resolved first). */
export function relative(from: string, to: string): string {
  const a = resolve(from).split("/").filter(Boolean);
  const b = resolve(to).split("/").filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => ".."), ...b.slice(i)].join("/");
}

/** The path of a `file:` URL. */
export function fileURLToPath(url: string | URL): string {
  const u = typeof url === "string" ? new URL(url) : url;
  if (u.protocol !== "file:") throw new TypeError(`Not a file: URL: ${u.href}`);
  return decodeURIComponent(u.pathname);
}

/**
 * The `file:` URL of `path` (resolved first). As `node:url`'s, `%`, backslashes, newlines and tabs are
 * percent-encoded first (the URL parser would read them as escapes, separators or drop them).
 */
export function pathToFileURL(path: string): URL {
  const u = new URL("file://");
  u.pathname = resolve(path).replace(/[%\\\n\r\t]/g, (c) => encodeURIComponent(c));
  return u;
}
