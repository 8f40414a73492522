/**
 * mmcv's `EpochBasedRunner`: `run` repeats the workflow until `maxEpochs`; `train`/`val` loop over
 * one epoch of a loader, calling hooks around every step.
 *
 * @module
 */
import {
  BaseRunner,
  type RunnerCfg,
  type SaveCheckpointCall,
  type WorkflowEntry,
} from "./base_runner.ts";
import { RUNNERS } from "./registry.ts";
import type { RunnerDataLoader } from "./types.ts";
import { platform } from "../platform/mod.ts";

/** Iterates a loader that is async- or sync-iterable. */
export async function* iterateLoader<T>(loader: RunnerDataLoader<T>): AsyncGenerator<T> {
  if (loader[Symbol.asyncIterator]) {
    yield* { [Symbol.asyncIterator]: () => loader[Symbol.asyncIterator]!() };
  } else if (loader[Symbol.iterator]) {
    yield* { [Symbol.iterator]: () => loader[Symbol.iterator]!() };
  } else {
    throw new TypeError(
      "Cannot iterate the data loader: it is neither iterable nor async-iterable",
    );
  }
}

/** Checks the workflow and its loaders; returns the train loader's index or -1. */
export function checkWorkflow(
  dataLoaders: readonly RunnerDataLoader[],
  workflow: readonly WorkflowEntry[],
): number {
  if (!Array.isArray(workflow) || dataLoaders.length !== workflow.length) {
    throw new RangeError(
      `Cannot run: got ${dataLoaders.length} data loaders for a workflow of ${workflow?.length} entries; ` +
        `they must match one to one`,
    );
  }
  workflow.forEach(([mode, n]) => {
    if (mode !== "train" && mode !== "val") {
      throw new RangeError(`Invalid workflow mode "${mode}": expected "train" or "val"`);
    }
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(
        `Invalid workflow count ${n} for "${mode}": expected a positive integer`,
      );
    }
  });
  return workflow.findIndex(([m]) => m === "train");
}

/**
 * Epoch-based training (mmdetection's default runner).
 *
 * @example
 * ```ts ignore
 * const runner = new EpochBasedRunner({ model, optimizer, work_dir: "work_dirs/x", max_epochs: 12 });
 * runner.registerTrainingHooks({ lr_config, optimizer_config, checkpoint_config, log_config });
 * await runner.run([trainLoader], [["train", 1]]);
 * ```
 */
export class EpochBasedRunner extends BaseRunner {
  /** Creates the runner from `cfg`; `max_epochs` is required by `run`. */
  constructor(cfg: RunnerCfg) {
    super(cfg);
  }

  /**
   * Runs the workflow's phases (n train, m val epochs; loader i for entry i) until `maxEpochs`;
   * throws `RangeError` without `max_epochs` or for a workflow that does not match the loaders.
   */
  override async run(
    dataLoaders: RunnerDataLoader[],
    workflow: readonly WorkflowEntry[],
  ): Promise<void> {
    if (this.maxEpochs === undefined) {
      throw new RangeError("Cannot run an EpochBasedRunner without max_epochs");
    }
    const trainIdx = checkWorkflow(dataLoaders, workflow);
    if (trainIdx >= 0) this.maxIters = this.maxEpochs * dataLoaders[trainIdx].length;
    this.logger.info(
      `Start running, host: ${platform().hostname()}, work_dir: ${this.workDir ?? "(none)"}`,
    );
    this.logger.info(`Hooks will be executed in the following order:\n${this.getHookInfo()}`);
    this.logger.info(`workflow: ${JSON.stringify(workflow)}, max: ${this.maxEpochs} epochs`);
    await this.callHook("before_run");
    while (this.epoch < this.maxEpochs) {
      for (let i = 0; i < workflow.length; i++) {
        const [mode, epochs] = workflow[i];
        for (let e = 0; e < epochs; e++) {
          if (mode === "train" && this.epoch >= this.maxEpochs) break;
          if (mode === "train") await this.train(dataLoaders[i]);
          else await this.val(dataLoaders[i]);
        }
      }
    }
    await this.callHook("after_run");
  }

  /** One training epoch. */
  async train(dataLoader: RunnerDataLoader): Promise<void> {
    this.model.train();
    this.mode = "train";
    this.dataLoader = dataLoader;
    this.maxIters = (this.maxEpochs ?? 0) * dataLoader.length;
    await this.callHook("before_train_epoch");
    let i = 0;
    for await (const batch of iterateLoader(dataLoader)) {
      this.dataBatch = batch;
      this.innerIter = i;
      await this.callHook("before_train_iter");
      this.recordOutputs(await this.model.trainStep(batch, this.optimizer), "trainStep");
      await this.callHook("after_train_iter");
      this.dataBatch = undefined;
      this.iter++;
      i++;
    }
    await this.callHook("after_train_epoch");
    this.epoch++;
  }

  /** One validation epoch (the model's `valStep` must not record gradients). */
  async val(dataLoader: RunnerDataLoader): Promise<void> {
    if (typeof this.model.valStep !== "function") {
      throw new TypeError('Cannot run a "val" workflow phase: the model has no valStep method');
    }
    this.model.eval();
    this.mode = "val";
    this.dataLoader = dataLoader;
    await this.callHook("before_val_epoch");
    let i = 0;
    for await (const batch of iterateLoader(dataLoader)) {
      this.dataBatch = batch;
      this.innerIter = i;
      await this.callHook("before_val_iter");
      this.recordOutputs(await this.model.valStep(batch, this.optimizer), "valStep");
      await this.callHook("after_val_iter");
      this.dataBatch = undefined;
      i++;
    }
    await this.callHook("after_val_epoch");
  }

  /**
   * Saves `epoch_{epoch+1}.safetensors` (+ meta, + optimizer) with meta `epoch = epoch + 1`,
   * `iter`, and points `latest` at it.
   */
  override async saveCheckpoint(outDir: string, opts: SaveCheckpointCall = {}): Promise<string> {
    const filename = (opts.filenameTmpl ?? "epoch_{}.safetensors").replace(
      "{}",
      String(this.epoch + 1),
    );
    return await this.writeCheckpoint(
      outDir,
      filename,
      { epoch: this.epoch + 1, iter: this.iter },
      opts,
    );
  }
}

RUNNERS.register("EpochBasedRunner", EpochBasedRunner);
