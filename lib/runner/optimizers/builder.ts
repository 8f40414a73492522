/**
 * `buildOptimizer(model, cfg.optimizer)`, as mmcv's `build_optimizer`.
 *
 * @module
 */
import type { Module } from "../../nn/module.ts";
import { OPTIMIZERS } from "../registry.ts";
import type { Optimizer } from "../types.ts";
import "./sgd.ts";
import "./adamw.ts";

/** Builds the optimizer named by `cfg.type` over every parameter of `model`. */
export function buildOptimizer(model: Module, cfg: Record<string, unknown>): Optimizer {
  return OPTIMIZERS.build(cfg as { type: string }, { params: model });
}
