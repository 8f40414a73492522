/**
 * `CheckpointHook`: saves a checkpoint every `interval` epochs (or iterations), keeps at most
 * `max_keep_ckpts`, and records `hook_msgs.last_ckpt` (mmcv `checkpoint.py`). Writes are atomic
 * (`lib/runner/checkpoint.ts`), and a checkpoint is never written after a non-finite loss.
 *
 * @module
 */
import { join } from "../../utils/path.ts";
import { removeCheckpoint } from "../checkpoint.ts";
import { Hook, type Runner } from "../hook.ts";
import { HOOKS } from "../registry.ts";
import { checkInt } from "../../utils/cfg_rules.ts";
import { platform } from "../../platform/mod.ts";

/** `checkpoint_config` keys. */
export interface CheckpointHookCfg {
  /** Save every `interval` epochs/iterations (−1: only the last with `save_last`). */
  interval?: number;
  /** Count `interval` in epochs (true, default) or iterations. */
  by_epoch?: boolean;
  /** Store the optimizer state in the checkpoint (default true). */
  save_optimizer?: boolean;
  /** Folder for the files (default: the runner's work dir). */
  out_dir?: string | null;
  /** Keep only the newest n checkpoints (−1: all). */
  max_keep_ckpts?: number;
  /** Also save after the last epoch/iteration when it is not a multiple of `interval`. */
  save_last?: boolean;
  /** Extra meta for every checkpoint, e.g. `{CLASSES}` (mmdet adds its version and classes). */
  meta?: Record<string, unknown>;
  /** File name template with `{}` (default `epoch_{}.safetensors` / `iter_{}.safetensors`). */
  filename_tmpl?: string;
}

/** Periodic, atomic checkpoints. */
export class CheckpointHook extends Hook {
  /** Save period in epochs or iterations (−1: only the last, with `saveLast`). */
  readonly interval: number;
  /** Whether `interval` counts epochs (else iterations). */
  readonly byEpoch: boolean;
  /** Whether the optimizer state is saved. */
  readonly saveOptimizer: boolean;
  /** Output folder; the runner's work dir when unset at `beforeRun`. */
  outDir: string | undefined;
  /** Newest checkpoints kept (−1: all). */
  readonly maxKeepCkpts: number;
  /** Whether the last epoch/iteration is always saved. */
  readonly saveLast: boolean;
  /** Extra meta stored in every checkpoint. */
  readonly meta: Record<string, unknown>;
  /** File name template with `{}`, or undefined for the runner's default. */
  readonly filenameTmpl: string | undefined;

  /** Reads `checkpoint_config` with mmcv's defaults. */
  constructor(cfg: CheckpointHookCfg = {}) {
    super();
    this.interval = cfg.interval ?? -1;
    if (this.interval !== -1) checkInt(this.interval, "checkpoint_config.interval (or -1)", 1);
    if (cfg.max_keep_ckpts != null && cfg.max_keep_ckpts !== -1) {
      checkInt(cfg.max_keep_ckpts, "checkpoint_config.max_keep_ckpts (or -1)", 1);
    }
    this.byEpoch = cfg.by_epoch ?? true;
    this.saveOptimizer = cfg.save_optimizer ?? true;
    this.outDir = cfg.out_dir ?? undefined;
    this.maxKeepCkpts = cfg.max_keep_ckpts ?? -1;
    this.saveLast = cfg.save_last ?? true;
    this.meta = cfg.meta ?? {};
    this.filenameTmpl = cfg.filename_tmpl;
  }

  /** Resolves the output folder (throws `TypeError` when there is none) and logs it. */
  override beforeRun(runner: Runner): void {
    this.outDir ??= runner.workDir;
    if (!this.outDir) {
      throw new TypeError("CheckpointHook: set a work_dir or checkpoint_config.out_dir");
    }
    runner.logger.info(`Checkpoints will be saved to ${this.outDir}`);
  }

  /** By epoch: saves when due or at the last epoch (with `saveLast`). */
  override async afterTrainEpoch(runner: Runner): Promise<void> {
    if (!this.byEpoch) return;
    if (this.everyNEpochs(runner, this.interval) || (this.saveLast && this.isLastEpoch(runner))) {
      runner.logger.info(`Saving checkpoint at ${runner.epoch + 1} epochs`);
      await this.#save(runner);
    }
  }

  /** By iteration: saves when due or at the last iteration (with `saveLast`). */
  override async afterTrainIter(runner: Runner): Promise<void> {
    if (this.byEpoch) return;
    if (this.everyNIters(runner, this.interval) || (this.saveLast && this.isLastIter(runner))) {
      runner.logger.info(`Saving checkpoint at ${runner.iter + 1} iterations`);
      await this.#save(runner);
    }
  }

  async #save(runner: Runner): Promise<void> {
    await runner.assertFiniteLosses();
    const tmpl = this.filenameTmpl ??
      (this.byEpoch ? "epoch_{}.safetensors" : "iter_{}.safetensors");
    const path = await runner.saveCheckpoint(this.outDir!, {
      filenameTmpl: tmpl,
      saveOptimizer: this.saveOptimizer,
      meta: this.meta,
    });
    const msgs = (runner.meta.hook_msgs ??= {}) as Record<string, unknown>;
    msgs.last_ckpt = path;
    if (this.maxKeepCkpts > 0) await this.#removeOld(runner, tmpl);
  }

  /**
   * Keeps the newest `max_keep_ckpts` checkpoints up to the current one. (mmcv walks back from the
   * current number in steps of `interval` and stops at the first gap, which keeps one extra file
   * after a `save_last` checkpoint; listing the folder does not.)
   */
  async #removeOld(runner: Runner, tmpl: string): Promise<void> {
    if (!tmpl.includes("{}")) return;
    const current = this.byEpoch ? runner.epoch + 1 : runner.iter + 1;
    const [pre, post] = tmpl.split("{}");
    const numbers: number[] = [];
    for await (const e of platform().readDir(this.outDir!)) {
      if (!e.isFile || !e.name.startsWith(pre) || !e.name.endsWith(post)) continue;
      const mid = e.name.slice(pre.length, e.name.length - post.length);
      if (/^\d+$/.test(mid) && Number(mid) <= current) numbers.push(Number(mid));
    }
    numbers.sort((a, b) => b - a);
    for (const n of numbers.slice(this.maxKeepCkpts)) {
      await removeCheckpoint(join(this.outDir!, tmpl.replace("{}", String(n))));
    }
  }
}

HOOKS.register("CheckpointHook", CheckpointHook);
