/**
 * The runner's registries: `HOOKS` (hook classes by mmcv name) and `OPTIMIZERS`.
 *
 * @module
 */
import { Registry } from "../utils/registry.ts";
import type { Hook } from "./hook.ts";
import type { Optimizer } from "./types.ts";

/** Hook classes by their mmcv/mmdet names (`StepLrUpdaterHook`, `CheckpointHook`, ...). */
export const HOOKS: Registry<Hook> = new Registry<Hook>("HOOKS");

/** Optimizer classes by their PyTorch names (`SGD`, `AdamW`); filled by the GPU optimizers. */
export const OPTIMIZERS: Registry<Optimizer> = new Registry<Optimizer>("OPTIMIZERS");

/** Runner classes (`EpochBasedRunner`, `IterBasedRunner`), built from `cfg.runner`. */
// deno-lint-ignore no-explicit-any
export const RUNNERS: Registry<any> = new Registry("RUNNERS");
