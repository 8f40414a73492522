/**
 * mmdetection's builders: `buildBackbone`, `buildNeck`, `buildHead`, `buildLoss`,
 * `buildDetector`. They only consult the registries; import `lib/models/mod.ts` first so that every
 * component is registered.
 *
 * @module
 */
import type { Module } from "../nn/module.ts";
import type { TypedCfg } from "../utils/registry.ts";
import { BACKBONES, DETECTORS, HEADS, LOSSES, NECKS } from "./registry.ts";

/** Builds a backbone (`cfg.type` in `BACKBONES`). */
export function buildBackbone(cfg: TypedCfg): Module {
  return BACKBONES.build(cfg);
}

/** Builds a neck (`cfg.type` in `NECKS`). */
export function buildNeck(cfg: TypedCfg): Module {
  return NECKS.build(cfg);
}

/** Builds a dense head (`cfg.type` in `HEADS`). */
export function buildHead(cfg: TypedCfg): Module {
  return HEADS.build(cfg);
}

/** Builds a loss (`cfg.type` in `LOSSES`). */
export function buildLoss(cfg: TypedCfg): unknown {
  return LOSSES.build(cfg);
}

/** Options of {@linkcode buildDetector}: the mmdet < 2.9 top-level `train_cfg`/`test_cfg`. */
export interface BuildDetectorOptions {
  /** Deprecated top-level `train_cfg`, used as `model.train_cfg` (`TypeError` if both are set). */
  trainCfg?: Record<string, unknown> | null;
  /** Deprecated top-level `test_cfg`, used as `model.test_cfg` (`TypeError` if both are set). */
  testCfg?: Record<string, unknown> | null;
}

/**
 * mmdet `build_detector(cfg, train_cfg, test_cfg)`: builds `cfg` (a config's `model`) from
 * `DETECTORS`. `train_cfg`/`test_cfg` belong inside `model` (mmdet ≥ 2.9); top-level ones may be
 * passed in `opts` (deprecated), but not both.
 *
 * @throws {TypeError} When `train_cfg` or `test_cfg` is given both ways.
 */
export function buildDetector(cfg: TypedCfg, opts: BuildDetectorOptions = {}): Module {
  const defaults: Record<string, unknown> = {};
  for (const [key, outer] of [["train_cfg", opts.trainCfg], ["test_cfg", opts.testCfg]] as const) {
    if (outer === undefined || outer === null) continue;
    if (cfg[key] !== undefined && cfg[key] !== null) {
      throw new TypeError(
        `Cannot build detector "${cfg.type}": ${key} is specified both in the top level and in model: keep only model.${key}`,
      );
    }
    defaults[key] = outer;
  }
  return DETECTORS.build(cfg, defaults);
}
