/**
 * `ProgressBarHook`: a live per-epoch progress bar on interactive terminals; log lines are
 * printed above the bar. Registered by `registerTrainingHooks` when stdout is a terminal. Drawn
 * with plain ANSI line rewrites through the platform's stdout (no dependency, so the runner also
 * bundles for browsers, where stdout is never a terminal).
 *
 * @module
 */
import { platform } from "../../platform/mod.ts";
import { Hook, type Runner } from "../hook.ts";
import { HOOKS } from "../registry.ts";

const WIDTH = 40;

function fmtEta(s: number): string {
  if (!Number.isFinite(s)) return "NULL";
  s = Math.round(s);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

/** Shows `epoch n [█████░░░] 120/400 | eta 12s` while training. */
export class ProgressBarHook extends Hook {
  #open = false;
  #epoch = 0;
  #value = 0;
  #total = 0;
  #start = 0;
  #restoreSink: ((line: string) => void) | undefined;
  /** Whether the bar is drawn (stdout is a terminal, or `force`). */
  readonly enabled: boolean;

  /** `force: true` draws the bar even when stdout is not a terminal (false: never draws). */
  constructor(cfg: { force?: boolean } = {}) {
    super();
    this.enabled = cfg.force ?? platform().stdoutIsTerminal();
  }

  #line(): string {
    const frac = this.#total > 0 ? Math.min(1, this.#value / this.#total) : 0;
    const full = Math.round(frac * WIDTH);
    const el = (performance.now() - this.#start) / 1000;
    const eta = this.#value > 0 ? el / this.#value * (this.#total - this.#value) : Infinity;
    return ` epoch ${this.#epoch} [${"\u2588".repeat(full)}${"\u2591".repeat(WIDTH - full)}] ` +
      `${this.#value}/${this.#total} | eta ${fmtEta(eta)}`;
  }

  #draw(): void {
    platform().writeStdout(`\r\x1b[2K${this.#line()}`);
  }

  /** Opens the epoch's bar and routes log lines above it. */
  override beforeTrainEpoch(runner: Runner): void {
    if (!this.enabled) return;
    this.#open = true;
    this.#epoch = runner.epoch + 1;
    this.#value = 0;
    this.#total = runner.dataLoader?.length ?? 0;
    this.#start = performance.now();
    this.#restoreSink = runner.logger.consoleSink;
    runner.logger.setConsoleSink((line) => {
      platform().writeStdout(`\r\x1b[2K${line}\n`);
      this.#draw();
    });
    platform().writeStdout("\x1b[?25l"); // hide the cursor while the bar is up
    this.#draw();
  }

  /** Advances the bar by one iteration. */
  override afterTrainIter(_runner: Runner): void {
    if (!this.#open) return;
    this.#value++;
    this.#draw();
  }

  /** Closes the bar and restores the console sink. */
  override afterTrainEpoch(runner: Runner): void {
    this.#close(runner);
  }

  /** Closes the bar if still open and restores the console sink. */
  override afterRun(runner: Runner): void {
    this.#close(runner);
  }

  #close(runner: Runner): void {
    if (!this.#open) return;
    this.#open = false;
    platform().writeStdout("\r\x1b[2K\x1b[?25h"); // clear the bar, show the cursor
    if (this.#restoreSink) runner.logger.setConsoleSink(this.#restoreSink);
  }
}

HOOKS.register("ProgressBarHook", ProgressBarHook);
