/**
 * The runner's logger: lines formatted as mmcv's (`2022-04-06 14:13:37,121 - wgdet - INFO - msg`),
 * printed to the console and appended to `{work_dir}/{timestamp}.log`.
 *
 * @module
 */
import { platform } from "../platform/mod.ts";

/** A log level name as in the config's `log_level`. */
export type LogLevel = "DEBUG" | "INFO" | "WARNING" | "ERROR";
const LEVELS: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40 };

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** `YYYY-MM-DD HH:MM:SS,mmm` in local time, as Python's logging prints `asctime`. */
export function formatAsctime(d: Date = new Date()): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())},${
      pad(d.getMilliseconds(), 3)
    }`;
}

/** `YYYYMMDD_HHMMSS` in local time: mmcv's run timestamp, used for log file names. */
export function formatTimestamp(d: Date = new Date()): string {
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}_` +
    `${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}

/** Options of {@linkcode RunnerLogger}. */
export interface RunnerLoggerOptions {
  /** The name printed in each line (default `wgdet`). */
  name?: string;
  /** A file each line is appended to (created on first write). */
  logFile?: string;
  /** Lowest level printed (default `INFO`). */
  level?: LogLevel | string;
  /** Print to the console (default true). */
  console?: boolean;
}

/**
 * A minimal logger with Python logging's line format.
 *
 * @example
 * ```ts
 * import { RunnerLogger } from "./logger.ts";
 * const lines: string[] = [];
 * const logger = new RunnerLogger({ console: false });
 * logger.setConsoleSink((line) => lines.push(line));
 * ```
 */
export class RunnerLogger {
  /** The name printed in each line. */
  readonly name: string;
  /** The file lines are appended to, if any. */
  logFile: string | undefined;
  #level: number;
  #console: boolean;
  #sink: (line: string) => void = (line) => console.log(line);

  /**
   * Reads name (default "wgdet"), log file, level (default INFO) and console output (default on);
   * throws `RangeError` for an unknown level.
   */
  constructor(opts: RunnerLoggerOptions = {}) {
    this.name = opts.name ?? "wgdet";
    this.logFile = opts.logFile;
    const level = String(opts.level ?? "INFO").toUpperCase();
    if (!Object.hasOwn(LEVELS, level)) {
      throw new RangeError(
        `Invalid log_level "${opts.level}": expected one of ${Object.keys(LEVELS).join(", ")}`,
      );
    }
    this.#level = LEVELS[level as LogLevel];
    this.#console = opts.console ?? true;
  }

  /** Replaces the console output function (a progress bar routes lines around its bar). */
  setConsoleSink(fn: (line: string) => void): void {
    this.#sink = fn;
    this.#console = true;
  }

  /** The current console output function. */
  get consoleSink(): (line: string) => void {
    return this.#sink;
  }

  /** Logs at DEBUG level. */
  debug(msg: string): void {
    this.#log("DEBUG", msg);
  }
  /** Logs at INFO level. */
  info(msg: string): void {
    this.#log("INFO", msg);
  }
  /** Logs at WARNING level. */
  warn(msg: string): void {
    this.#log("WARNING", msg);
  }
  /** Logs at ERROR level. */
  error(msg: string): void {
    this.#log("ERROR", msg);
  }

  #log(level: LogLevel, msg: string): void {
    if (LEVELS[level] < this.#level) return;
    const line = `${formatAsctime()} - ${this.name} - ${level} - ${msg}`;
    if (this.#console) this.#sink(line);
    if (this.logFile) platform().writeTextFileSync(this.logFile, line + "\n", { append: true });
  }
}
