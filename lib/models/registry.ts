/**
 * The registries of `lib/models`, named as mmdetection's: `BACKBONES`, `NECKS`, `HEADS`,
 * `DETECTORS`, `LOSSES`. Each component file ends with its one registration line, e.g.
 * `BACKBONES.register("ResNet", ResNet);`, and `lib/models/mod.ts` imports every file so that all
 * are registered (a file never imported is never registered).
 *
 * @module
 */
import { Registry } from "../utils/registry.ts";
import type { Module } from "../nn/module.ts";

/** Backbones (`ResNet`). */
export const BACKBONES: Registry<Module> = new Registry("BACKBONES");
/** Necks (`FPN`). */
export const NECKS: Registry<Module> = new Registry("NECKS");
/** Dense heads (`AnchorHead`, `RetinaHead`). */
export const HEADS: Registry<Module> = new Registry("HEADS");
/** Detectors (`RetinaNet`). */
export const DETECTORS: Registry<Module> = new Registry("DETECTORS");
/** Losses (`FocalLoss`, `L1Loss`, …). Loss classes need not be modules. */
export const LOSSES: Registry<unknown> = new Registry("LOSSES");
