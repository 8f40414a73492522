/**
 * Every hook module, imported explicitly so that each registers itself in `HOOKS`.
 *
 * @module
 */
export * from "./lr_updater.ts";
export * from "./optimizer.ts";
export * from "./checkpoint.ts";
export * from "./iter_timer.ts";
export * from "./check_invalid_loss.ts";
export * from "./logger/base.ts";
export * from "./logger/text.ts";
export * from "./logger/tensorboard.ts";
export * from "./evaluation.ts";
export * from "./num_class_check.ts";
export * from "./progress_bar.ts";
