/**
 * `TensorboardLoggerHook` (mmcv): writes the logged scalars to a TensorBoard event file in
 * `log_dir` (default `{work_dir}/tf_logs`), tagged as mmcv does: `{mode}/{name}` for the log
 * buffer's values (not `time`/`data_time`), `learning_rate` and `momentum`, at step `iter + 1`.
 * `tensorboard --logdir work_dirs/x/tf_logs` shows them. Text values (mmcv's `add_text`) are not
 * written: TensorBoard's text plugin needs tensor summaries; they stay in the text log.
 *
 * @module
 */
import { join } from "../../../utils/path.ts";
import type { Runner } from "../../hook.ts";
import { HOOKS } from "../../registry.ts";
import { LoggerHook, type LoggerHookCfg } from "./base.ts";
import { EventFileWriter } from "../../../utils/tfevents.ts";

/** Options of {@linkcode TensorboardLoggerHook}. */
export interface TensorboardLoggerHookCfg extends LoggerHookCfg {
  /** Folder of the event file (default `{work_dir}/tf_logs`). */
  log_dir?: string | null;
}

/** Logs scalars to a TensorBoard event file. */
export class TensorboardLoggerHook extends LoggerHook {
  /** The configured folder (null: `{work_dir}/tf_logs`). */
  readonly logDir: string | null;
  #writer: EventFileWriter | undefined;

  /** Reads `log_dir` and the logger options. */
  constructor(cfg: TensorboardLoggerHookCfg = {}) {
    super(cfg);
    this.logDir = cfg.log_dir ?? null;
  }

  /** The event file being written (after `beforeRun`). */
  get path(): string | undefined {
    return this.#writer?.path;
  }

  /** Opens the event file (on rank 0: the other ranks have no work dir). */
  override beforeRun(runner: Runner): void {
    super.beforeRun(runner);
    const dir = this.logDir ?? (runner.workDir ? join(runner.workDir, "tf_logs") : null);
    if (!dir) return;
    this.#writer = new EventFileWriter(dir);
  }

  /** Writes the scalars of the current output. */
  log(runner: Runner): void {
    if (!this.#writer) return;
    const mode = this.getMode(runner);
    const scalars: [string, number][] = [];
    for (const [k, v] of Object.entries(runner.logBuffer.output)) {
      if (k === "time" || k === "data_time") continue;
      if (typeof v === "number" && Number.isFinite(v)) scalars.push([`${mode}/${k}`, v]);
    }
    const lrs = runner.currentLr();
    if (lrs.length) scalars.push(["learning_rate", lrs[0]]);
    const ms = runner.currentMomentum();
    if (ms.length) scalars.push(["momentum", ms[0]]);
    this.#writer.addScalars(this.getIter(runner), scalars);
  }

  /** Closes the event file. */
  override afterRun(_runner: Runner): void {
    this.#writer?.close();
    this.#writer = undefined;
  }
}

HOOKS.register("TensorboardLoggerHook", TensorboardLoggerHook);
