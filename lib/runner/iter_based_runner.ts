/**
 * mmcv's `IterBasedRunner`: the workflow counts iterations; loaders restart (and `epoch` counts up)
 * when exhausted.
 *
 * @module
 */
import {
  BaseRunner,
  type RunnerCfg,
  type SaveCheckpointCall,
  type WorkflowEntry,
} from "./base_runner.ts";
import { checkWorkflow, iterateLoader } from "./epoch_based_runner.ts";
import { RUNNERS } from "./registry.ts";
import type { RunnerDataLoader } from "./types.ts";
import { platform } from "../platform/mod.ts";

/** Wraps a loader as an endless stream of batches; `epoch` counts completed passes. */
export class IterLoader<T = unknown> implements RunnerDataLoader<T> {
  /** The wrapped loader. */
  readonly loader: RunnerDataLoader<T>;
  /** Completed passes over the loader. */
  epoch = 0;
  #it: AsyncGenerator<T> | undefined;

  /** Wraps `loader`; iteration starts on the first `next()`. */
  constructor(loader: RunnerDataLoader<T>) {
    this.loader = loader;
  }

  get length(): number {
    return this.loader.length;
  }

  get dataset(): RunnerDataLoader["dataset"] {
    return this.loader.dataset;
  }

  /** The next batch, restarting the loader (and counting an epoch) when it is exhausted. */
  async next(): Promise<T> {
    this.#it ??= iterateLoader(this.loader);
    let r = await this.#it.next();
    if (r.done) {
      this.epoch++;
      this.#it = iterateLoader(this.loader);
      r = await this.#it.next();
      if (r.done) throw new RangeError("Cannot draw a batch: the data loader is empty");
    }
    return r.value;
  }
}

/**
 * Iteration-based training: `run(loaders, [["train", n], ["val", m]])` alternates n train and m val
 * iterations until `maxIters`.
 */
export class IterBasedRunner extends BaseRunner {
  /** Creates the runner from `cfg`; `max_iters` is required by `run`. */
  constructor(cfg: RunnerCfg) {
    super(cfg);
  }

  /**
   * Alternates the workflow's phases (n train, m val iterations) until `maxIters`; throws
   * `RangeError` without `max_iters` or for a workflow that does not match the loaders.
   */
  override async run(
    dataLoaders: RunnerDataLoader[],
    workflow: readonly WorkflowEntry[],
  ): Promise<void> {
    if (this.maxIters === undefined) {
      throw new RangeError("Cannot run an IterBasedRunner without max_iters");
    }
    checkWorkflow(dataLoaders, workflow);
    this.logger.info(
      `Start running, host: ${platform().hostname()}, work_dir: ${this.workDir ?? "(none)"}`,
    );
    this.logger.info(`Hooks will be executed in the following order:\n${this.getHookInfo()}`);
    this.logger.info(`workflow: ${JSON.stringify(workflow)}, max: ${this.maxIters} iters`);
    await this.callHook("before_run");
    const iterLoaders = dataLoaders.map((l) => new IterLoader(l));
    await this.callHook("before_epoch");
    while (this.iter < this.maxIters) {
      for (let i = 0; i < workflow.length; i++) {
        this.innerIter = 0;
        const [mode, iters] = workflow[i];
        for (let k = 0; k < iters; k++) {
          if (mode === "train" && this.iter >= this.maxIters) break;
          if (mode === "train") await this.train(iterLoaders[i]);
          else await this.val(iterLoaders[i]);
        }
      }
    }
    await this.callHook("after_epoch");
    await this.callHook("after_run");
  }

  /** One training iteration. */
  async train(dataLoader: IterLoader): Promise<void> {
    this.model.train();
    this.mode = "train";
    this.dataLoader = dataLoader;
    this.dataBatch = await dataLoader.next();
    this.epoch = dataLoader.epoch;
    await this.callHook("before_train_iter");
    this.recordOutputs(await this.model.trainStep(this.dataBatch, this.optimizer), "trainStep");
    await this.callHook("after_train_iter");
    this.dataBatch = undefined;
    this.innerIter++;
    this.iter++;
  }

  /** One validation iteration. */
  async val(dataLoader: IterLoader): Promise<void> {
    if (typeof this.model.valStep !== "function") {
      throw new TypeError('Cannot run a "val" workflow phase: the model has no valStep method');
    }
    this.model.eval();
    this.mode = "val";
    this.dataLoader = dataLoader;
    this.dataBatch = await dataLoader.next();
    await this.callHook("before_val_iter");
    this.recordOutputs(await this.model.valStep(this.dataBatch, this.optimizer), "valStep");
    await this.callHook("after_val_iter");
    this.dataBatch = undefined;
    this.innerIter++;
  }

  /** Resumes as the base runner, then sets `innerIter` to the stored iteration as mmcv does. */
  override async resume(path: string, opts: { resumeOptimizer?: boolean } = {}): Promise<void> {
    await super.resume(path, opts);
    this.innerIter = this.iter;
  }

  /** Saves `iter_{iter+1}.safetensors` with meta `iter = iter + 1`, `epoch = epoch + 1`. */
  override async saveCheckpoint(outDir: string, opts: SaveCheckpointCall = {}): Promise<string> {
    const filename = (opts.filenameTmpl ?? "iter_{}.safetensors").replace(
      "{}",
      String(this.iter + 1),
    );
    return await this.writeCheckpoint(outDir, filename, {
      iter: this.iter + 1,
      epoch: this.epoch + 1,
    }, opts);
  }
}

RUNNERS.register("IterBasedRunner", IterBasedRunner);
