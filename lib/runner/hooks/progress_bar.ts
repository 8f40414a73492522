/**
 * `ProgressBarHook`: a live per-epoch progress bar on interactive terminals (cli-progress); log
 * lines are printed above the bar. Registered by `registerTrainingHooks` when stdout is a terminal.
 *
 * @module
 */
import process from "node:process";
import { cliProgress } from "../../deps.ts";
import { Hook, type Runner } from "../hook.ts";
import { HOOKS } from "../registry.ts";

/** Shows `epoch n [█████░░░] 120/400` while training. */
export class ProgressBarHook extends Hook {
  #multi: InstanceType<typeof cliProgress.MultiBar> | undefined;
  #bar: ReturnType<InstanceType<typeof cliProgress.MultiBar>["create"]> | undefined;
  #restoreSink: ((line: string) => void) | undefined;
  /** Whether the bar is drawn (stdout is a terminal, or `force`). */
  readonly enabled: boolean;

  /** `force: true` draws the bar even when stdout is not a terminal (false: never draws). */
  constructor(cfg: { force?: boolean } = {}) {
    super();
    this.enabled = cfg.force ?? Deno.stdout.isTerminal();
  }

  /** Opens the epoch's bar and routes log lines above it. */
  override beforeTrainEpoch(runner: Runner): void {
    if (!this.enabled) return;
    this.#multi = new cliProgress.MultiBar({
      format: " epoch {epoch} [{bar}] {value}/{total} | eta {eta_formatted}",
      hideCursor: true,
      clearOnComplete: true,
      stopOnComplete: false,
      stream: process.stdout, // the stream whose terminal enabled the bar
    }, cliProgress.Presets.shades_classic);
    this.#bar = this.#multi.create(runner.dataLoader?.length ?? 0, 0, { epoch: runner.epoch + 1 });
    this.#restoreSink = runner.logger.consoleSink;
    const multi = this.#multi;
    runner.logger.setConsoleSink((line) => multi.log(line + "\n"));
  }

  /** Advances the bar by one iteration. */
  override afterTrainIter(_runner: Runner): void {
    this.#bar?.increment();
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
    if (!this.#multi) return;
    this.#multi.update(); // flush lines logged since the last redraw; stop() drops them
    this.#multi.stop();
    this.#multi = undefined;
    this.#bar = undefined;
    if (this.#restoreSink) runner.logger.setConsoleSink(this.#restoreSink);
  }
}

HOOKS.register("ProgressBarHook", ProgressBarHook);
