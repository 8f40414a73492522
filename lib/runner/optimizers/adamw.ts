/**
 * AdamW (decoupled weight decay), as PyTorch's `torch.optim.AdamW`, fused into multi-tensor
 * WGSL updates (up to 16 parameter tensors per dispatch).
 *
 * @module
 */
import { type AdamwItem, adamwStepMulti } from "../../ops/optim_multi.ts";
import { OPTIMIZERS } from "../registry.ts";
import { type BaseOptimizerCfg, GpuOptimizer, type ParamSource } from "./base.ts";

/** PyTorch keys of an AdamW config. */
export interface AdamWCfg extends BaseOptimizerCfg {
  /** The parameters: a module (its named parameters) or `[name, tensor]` pairs. */
  params: ParamSource;
  /** Moment decay rates (default `[0.9, 0.999]`). */
  betas?: [number, number];
  /** Added to the denominator (default 1e-8). */
  eps?: number;
  /** Must be false: AMSGrad is not supported. */
  amsgrad?: boolean;
}

/** `torch.optim.AdamW` on the GPU (weight decay default 0.01 as PyTorch). */
export class AdamW extends GpuOptimizer {
  /**
   * Builds the param groups (betas default `[0.9, 0.999]`, eps 1e-8, weight decay 0.01); throws
   * `RangeError` for `amsgrad: true`.
   */
  constructor(cfg: AdamWCfg) {
    if (cfg.amsgrad) {
      throw new RangeError("Cannot build AdamW: amsgrad is not supported, set amsgrad: false");
    }
    const [beta1, beta2] = cfg.betas ?? [0.9, 0.999];
    super(cfg.params, {
      lr: cfg.lr,
      beta1,
      beta2,
      eps: cfg.eps ?? 1e-8,
      weight_decay: cfg.weight_decay ?? 0.01,
    }, cfg.paramwise_cfg);
  }

  /** Applies one update with each group's current `lr`. */
  step(): void {
    const items: AdamwItem[] = [];
    for (const e of this.active()) {
      const g = this.paramGroups[e.group];
      e.steps++;
      items.push({
        param: e.param.raw,
        grad: e.param.grad!.raw,
        m: this.stateTensor(e, "exp_avg").raw,
        v: this.stateTensor(e, "exp_avg_sq").raw,
        o: {
          lr: g.lr,
          beta1: g.beta1 as number,
          beta2: g.beta2 as number,
          eps: g.eps as number,
          weightDecay: (g.weight_decay as number) ?? 0,
          step: e.steps,
        },
      });
    }
    adamwStepMulti(items);
  }
}

OPTIMIZERS.register("AdamW", AdamW);
