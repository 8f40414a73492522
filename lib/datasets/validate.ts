/**
 * Strict value parsing for annotation files, matching what mmdet's Python accepts (so that
 * nothing JavaScript would coerce — `"0x10"`, `""`, `[]`, `1e39` in float32 — slips through as
 * a silently different value).
 *
 * @module
 */
import { DataError } from "../utils/errors.ts";
import { platform } from "../platform/mod.ts";

const PY_FLOAT =
  /^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const PY_INT = /^[+-]?\d(?:_?\d)*$/;

/**
 * Python's `float(text)` for finite values (surrounding whitespace allowed); undefined for text
 * Python rejects (`0x10`, `""`, `abc`) and for `inf`/`nan` (which mmdet's `int(float(…))`
 * rejects too).
 */
export function pyFloat(text: string | undefined | null): number | undefined {
  if (text === undefined || text === null) return undefined;
  const t = text.trim();
  if (!PY_FLOAT.test(t)) return undefined;
  const v = Number(t.replaceAll("_", ""));
  return Number.isFinite(v) ? v : undefined;
}

/** Python's `int(text)` (decimal digits, optional sign); undefined otherwise. */
export function pyInt(text: string | undefined | null): number | undefined {
  if (text === undefined || text === null) return undefined;
  const t = text.trim();
  if (!PY_INT.test(t)) return undefined;
  const v = Number(t.replaceAll("_", ""));
  return Number.isSafeInteger(v) ? v : undefined;
}

/** Whether `v` is a number that stays finite in float32 (boxes are stored as float32). */
export function isF32Finite(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(Math.fround(v));
}

/**
 * Reads a 0/1 flag (`iscrowd`, `ignore`): absent (undefined/null) → `dflt`; 0, 1, false, true
 * → that value. Anything else (`[]`, `{}`, `"1"`, `0.5`, NaN) is refused: JavaScript and Python
 * disagree on its truth value, so it would silently change the box.
 *
 * @throws {DataError} via `fail` with the offending value
 */
export function flag01(v: unknown, dflt: boolean, fail: (msg: string) => never): boolean {
  if (v === undefined || v === null) return dflt;
  if (v === 0 || v === false) return false;
  if (v === 1 || v === true) return true;
  return fail(`must be 0 or 1, got ${describe(v)}`);
}

/** JSON-ish rendering of a value for error messages (NaN and undefined spelled out). */
export function describe(v: unknown): string {
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (v === undefined) return "undefined (missing)";
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * Decodes UTF-8 bytes strictly: an invalid byte is an error naming `file` and the byte
 * offset (the default decoder would replace it with U+FFFD without a word).
 */
export function decodeUtf8Strict(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const i = firstBadUtf8(bytes);
    throw new DataError(
      `Cannot read "${file}": it is not valid UTF-8 (byte 0x${
        (bytes[i] ?? 0).toString(16).padStart(2, "0")
      } at offset ${i}); re-save it as UTF-8`,
    );
  }
}

function firstBadUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length;) {
    const c = b[i];
    const n = c < 0x80
      ? 0
      : c >= 0xc2 && c < 0xe0
      ? 1
      : c >= 0xe0 && c < 0xf0
      ? 2
      : c >= 0xf0 && c < 0xf5
      ? 3
      : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= b.length || (b[i + k] & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return b.length;
}

/** Reads a text file as strict UTF-8 with errors naming it. */
export function readUtf8File(path: string, what: string): string {
  let bytes: Uint8Array;
  try {
    bytes = platform().readFileSync(path);
  } catch (e) {
    if (platform().isNotFound(e)) {
      throw new DataError(`Cannot read ${what} "${path}": the file does not exist`);
    }
    throw new DataError(`Cannot read ${what} "${path}": ${(e as Error).message}`);
  }
  return decodeUtf8Strict(bytes, path);
}
