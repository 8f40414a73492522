/**
 * `TextLoggerHook` (mmcv `logger/text.py`): prints mmcv's log lines through the runner's logger
 * (`Epoch [1][50/7330]\tlr: 1.000e-02, eta: 1 day, 5:48:10, time: 0.192, data_time: 0.009,
 * memory: 3483, loss_cls: 1.1372, loss_bbox: 0.5745, loss: 1.7117`; `Epoch(val) [3][200]\tbbox_mAP:
 * 0.0930, ...`) and appends one JSON object per record to `{work_dir}/{timestamp}.log.json`, whose
 * first line is `runner.meta`; floats there are rounded to 5 decimals.
 *
 * @module
 */
import type { Runner } from "../../hook.ts";
import { join } from "../../../utils/path.ts";
import { formatExp } from "../../lr.ts";
import { HOOKS } from "../../registry.ts";
import { LoggerHook, type LoggerHookCfg } from "./base.ts";
import { platform } from "../../../platform/mod.ts";

/** A log record: `mode`, `epoch`, `iter`, `lr`, `memory`, then the buffer's output in order. */
export type LogRecord = Record<string, number | string | unknown>;

const SKIP = new Set(["mode", "Epoch", "iter", "lr", "time", "data_time", "memory", "epoch"]);

/** Python's `str(timedelta(seconds=s))` for whole seconds: `5:48:10`, `1 day, 5:48:10`. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86400);
  const rest = s % 86400;
  const hms =
    `${Math.floor(rest / 3600)}:${String(Math.floor((rest % 3600) / 60)).padStart(2, "0")}:` +
    String(rest % 60).padStart(2, "0");
  return days > 0 ? `${days} day${days === 1 ? "" : "s"}, ${hms}` : hms;
}

/** Rounds every float in a record to 5 decimals (recursively), as mmcv's JSON log does. */
export function roundFloats(v: unknown): unknown {
  if (typeof v === "number") {
    return Number.isInteger(v) || !Number.isFinite(v) ? v : Math.round(v * 1e5) / 1e5;
  }
  if (Array.isArray(v)) return v.map(roundFloats);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, roundFloats(x)]),
    );
  }
  return v;
}

/** Formats a record as mmcv's text line (the part after the logger prefix). */
export function formatLogLine(
  rec: LogRecord,
  ctx: { byEpoch: boolean; loaderLength?: number; maxIters?: number; eta?: string },
): string {
  let line: string;
  if (rec.mode === "train") {
    const lr = typeof rec.lr === "number" ? `lr: ${formatExp(rec.lr)}` : "lr: n/a";
    line = ctx.byEpoch
      ? `Epoch [${rec.epoch}][${rec.iter}/${ctx.loaderLength}]\t`
      : `Iter [${rec.iter}/${ctx.maxIters}]\t`;
    line += `${lr}, `;
    if (typeof rec.time === "number") {
      if (ctx.eta !== undefined) line += `eta: ${ctx.eta}, `;
      line += `time: ${rec.time.toFixed(3)}, data_time: ${Number(rec.data_time).toFixed(3)}, `;
      if (rec.memory !== undefined) line += `memory: ${rec.memory}, `;
    }
  } else {
    line = ctx.byEpoch
      ? `Epoch(${rec.mode}) [${rec.epoch}][${rec.iter}]\t`
      : `Iter(${rec.mode}) [${rec.iter}]\t`;
  }
  const items: string[] = [];
  for (const [name, val] of Object.entries(rec)) {
    if (SKIP.has(name)) continue;
    items.push(`${name}: ${typeof val === "number" ? val.toFixed(4) : String(val)}`);
  }
  return line + items.join(", ");
}

/** Text + JSON logging with mmcv's formats. */
export class TextLoggerHook extends LoggerHook {
  /** Path of the `.log.json` file (set in `beforeRun` when the runner has a work dir). */
  jsonLogPath: string | undefined;
  /** Print the experiment name (`meta.exp_name`) every this many iterations and at epoch ends. */
  readonly intervalExpName: number;
  #timeSecTot = 0;
  #startIter = 0;

  /** Reads the logger options and `interval_exp_name` (default 1000). */
  constructor(cfg: LoggerHookCfg & { interval_exp_name?: number } = {}) {
    super(cfg);
    this.intervalExpName = cfg.interval_exp_name ?? 1000;
  }

  /**
   * Sets up `{timestamp}.log.json` and `{timestamp}.log` in the work dir and writes the run meta as
   * the first JSON record.
   */
  override beforeRun(runner: Runner): void {
    super.beforeRun(runner);
    this.#startIter = runner.iter;
    if (runner.workDir) {
      const stamp = runner.timestamp ?? "run";
      this.jsonLogPath = join(runner.workDir, `${stamp}.log.json`);
      runner.logger.logFile ??= join(runner.workDir, `${stamp}.log`);
      if (runner.meta && Object.keys(runner.meta).length > 0) this.#dump(runner.meta);
    }
  }

  /** Writes the current output as a text line (with lr, memory and ETA) and a JSON record. */
  log(runner: Runner): void {
    const out = runner.logBuffer.output;
    let iter: number;
    if ("eval_iter_num" in out) {
      iter = Number(out.eval_iter_num);
      delete out.eval_iter_num;
    } else {
      iter = this.getIter(runner, true);
    }
    const rec: LogRecord = { mode: this.getMode(runner), epoch: this.getEpoch(runner), iter };
    const lrs = runner.currentLr();
    if (lrs.length > 0) rec.lr = lrs[0];
    if (rec.mode === "train" && runner.memoryMb) rec.memory = Math.round(runner.memoryMb());
    Object.assign(rec, out);
    this.#logInfo(rec, runner);
    this.#dump(rec);
  }

  #logInfo(rec: LogRecord, runner: Runner): void {
    const meta = runner.meta as { exp_name?: string };
    if (
      meta.exp_name && (this.everyNIters(runner, this.intervalExpName) || this.endOfEpoch(runner))
    ) {
      runner.logger.info(`Exp name: ${meta.exp_name}`);
    }
    let eta: string | undefined;
    if (rec.mode === "train" && typeof rec.time === "number") {
      this.#timeSecTot += rec.time * this.interval;
      const avg = this.#timeSecTot / (runner.iter - this.#startIter + 1);
      eta = formatEta(avg * ((runner.maxIters ?? runner.iter + 1) - runner.iter - 1));
    }
    runner.logger.info(formatLogLine(rec, {
      byEpoch: this.byEpoch,
      loaderLength: runner.dataLoader?.length,
      maxIters: runner.maxIters,
      eta,
    }));
  }

  #dump(rec: Record<string, unknown>): void {
    if (!this.jsonLogPath) return;
    platform().writeTextFileSync(this.jsonLogPath, JSON.stringify(roundFloats(rec)) + "\n", {
      append: true,
    });
  }
}

HOOKS.register("TextLoggerHook", TextLoggerHook);
