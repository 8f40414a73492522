/**
 * mmcv's runner rebuilt: epoch- and iteration-based runners, hooks with named priorities, the log
 * buffer with batched GPU-scalar readback, LR schedules, atomic safetensors checkpoints, and the
 * work-dir plot.
 *
 * @example
 * ```ts ignore
 * import { EpochBasedRunner } from "./mod.ts";
 * const runner = new EpochBasedRunner({ model, optimizer, work_dir: "work_dirs/demo", max_epochs: 12 });
 * runner.timestamp = "20240101_000000";
 * runner.registerTrainingHooks({ lr_config, optimizer_config, checkpoint_config, log_config });
 * await runner.run([trainLoader], [["train", 1]]);
 * ```
 *
 * @module
 */
export * from "./types.ts";
export * from "./priority.ts";
export * from "./hook.ts";
export * from "./registry.ts";
export * from "./log_buffer.ts";
export * from "./logger.ts";
export * from "./parse_losses.ts";
export * from "./lr.ts";
export * from "./checkpoint.ts";
export * from "./base_runner.ts";
export * from "./epoch_based_runner.ts";
export * from "./iter_based_runner.ts";
export * from "./hooks/mod.ts";
export {
  type JsonLogRecord,
  niceTicks,
  plotWorkDir,
  Raster,
  readJsonLogs,
  renderTrainingPlot,
} from "./plot.ts";
// GPU optimizers (registered in OPTIMIZERS on import)
export {
  type BaseOptimizerCfg,
  buildGroups,
  GpuOptimizer,
  type ParamSource,
  type ParamwiseCfg,
} from "./optimizers/base.ts";
export { buildOptimizer } from "./optimizers/builder.ts";
export { SGD, type SGDCfg } from "./optimizers/sgd.ts";
export { AdamW, type AdamWCfg } from "./optimizers/adamw.ts";
