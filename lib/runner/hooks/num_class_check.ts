/**
 * `NumClassCheckHook` (mmdet): before each train/val epoch, checks that every module with a class
 * count (`numClasses`/`num_classes`) matches the length of the dataset's `CLASSES`.
 *
 * @module
 */
import { ConfigError } from "../../utils/errors.ts";
import { Hook, type Runner } from "../hook.ts";
import { HOOKS } from "../registry.ts";

const EXEMPT = new Set(["RPNHead", "VGG", "FusedSemanticHead", "GARPNHead"]);

/** Catches a `num_classes` that does not match the dataset. */
export class NumClassCheckHook extends Hook {
  /** Takes no options (the config is accepted and ignored). */
  constructor(_cfg: Record<string, unknown> = {}) {
    super();
  }

  #check(runner: Runner): void {
    const dataset = runner.dataLoader?.dataset;
    const dsName = (dataset as object | undefined)?.constructor?.name ?? "dataset";
    const classes = dataset?.CLASSES;
    if (classes === undefined || classes === null) {
      runner.logger.warn(
        `Please set CLASSES in the ${dsName} and check that it matches num_classes of the head`,
      );
      return;
    }
    if (typeof classes === "string") {
      throw new TypeError(
        `CLASSES in ${dsName} must be an array of strings, got the string "${classes}"`,
      );
    }
    for (const [name, module] of runner.model.namedModules?.() ?? []) {
      if (module === null || typeof module !== "object") continue;
      const m = module as { numClasses?: unknown; num_classes?: unknown };
      const n = m.numClasses ?? m.num_classes;
      const type = module.constructor?.name ?? "module";
      if (typeof n !== "number" || EXEMPT.has(type)) continue;
      if (n !== classes.length) {
        throw new ConfigError(
          `The num_classes (${n}) in ${type} "${name}" does not match the length of CLASSES ` +
            `(${classes.length}) in ${dsName}: set model.bbox_head.num_classes to ${classes.length}`,
        );
      }
    }
  }

  /** Checks class counts against `dataset.CLASSES`; throws `ConfigError` on a mismatch. */
  override beforeTrainEpoch(runner: Runner): void {
    this.#check(runner);
  }

  /** Checks class counts against `dataset.CLASSES`; throws `ConfigError` on a mismatch. */
  override beforeValEpoch(runner: Runner): void {
    this.#check(runner);
  }
}

HOOKS.register("NumClassCheckHook", NumClassCheckHook);
