/**
 * `OptimizerHook`: after each train iteration, zero the gradients, run backward on the total loss,
 * optionally clip the global gradient norm, and step (mmcv `optimizer.py`).
 *
 * @module
 */
import { Hook, type Runner } from "../hook.ts";
import { HOOKS } from "../registry.ts";

/** `optimizer_config` keys. */
export interface OptimizerHookCfg {
  /** `{max_norm, norm_type = 2}` to clip by global norm, or null (mmdet v2's default). */
  grad_clip?: { max_norm: number; norm_type?: number } | null;
}

/** zero_grad → backward → clip → step; logs `grad_norm` when clipping. */
export class OptimizerHook extends Hook {
  /** Global-norm clipping settings, or null for no clipping. */
  readonly gradClip: { max_norm: number; norm_type?: number } | null;

  /** Validates `grad_clip` (`TypeError` unless null or `{max_norm > 0}`). */
  constructor(cfg: OptimizerHookCfg = {}) {
    super();
    const gc = cfg.grad_clip ?? null;
    if (gc !== null && !(typeof gc === "object" && gc.max_norm > 0)) {
      throw new TypeError(
        `Invalid optimizer_config.grad_clip ${
          JSON.stringify(gc)
        }: expected {max_norm: >0, norm_type?} or null`,
      );
    }
    this.gradClip = gc;
  }

  /**
   * Zeroes the gradients, back-propagates `runner.outputs.loss`, clips if configured (logging
   * `grad_norm`) and steps the optimizer.
   */
  override async afterTrainIter(runner: Runner): Promise<void> {
    const opt = runner.optimizer;
    if (!opt) throw new TypeError("OptimizerHook: the runner has no optimizer");
    const loss = runner.outputs?.loss;
    if (!loss || typeof loss.backward !== "function") {
      throw new TypeError(
        'OptimizerHook: "model.trainStep()" must return a "loss" with a backward() method',
      );
    }
    opt.zeroGrad();
    await loss.backward();
    if (this.gradClip) {
      if (typeof opt.clipGradNorm !== "function") {
        throw new TypeError(
          "OptimizerHook: optimizer_config.grad_clip is set but the optimizer has no clipGradNorm()",
        );
      }
      const norm = opt.clipGradNorm(this.gradClip);
      runner.logBuffer.update({ grad_norm: norm }, runner.outputs?.num_samples ?? 1, runner.iter);
    }
    await opt.step();
  }
}

HOOKS.register("OptimizerHook", OptimizerHook);
