/**
 * SGD with momentum, dampening, weight decay and Nesterov, as PyTorch's `torch.optim.SGD`, fused
 * into multi-tensor WGSL updates (up to 16 parameter tensors per dispatch).
 *
 * @module
 */
import { type SgdItem, sgdStepMulti } from "../../ops/optim_multi.ts";
import { OPTIMIZERS } from "../registry.ts";
import { type BaseOptimizerCfg, GpuOptimizer, type ParamSource } from "./base.ts";

/** mmcv/PyTorch keys of an SGD config. */
export interface SGDCfg extends BaseOptimizerCfg {
  /** The parameters: a module (its named parameters) or `[name, tensor]` pairs. */
  params: ParamSource;
  /** Momentum factor (default 0). */
  momentum?: number;
  /** Dampening of the momentum (default 0). */
  dampening?: number;
  /** Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov?: boolean;
}

/** `torch.optim.SGD` on the GPU. */
export class SGD extends GpuOptimizer {
  /**
   * Builds the param groups (momentum, dampening and weight decay default 0); throws `RangeError`
   * for nesterov without momentum > 0 and dampening 0.
   */
  constructor(cfg: SGDCfg) {
    const momentum = cfg.momentum ?? 0,
      dampening = cfg.dampening ?? 0,
      nesterov = cfg.nesterov ?? false;
    if (nesterov && (momentum <= 0 || dampening !== 0)) {
      throw new RangeError("Cannot build SGD: nesterov needs momentum > 0 and dampening 0");
    }
    super(cfg.params, {
      lr: cfg.lr,
      momentum,
      dampening,
      nesterov,
      weight_decay: cfg.weight_decay ?? 0,
    }, cfg.paramwise_cfg);
  }

  /** Applies one update with each group's current `lr`. */
  step(): void {
    const items: SgdItem[] = [];
    for (const e of this.active()) {
      const g = this.paramGroups[e.group];
      const momentum = (g.momentum as number) ?? 0;
      items.push({
        param: e.param.raw,
        grad: e.param.grad!.raw,
        buf: momentum !== 0 ? this.stateTensor(e, "momentum_buffer").raw : null,
        o: {
          lr: g.lr,
          momentum,
          dampening: (g.dampening as number) ?? 0,
          weightDecay: (g.weight_decay as number) ?? 0,
          nesterov: Boolean(g.nesterov),
          first: e.steps === 0,
        },
      });
      e.steps++;
    }
    sgdStepMulti(items);
  }
}

OPTIMIZERS.register("SGD", SGD);
