/**
 * The progress of `test` over the images: on a terminal, one line redrawn in place (mmcv's
 * `ProgressBar`: `[>>>>>>    ] 40/100, 2.1 task/s, elapsed: 19s, ETA: 29s`); otherwise (a log
 * file, a pipe, CI) a plain line every `intervalS` seconds and at the end.
 *
 * @module
 */
import { platform } from "../platform/mod.ts";

/** Options of {@linkcode createProgress}. */
export interface ProgressOptions {
  /** `"bar"` (redrawn with `\r`), `"lines"` (periodic lines) or `"none"`; default: bar on a TTY. */
  mode?: "bar" | "lines" | "none";
  /** Receives the text (default: written to stdout). */
  write?: (text: string) => void;
  /** Seconds between lines in `"lines"` mode (default 10). */
  intervalS?: number;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Bar width in characters (default 40). */
  width?: number;
  /** What is counted (default "images"). */
  unit?: string;
}

/** Updates the progress with the number done; `end()` finishes the display. */
export interface Progress {
  /** Reports `done` of the total. */
  update(done: number): void;
  /** Ends the display (a newline after the bar; the final line in lines mode). */
  end(): void;
}

function fmtS(s: number): string {
  return `${Math.round(s)}s`;
}

/** A progress display over `total` items. */
export function createProgress(total: number, opts: ProgressOptions = {}): Progress {
  const mode = opts.mode ?? (platform().stdoutIsTerminal() ? "bar" : "lines");
  const write = opts.write ?? ((t: string) => platform().writeStdout(t));
  const now = opts.now ?? (() => performance.now());
  const interval = (opts.intervalS ?? 10) * 1000;
  const width = opts.width ?? 40;
  const unit = opts.unit ?? "images";
  const t0 = now();
  let lastLine = t0;
  let last = 0;
  let ended = false;
  const stats = (done: number) => {
    const el = (now() - t0) / 1000;
    const rate = el > 0 ? done / el : 0;
    const eta = rate > 0 ? (total - done) / rate : 0;
    return { el, rate, eta };
  };
  if (mode === "bar") write(`[${" ".repeat(width)}] 0/${total}, elapsed: 0s, ETA:`);
  return {
    update(done: number) {
      last = done;
      if (mode === "none" || ended) return;
      const { el, rate, eta } = stats(done);
      if (mode === "bar") {
        const n = total > 0 ? Math.min(width, Math.floor((width * done) / total)) : width;
        write(
          `\r[${">".repeat(n)}${" ".repeat(width - n)}] ${done}/${total}, ${
            rate.toFixed(1)
          } task/s, elapsed: ${fmtS(el)}, ETA: ${fmtS(eta).padStart(5)}`,
        );
        return;
      }
      if (now() - lastLine >= interval && done < total) {
        lastLine = now();
        write(
          `[test] ${done}/${total} ${unit}, ${rate.toFixed(2)} ${unit}/s, elapsed ${
            fmtS(el)
          }, ETA ${fmtS(eta)}\n`,
        );
      }
    },
    end() {
      if (ended || mode === "none") return;
      ended = true;
      const { el, rate } = stats(last);
      if (mode === "bar") write("\n");
      else {
        write(
          `[test] ${last}/${total} ${unit} done, ${rate.toFixed(2)} ${unit}/s, elapsed ${
            fmtS(el)
          }\n`,
        );
      }
    },
  };
}
