/**
 * What the library needs from its host (files, environment, terminal, process, image codecs),
 * as one interface with a Deno implementation (`deno.ts`) and a browser one (`browser.ts`). Code
 * above this layer calls {@linkcode platform} and never `Deno.*` or `node:*` directly, so the
 * same modules run in Deno and, bundled by `deno task build:web`, in a browser tab.
 *
 * @module
 */

/** A directory entry. */
export interface PlatformDirEntry {
  /** The entry's name (no path). */
  name: string;
  /** A regular file. */
  isFile: boolean;
  /** A directory. */
  isDirectory: boolean;
}

/** What `stat` reports. */
export interface PlatformFileInfo {
  /** A regular file. */
  isFile: boolean;
  /** A directory. */
  isDirectory: boolean;
  /** Size in bytes (0 for directories). */
  size: number;
  /** Last modification time in ms since the epoch, where the platform knows it. */
  mtime?: number;
}

/** Decoded pixels: row-major RGBA, 8 bits per channel. */
export interface RgbaImage {
  /** `width * height * 4` bytes. */
  data: Uint8Array;
  /** Pixels per row. */
  width: number;
  /** Rows. */
  height: number;
}

/** The host services the library uses. */
export interface Platform {
  /** `"deno"` or `"browser"`. */
  readonly name: "deno" | "browser";
  /** Reads a whole file. */
  readFile(path: string | URL): Promise<Uint8Array>;
  /** Reads a whole file synchronously (pipelines decode images synchronously). */
  readFileSync(path: string | URL): Uint8Array;
  /** Reads at most the first `n` bytes of a file synchronously (image headers at dataset load). */
  readFileHeadSync(path: string | URL, n: number): Uint8Array;
  /** Reads a UTF-8 text file. */
  readTextFile(path: string | URL): Promise<string>;
  /** Reads a UTF-8 text file synchronously. */
  readTextFileSync(path: string | URL): string;
  /** Writes (or appends to) a file. */
  writeFile(path: string, data: Uint8Array, opts?: { append?: boolean }): Promise<void>;
  /** Writes (or appends to) a file synchronously. */
  writeFileSync(path: string, data: Uint8Array, opts?: { append?: boolean }): void;
  /** Writes (or appends to) a UTF-8 text file. */
  writeTextFile(path: string, text: string, opts?: { append?: boolean }): Promise<void>;
  /** Writes (or appends to) a UTF-8 text file synchronously. */
  writeTextFileSync(path: string, text: string, opts?: { append?: boolean }): void;
  /** File or directory information; throws a not-found error ({@linkcode Platform.isNotFound}). */
  stat(path: string | URL): Promise<PlatformFileInfo>;
  /** The entries of a directory. */
  readDir(path: string | URL): AsyncIterable<PlatformDirEntry>;
  /** Creates a directory. */
  mkdir(path: string, opts?: { recursive?: boolean }): Promise<void>;
  /** Creates a directory synchronously. */
  mkdirSync(path: string, opts?: { recursive?: boolean }): void;
  /** Removes a file or (with `recursive`) a directory tree. */
  remove(path: string, opts?: { recursive?: boolean }): Promise<void>;
  /** Renames a file or directory. */
  rename(from: string, to: string): Promise<void>;
  /** Creates a fresh directory and returns its path. */
  makeTempDir(opts?: { dir?: string; prefix?: string }): Promise<string>;
  /** True for the error a missing file raises. */
  isNotFound(e: unknown): boolean;
  /** A not-found error with `message` (Deno: `Deno.errors.NotFound`). */
  notFound(message: string): Error;
  /** The current directory (browser: `/`). */
  cwd(): string;
  /** An environment variable (browser: from {@linkcode Platform.setEnv}); undefined without permission. */
  env(name: string): string | undefined;
  /** Sets an environment variable (browser: in memory). */
  setEnv(name: string, value: string): void;
  /** The process id (browser: 0). */
  readonly pid: number;
  /** The host name (browser: `"browser"`). */
  hostname(): string;
  /** Whether stdout is an interactive terminal (browser: false). */
  stdoutIsTerminal(): boolean;
  /** Writes text to stdout without a newline (browser: buffered into console lines). */
  writeStdout(text: string): void;
  /** Whether stderr is an interactive terminal (browser: false). */
  stderrIsTerminal(): boolean;
  /**
   * Writes text to stderr without a newline (browser: buffered into `console.error` lines, a
   * `\r` dropping what the line held before it, as a terminal redraws a progress line).
   */
  writeStderr(text: string): void;
  /** Ends the process with `code` (browser: throws, a tab cannot exit). */
  exit(code: number): never;
  /** Calls `fn` on SIGTERM; returns a function that removes it (browser: never called). */
  onTerminate(fn: () => void): () => void;
  /** Decodes a PNG file to RGBA. */
  decodePng(bytes: Uint8Array): RgbaImage;
  /**
   * The inflated length of zlib `data`, stopping at `maxOutput` bytes (throws on corrupt data);
   * absent where no synchronous inflate exists (browsers).
   */
  inflatedLength?(data: Uint8Array, maxOutput: number): number;
  /** Encodes RGBA pixels as a PNG file of PNG colour type 0 (gray), 2 (RGB) or 6 (RGBA, default). */
  encodePng(image: RgbaImage, colorType?: 0 | 2 | 6): Uint8Array;
  /** Whether data-loader workers (module Web Workers running `lib/datasets/loader_worker.ts`) can be started. */
  readonly loaderWorkers: boolean;
}
