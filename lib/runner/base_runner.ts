/**
 * mmcv's `BaseRunner`: counters, the hook list sorted by priority, `callHook`, checkpoint resume,
 * and `registerTrainingHooks`. The loops live in `EpochBasedRunner` and `IterBasedRunner`.
 *
 * @module
 */
import { NonFiniteLossError } from "../utils/errors.ts";
import { join } from "../utils/path.ts";
import { type Checkpoint, loadCheckpoint, saveCheckpoint, updateLatest } from "./checkpoint.ts";
import { remapTorchOptimizer } from "./pth_checkpoint.ts";
import {
  Hook,
  HOOK_STAGES,
  type HookStage,
  type Runner,
  type SaveCheckpointCall,
  stageMethod,
} from "./hook.ts";
import { LogBuffer } from "./log_buffer.ts";
import { RunnerLogger } from "./logger.ts";
import { getPriority, priorityName } from "./priority.ts";
import { HOOKS } from "./registry.ts";
import type { Optimizer, RunnerDataLoader, RunnerModel, TrainStepOutput } from "./types.ts";
import "./hooks/mod.ts";
import { cfgPathOf, checkInt, setCfgPath } from "../utils/cfg_rules.ts";

export type { SaveCheckpointCall } from "./hook.ts";
import { platform } from "../platform/mod.ts";

/** Constructor config of a runner (`cfg.runner` plus what `train_detector` passes). */
export interface RunnerCfg {
  /** `EpochBasedRunner` or `IterBasedRunner` (used by `RUNNERS.build`). */
  type?: string;
  /** The detector (see `RunnerModel`). */
  model: RunnerModel;
  /** The optimizer; required by `OptimizerHook` and the LR hooks. */
  optimizer?: Optimizer;
  /** Folder for logs and checkpoints (created if missing). */
  work_dir?: string;
  /** Where log lines go (default: the console only). */
  logger?: RunnerLogger;
  /** Stored in every checkpoint and as the first line of the JSON log (config text, seed, ...). */
  meta?: Record<string, unknown>;
  /** Epochs to train (`EpochBasedRunner`). */
  max_epochs?: number;
  /** Iterations to train (`IterBasedRunner`). */
  max_iters?: number;
  /** Peak GPU memory in MB for the log line (mmcv's `torch.cuda.max_memory_allocated`). */
  memory_mb?: () => number;
}

/** A `[mode, count]` workflow entry, e.g. `["train", 1]`. */
export type WorkflowEntry = readonly [string, number];

/** A hook given as an instance or as a config for the `HOOKS` registry. */
export type HookSpec = Hook | { type: string; [key: string]: unknown };

/** Options of `registerTrainingHooks` (the config's keys). */
export interface TrainingHooksCfg {
  /** `cfg.lr_config` (`policy` picks the hook), or a hook. */
  lr_config?: Record<string, unknown> | Hook | null;
  /** `cfg.optimizer_config` (`grad_clip`), or a hook. */
  optimizer_config?: Record<string, unknown> | Hook | null;
  /** `cfg.checkpoint_config`, or a hook. */
  checkpoint_config?: Record<string, unknown> | Hook | null;
  /** `cfg.log_config`: the interval and the logger hooks. */
  log_config?: { interval?: number; hooks?: HookSpec[] } | null;
  /** `cfg.momentum_config` (`policy` picks the hook), or a hook. */
  momentum_config?: Record<string, unknown> | Hook | null;
  /** The timer hook (default `IterTimerHook`; null for none). */
  timer_config?: HookSpec | null;
  /** `cfg.custom_hooks`, each with an optional `priority`. */
  custom_hooks_config?: (HookSpec & { priority?: number | string })[] | null;
  /** Register a `CheckInvalidLossHook` at the log interval unless one is configured (default true). */
  check_invalid_loss?: boolean;
  /** Show a progress bar (default: when stdout is a terminal). */
  progress_bar?: boolean;
}

/** mmcv's `str.title()` for the LR policy name: `"step"` → `"Step"`. */
function title(s: string): string {
  return s.replace(/[A-Za-z]+/g, (w) => w[0].toUpperCase() + w.slice(1).toLowerCase());
}

/** Base class of the epoch- and iteration-based runners. */
export abstract class BaseRunner implements Runner {
  /** The model being trained. */
  model: RunnerModel;
  /** Its optimizer. */
  optimizer: Optimizer | undefined;
  /** Folder for logs and checkpoints. */
  workDir: string | undefined;
  /** Where log lines go. */
  logger: RunnerLogger;
  /** Saved in checkpoints and as the JSON log's first line; `hook_msgs` lives here. */
  meta: Record<string, unknown>;
  /** `YYYYMMDD_HHMMSS`; names the `.log` and `.log.json` files. Set by the caller (mmdet does). */
  timestamp: string | undefined;
  /** `"train"` or `"val"` while a phase runs. */
  mode: string | undefined;
  /** Completed epochs (0-based index of the running epoch). */
  epoch = 0;
  /** Global iteration (0-based during an iteration). */
  iter = 0;
  /** Iteration within the epoch. */
  innerIter = 0;
  /** Epochs to train. */
  maxEpochs: number | undefined;
  /** Iterations to train (computed from the loader for epoch-based runs). */
  maxIters: number | undefined;
  /** The loader of the running phase. */
  dataLoader: RunnerDataLoader | undefined;
  /** The batch of the running iteration. */
  dataBatch: unknown;
  /** What the last `trainStep`/`valStep` returned. */
  outputs: TrainStepOutput | undefined;
  /** Logged values of the current epoch. */
  readonly logBuffer: LogBuffer = new LogBuffer();
  /** Peak GPU memory in MB, when the GPU runtime provides it. */
  memoryMb: (() => number) | undefined;
  #hooks: Hook[] = [];

  /**
   * Takes the model, optimizer, work dir (created if missing), logger, meta and one of
   * `max_epochs`/`max_iters`; throws `RangeError` if both are set and `TypeError` for a model
   * without `trainStep`.
   */
  constructor(cfg: RunnerCfg) {
    if (cfg.max_epochs != null && cfg.max_iters != null) {
      throw new RangeError(
        "Cannot set both max_epochs and max_iters in the runner config: keep one",
      );
    }
    if (!cfg.model || typeof cfg.model.trainStep !== "function") {
      throw new TypeError(
        "Cannot build a runner: model must have a trainStep(data, optimizer) method",
      );
    }
    this.model = cfg.model;
    this.optimizer = cfg.optimizer;
    this.workDir = cfg.work_dir;
    if (this.workDir) platform().mkdirSync(this.workDir, { recursive: true });
    this.logger = cfg.logger ?? new RunnerLogger();
    this.meta = cfg.meta ?? {};
    this.maxEpochs = cfg.max_epochs == null
      ? undefined
      : checkInt(cfg.max_epochs, "runner.max_epochs");
    this.maxIters = cfg.max_iters == null ? undefined : checkInt(cfg.max_iters, "runner.max_iters");
    this.memoryMb = cfg.memory_mb;
  }

  /** The registered hooks in call order. */
  get hooks(): readonly Hook[] {
    return this.#hooks;
  }

  /** Runs the workflow, e.g. `[["train", 1], ["val", 1]]`, with one loader per entry. */
  abstract run(dataLoaders: RunnerDataLoader[], workflow: readonly WorkflowEntry[]): Promise<void>;
  /** Saves a checkpoint into `outDir` (see the subclasses for names and meta). */
  abstract saveCheckpoint(outDir: string, opts?: SaveCheckpointCall): Promise<string>;

  /**
   * Inserts `hook` after every hook whose priority is ≤ its own (stable order for equal
   * priorities), as mmcv's `register_hook`.
   */
  registerHook(hook: Hook, priority: number | string = "NORMAL"): void {
    if (!(hook instanceof Hook)) {
      throw new TypeError(`Cannot register hook: expected a Hook instance, got ${hook}`);
    }
    hook.priority = getPriority(priority);
    let i = this.#hooks.length;
    while (i > 0 && this.#hooks[i - 1].priority > hook.priority) i--;
    this.#hooks.splice(i, 0, hook);
  }

  /** Builds a hook from `HOOKS` (or takes an instance) and registers it. */
  registerHookFromCfg(spec: HookSpec, priority?: number | string): Hook {
    let hook: Hook;
    let prio = priority;
    if (spec instanceof Hook) hook = spec;
    else {
      const { priority: p, ...cfg } = spec as { priority?: number | string; type: string };
      prio ??= p;
      hook = HOOKS.build(cfg);
    }
    this.registerHook(hook, prio ?? "NORMAL");
    return hook;
  }

  /** Calls `stage` on every hook in order, awaiting each. */
  async callHook(stage: HookStage): Promise<void> {
    const method = stageMethod(stage);
    for (const hook of this.#hooks) await hook[method](this);
  }

  /** The hook order per stage, as mmcv ≥ 1.3.8 logs it at the start of `run`. */
  getHookInfo(): string {
    const lines: string[] = [];
    for (const stage of HOOK_STAGES) {
      const names = this.#hooks.filter((h) => h.getTriggeredStages().includes(stage))
        .map((h) => `(${priorityName(h.priority).padEnd(12)}) ${h.constructor.name}`);
      if (names.length === 0) continue;
      lines.push(`${stage}:`, ...names, " -------------------- ");
    }
    return lines.join("\n");
  }

  /** The lr of every param group (empty without an optimizer). */
  currentLr(): number[] {
    return this.optimizer?.paramGroups.map((g) => g.lr) ?? [];
  }

  /** The momentum of every param group (`betas[0]` for Adam-style groups). */
  currentMomentum(): number[] {
    return this.optimizer?.paramGroups.map((g) =>
      g.momentum ?? (Array.isArray(g.betas) ? Number(g.betas[0]) : 0)
    ) ?? [];
  }

  /**
   * Resolves the log buffer's pending scalars (one readback) and throws when a loss was NaN or
   * infinite, naming the first bad iteration, its values and the last good checkpoint.
   *
   * @throws {NonFiniteLossError}
   */
  async assertFiniteLosses(): Promise<void> {
    await this.logBuffer.resolve();
    const bad = this.logBuffer.nonFinite.filter((r) =>
      r.key.includes("loss") || r.key === "grad_norm"
    );
    if (bad.length === 0) return;
    const first = bad[0].iter;
    const at = bad.filter((r) => r.iter === first).map((r) => `${r.key} = ${r.value}`).join(", ");
    const where = first === undefined ? "" : ` at iteration ${first + 1}`;
    const last = (this.meta.hook_msgs as Record<string, unknown> | undefined)?.last_ckpt;
    throw new NonFiniteLossError(
      `Loss is not finite${where} (epoch ${this.epoch + 1}): ${at}: training stopped; ` +
        (last ? `the last good checkpoint is "${last}"` : "no checkpoint was saved yet") +
        `; lower optimizer.lr or set optimizer_config.grad_clip`,
    );
  }

  /** Loads weights from a checkpoint into the model (mmcv `load_checkpoint`, strict false). */
  async loadCheckpoint(path: string, opts: { strict?: boolean } = {}): Promise<Checkpoint> {
    this.logger.info(`load checkpoint from local path: ${path}`);
    const ckpt = await loadCheckpoint(path, { optimizer: false });
    await this.model.loadStateDict(ckpt.stateDict, opts.strict ?? false);
    return ckpt;
  }

  /**
   * Resumes training: weights, optimizer state (with `initial_lr`), epoch/iter counters and
   * `hook_msgs` from a complete checkpoint.
   */
  async resume(
    path: string,
    opts: { resumeOptimizer?: boolean; allowNonFinite?: boolean } = {},
  ): Promise<void> {
    this.logger.info(`resume from: ${path}`);
    const ckpt = await loadCheckpoint(path, {
      requireMeta: true,
      allowNonFinite: opts.allowNonFinite,
    });
    await this.model.loadStateDict(ckpt.stateDict, false);
    this.epoch = Number(ckpt.meta.epoch ?? 0);
    this.iter = Number(ckpt.meta.iter ?? 0);
    const msgs = (this.meta.hook_msgs ??= {}) as Record<string, unknown>;
    Object.assign(msgs, ckpt.meta.hook_msgs ?? {});
    // a PyTorch .pth checkpoint's optimizer state is keyed by parameter index: name it
    const torchOpt = (ckpt as { torchOptimizer?: Checkpoint["optimizer"] }).torchOptimizer;
    if (torchOpt && this.optimizer && (opts.resumeOptimizer ?? true)) {
      const entries =
        (this.optimizer as { entries?: { name: string; param: { shape: number[] } }[] })
          .entries;
      if (!entries) {
        throw new TypeError(
          `Cannot resume the optimizer from "${path}": this optimizer does not list its parameters`,
        );
      }
      ckpt.optimizer = remapTorchOptimizer(
        torchOpt,
        entries.map((e) => e.name),
        entries.map((e) => [...e.param.shape]),
        path,
      );
    }
    if (ckpt.optimizer && (opts.resumeOptimizer ?? true)) {
      if (!this.optimizer) {
        throw new TypeError(
          `Cannot resume optimizer state from "${path}": the runner has no optimizer`,
        );
      }
      await this.optimizer.loadStateDict(ckpt.optimizer);
    }
    this.logger.info(`resumed epoch ${this.epoch}, iter ${this.iter}`);
  }

  /**
   * Registers the default training hooks from the config, as mmcv's `register_training_hooks`:
   *
   * | config key | hook | priority |
   * | --- | --- | --- |
   * | `lr_config` (`policy: "step"` → `StepLrUpdaterHook`) | `${Policy}LrUpdaterHook` | VERY_HIGH (10) |
   * | `momentum_config` | `${Policy}MomentumUpdaterHook` | HIGH (30) |
   * | `optimizer_config` | `OptimizerHook` (default type) | ABOVE_NORMAL (40) |
   * | (wgdet) log interval | `CheckInvalidLossHook` unless configured | ABOVE_NORMAL (40) |
   * | `checkpoint_config` | `CheckpointHook` (default type) | NORMAL (50) |
   * | `timer_config` | `IterTimerHook` | LOW (70) |
   * | (wgdet) interactive terminal | `ProgressBarHook` | LOW (70) |
   * | `log_config.hooks` | e.g. `TextLoggerHook`, with `interval` | VERY_LOW (90) |
   * | `custom_hooks_config` | each `{type, priority}` | given, else NORMAL (50) |
   *
   * mmdetection adds `EvalHook` (NORMAL in 2.11, LOW in 2.2x) itself; so does wgdet's train API.
   */
  registerTrainingHooks(cfg: TrainingHooksCfg): void {
    const asSpec = (c: unknown, defaultType?: string): HookSpec | null => {
      if (c === null || c === undefined) return null;
      if (c instanceof Hook) return c;
      const d = { ...(c as Record<string, unknown>) };
      const path = cfgPathOf(c);
      if (path) setCfgPath(d, path);
      if (defaultType && d.type === undefined) d.type = defaultType;
      return d as HookSpec;
    };
    // 1. lr and momentum updaters: type from `policy`
    for (
      const [key, suffix, prio] of [["lr_config", "LrUpdaterHook", "VERY_HIGH"], [
        "momentum_config",
        "MomentumUpdaterHook",
        "HIGH",
      ]] as const
    ) {
      const c = cfg[key];
      if (c === null || c === undefined) continue;
      if (c instanceof Hook) {
        this.registerHook(c, prio);
        continue;
      }
      const { policy, ...rest } = c as Record<string, unknown>;
      if (typeof policy !== "string") {
        throw new TypeError(`Cannot build the ${key} hook: "${key}.policy" must be a string`);
      }
      const kind = policy === policy.toLowerCase() ? title(policy) : policy;
      const spec = { ...rest, type: `${kind}${suffix}` };
      setCfgPath(spec, key);
      this.registerHookFromCfg(spec, prio);
    }
    const opt = asSpec(cfg.optimizer_config, "OptimizerHook");
    if (opt) this.registerHookFromCfg(opt, "ABOVE_NORMAL");
    const interval = cfg.log_config?.interval ?? 50;
    const customs = cfg.custom_hooks_config ?? [];
    const hasCheck = customs.some((h) =>
      h instanceof Hook
        ? h.constructor.name === "CheckInvalidLossHook"
        : h.type === "CheckInvalidLossHook"
    );
    if ((cfg.check_invalid_loss ?? true) && !hasCheck) {
      this.registerHookFromCfg({ type: "CheckInvalidLossHook", interval }, "ABOVE_NORMAL");
    }
    const ckpt = asSpec(cfg.checkpoint_config, "CheckpointHook");
    if (ckpt) this.registerHookFromCfg(ckpt, "NORMAL");
    const timer = cfg.timer_config === undefined
      ? { type: "IterTimerHook" }
      : asSpec(cfg.timer_config);
    if (timer) this.registerHookFromCfg(timer, "LOW");
    if (cfg.progress_bar ?? platform().stdoutIsTerminal()) {
      this.registerHookFromCfg({ type: "ProgressBarHook" }, "LOW");
    }
    for (const h of cfg.log_config?.hooks ?? []) {
      const spec = h instanceof Hook ? h : { interval, ...h };
      this.registerHookFromCfg(spec, "VERY_LOW");
    }
    for (const h of customs) {
      this.registerHookFromCfg(h, h instanceof Hook ? undefined : h.priority);
    }
  }

  /**
   * Writes `{outDir}/{filename}` with the model's state dict, optionally the optimizer state, and
   * `meta` merged over `runner.meta`; moves `latest` when `createSymlink`.
   */
  protected async writeCheckpoint(
    outDir: string,
    filename: string,
    meta: Record<string, unknown>,
    opts: SaveCheckpointCall,
  ): Promise<string> {
    const path = join(outDir, filename);
    const stateDict = await this.model.stateDict();
    const optimizer = (opts.saveOptimizer ?? true) && this.optimizer
      ? await this.optimizer.stateDict()
      : undefined;
    await platform().mkdir(outDir, { recursive: true });
    await saveCheckpoint(path, {
      stateDict,
      optimizer,
      meta: { ...this.meta, ...(opts.meta ?? {}), ...meta },
    });
    if (opts.createSymlink ?? true) await updateLatest(outDir, path);
    return path;
  }

  /** Checks a step's return value and logs its `log_vars` (mmcv's `run_iter` after the call). */
  protected recordOutputs(outputs: unknown, what: string): void {
    if (outputs === null || typeof outputs !== "object" || Array.isArray(outputs)) {
      throw new TypeError(
        `"model.${what}()" must return an object with log_vars and num_samples, got ${
          String(outputs)
        }`,
      );
    }
    const out = outputs as TrainStepOutput;
    if ("log_vars" in out) this.logBuffer.update(out.log_vars, out.num_samples ?? 1, this.iter);
    this.outputs = out;
  }
}
