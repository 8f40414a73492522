/**
 * The GPU optimizers' common part: parameter groups (mmcv `DefaultOptimizerConstructor` with
 * `paramwise_cfg`), gradient clipping by global norm, zero_grad, and state dicts.
 *
 * @module
 */
import * as F from "../../autograd/functional.ts";
import { keep, Tensor } from "../../autograd/tensor.ts";
import { noGrad } from "../../autograd/tape.ts";
import { getGpu } from "../../gpu/runtime.ts";
import type { Module } from "../../nn/module.ts";
import type { CpuTensor, LogValue, Optimizer, OptimizerState, ParamGroup } from "../types.ts";
import { checkNumber, suggestKey } from "../../utils/cfg_rules.ts";
import { ConfigError } from "../../utils/errors.ts";

/** mmcv's `paramwise_cfg`. */
export interface ParamwiseCfg {
  /** lr multiplier of non-norm biases (default 1). */
  bias_lr_mult?: number;
  /** Weight-decay multiplier of non-norm biases (default 1). */
  bias_decay_mult?: number;
  /** Weight-decay multiplier of norm weights and biases (default 1). */
  norm_decay_mult?: number;
  /** Accepted and ignored (no depthwise-conv rule is applied). */
  dwconv_decay_mult?: number;
  /** Accepted and ignored. */
  bypass_duplicate?: boolean;
  /** `{ "backbone": { lr_mult: 0.1, decay_mult: 1 } }`: the longest matching key wins. */
  custom_keys?: Record<string, { lr_mult?: number; decay_mult?: number }>;
}

/** A parameter the optimizer updates, with its group and per-parameter state. */
export interface OptimEntry {
  /** Parameter name (state-dict key). */
  name: string;
  /** The parameter tensor. */
  param: Tensor;
  /** Index of its param group in `paramGroups`. */
  group: number;
  /** Per-parameter optimizer state tensors (e.g. momentum buffer, Adam moments), keyed by name. */
  state: Record<string, Tensor>;
  /** Number of steps applied to this parameter. */
  steps: number;
}

/** What every optimizer config accepts besides its own hyper-parameters. */
export interface BaseOptimizerCfg {
  /** Base learning rate (≥ 0). */
  lr: number;
  /** Weight decay (default 0 for SGD, 0.01 for AdamW, where it is decoupled). */
  weight_decay?: number;
  /** Per-parameter multipliers; one group per parameter when set. */
  paramwise_cfg?: ParamwiseCfg;
}

/** Anything the optimizer can take its parameters from. */
export type ParamSource = Module | [string, Tensor][];

function isNormModule(m: unknown): boolean {
  const name = (m as { constructor?: { name?: string } })?.constructor?.name ?? "";
  return /(Batch|Group|Layer|Instance)Norm/.test(name);
}

/** Builds one group per parameter as mmcv does when `paramwise_cfg` is set, else one group. */
export function buildGroups(
  src: ParamSource,
  base: Record<string, number | boolean>,
  paramwise?: ParamwiseCfg,
): { groups: ParamGroup[]; entries: OptimEntry[] } {
  const named: [string, Tensor, boolean, boolean][] = []; // name, tensor, isNorm, isBias
  if (Array.isArray(src)) {
    for (const [n, t] of src) {
      named.push([n, t, false, n.endsWith(".bias")]);
    }
  } else {
    for (const [mname, m] of src.namedModules()) {
      const norm = isNormModule(m);
      for (const [pname, t] of m.namedParameters()) {
        if (pname.includes(".")) continue; // own parameters only; children are visited separately
        named.push([mname ? `${mname}.${pname}` : pname, t, norm, pname === "bias"]);
      }
    }
  }
  const lr = base.lr as number, wd = (base.weight_decay as number | undefined) ?? 0;
  if (!paramwise) {
    const g: ParamGroup = { ...base, lr, weight_decay: wd, initial_lr: lr };
    return {
      groups: [g],
      entries: named.map(([name, param]) => ({ name, param, group: 0, state: {}, steps: 0 })),
    };
  }
  const groups: ParamGroup[] = [];
  const entries: OptimEntry[] = [];
  const keys = Object.keys(paramwise.custom_keys ?? {}).sort((a, b) =>
    b.length - a.length || a.localeCompare(b)
  );
  for (const [name, param, isNorm, isBias] of named) {
    let lrMult = 1, decayMult = 1;
    const key = keys.find((k) => name.includes(k));
    if (key) {
      lrMult = paramwise.custom_keys![key].lr_mult ?? 1;
      decayMult = paramwise.custom_keys![key].decay_mult ?? 1;
    } else {
      if (isBias && !isNorm) {
        lrMult = paramwise.bias_lr_mult ?? 1;
        decayMult = paramwise.bias_decay_mult ?? 1;
      }
      if (isNorm) decayMult = paramwise.norm_decay_mult ?? 1;
    }
    groups.push({
      ...base,
      lr: lr * lrMult,
      initial_lr: lr * lrMult,
      weight_decay: wd * decayMult,
    });
    entries.push({ name, param, group: groups.length - 1, state: {}, steps: 0 });
  }
  return { groups, entries };
}

/** The shared part of the GPU optimizers. */
export abstract class GpuOptimizer implements Optimizer {
  paramGroups: ParamGroup[];
  /** Every parameter the optimizer updates, in registration order. */
  protected entries: OptimEntry[];

  /**
   * Builds the param groups from `src` with the base hyper-parameters and `paramwise_cfg`; throws
   * `RangeError` for a missing or negative `lr`.
   */
  constructor(src: ParamSource, base: Record<string, number | boolean>, paramwise?: ParamwiseCfg) {
    const lr = base.lr;
    if (typeof lr !== "number" || !(lr >= 0)) {
      throw new RangeError(`Cannot build optimizer: lr must be a non-negative number, got ${lr}`);
    }
    checkNumber(lr, "optimizer.lr", { min: 0 });
    for (const [k, v] of Object.entries(base)) {
      if (k === "lr" || typeof v === "boolean") continue;
      const unit = k === "momentum" || k === "dampening" || k === "beta1" || k === "beta2";
      checkNumber(v, `optimizer.${k}`, unit ? { min: 0, max: 1 } : { min: 0 });
    }
    if (paramwise !== undefined && paramwise !== null) {
      const known = ["bias_lr_mult", "bias_decay_mult", "norm_decay_mult", "custom_keys"];
      for (const k of Object.keys(paramwise)) {
        if (!known.includes(k)) {
          const hint = suggestKey(k, known);
          throw new ConfigError(
            `Unknown config key optimizer.paramwise_cfg.${k}` +
              (hint ? `; did you mean "${hint}"?` : `; known: ${known.join(", ")}`),
          );
        }
        if (k !== "custom_keys") {
          checkNumber((paramwise as Record<string, unknown>)[k], `optimizer.paramwise_cfg.${k}`, {
            min: 0,
          });
        }
      }
      for (const [key, c] of Object.entries(paramwise.custom_keys ?? {})) {
        for (const k of Object.keys(c ?? {})) {
          if (k !== "lr_mult" && k !== "decay_mult") {
            throw new ConfigError(
              `Unknown config key optimizer.paramwise_cfg.custom_keys["${key}"].${k}; use lr_mult or decay_mult`,
            );
          }
          checkNumber(
            (c as Record<string, unknown>)[k],
            `optimizer.paramwise_cfg.custom_keys["${key}"].${k}`,
            { min: 0 },
          );
        }
      }
    }
    const { groups, entries } = buildGroups(src, base, paramwise);
    this.paramGroups = groups;
    this.entries = entries;
  }

  /** Parameters whose gradient exists and that require one (frozen ones are skipped, as PyTorch). */
  protected active(): OptimEntry[] {
    return this.entries.filter((e) =>
      e.param.requiresGrad && e.param.grad && !e.param.grad.disposed
    );
  }

  /** Drops every gradient (PyTorch `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const e of this.entries) {
      e.param.grad?.dispose();
      e.param.grad = null;
    }
  }

  abstract step(): void;

  /**
   * Scales all gradients so that their global L2 norm is at most `max_norm` (mmcv
   * `clip_grad_norm_`). The norm is computed and applied on the GPU; the pre-clip norm is
   * returned as a lazily read scalar.
   */
  clipGradNorm(opts: { max_norm: number; norm_type?: number }): LogValue {
    if ((opts.norm_type ?? 2) !== 2) {
      throw new RangeError(
        `Cannot clip gradients: norm_type ${opts.norm_type} is not supported, use 2`,
      );
    }
    const act = this.active();
    if (act.length === 0) return 0;
    return noGrad(() => {
      let sq: Tensor | null = null;
      const parts: Tensor[] = [];
      for (const e of act) {
        const s = F.sum(F.mul(e.param.grad!, e.param.grad!));
        parts.push(s);
        sq = sq ? F.add(sq, s) : s;
      }
      const norm = F.sqrt(sq!);
      // scale = min(1, max_norm / (norm + 1e-6))
      const scale = F.clamp(F.div(F.full([], opts.max_norm), F.addScalar(norm, 1e-6)), 0, 1);
      for (const e of act) {
        const g = F.mul(e.param.grad!, scale);
        e.param.grad!.dispose();
        e.param.grad = keep(g);
      }
      return keep(norm);
    });
  }

  /** Creates (once) a zero state tensor of the parameter's shape. */
  protected stateTensor(e: OptimEntry, key: string): Tensor {
    let t = e.state[key];
    if (!t) {
      t = new Tensor(getGpu().zeros(e.param.shape, "f32", `${e.name}.${key}`));
      keep(t);
      e.state[key] = t;
    }
    return t;
  }

  /** Per-parameter state (`<param>.<key>`) and groups, read back to the host. */
  async stateDict(): Promise<OptimizerState> {
    const items: [string, Tensor][] = [];
    const steps: Record<string, number> = {};
    for (const e of this.entries) {
      for (const [k, t] of Object.entries(e.state)) items.push([`${e.name}.${k}`, t]);
      if (e.steps) steps[e.name] = e.steps;
    }
    const datas = await getGpu().readMany(items.map(([, t]) => t.raw));
    const state: Record<string, CpuTensor> = {};
    items.forEach((
      [n, t],
      i,
    ) => (state[n] = { dtype: "F32", shape: [...t.shape], data: datas[i] as Float32Array }));
    return {
      state,
      param_groups: this.paramGroups.map((g, i) => ({ ...g, steps: i === 0 ? steps : undefined })),
    };
  }

  /** Restores state tensors and group hyper-parameters (including `initial_lr`). */
  loadStateDict(s: OptimizerState): void {
    if (s.param_groups.length !== this.paramGroups.length) {
      throw new RangeError(
        `Cannot load optimizer state: it has ${s.param_groups.length} parameter groups, the optimizer ${this.paramGroups.length}`,
      );
    }
    const steps = (s.param_groups[0]?.steps ?? {}) as Record<string, number>;
    this.paramGroups = s.param_groups.map((g) => {
      const { steps: _s, ...rest } = g as Record<string, unknown>;
      return rest as ParamGroup;
    });
    const gpu = getGpu();
    for (const e of this.entries) {
      e.steps = steps[e.name] ?? 0;
      for (const [key, t] of Object.entries(s.state)) {
        if (!key.startsWith(`${e.name}.`)) continue;
        const sk = key.slice(e.name.length + 1);
        if (sk.includes(".")) continue;
        const dst = this.stateTensor(e, sk);
        if (t.data.length !== dst.size) {
          throw new TypeError(
            `Cannot load optimizer state "${key}": ${t.data.length} values for ${dst.size} elements`,
          );
        }
        const up = gpu.upload(t.data as Float32Array, dst.shape, "f32", key);
        gpu.copy(up, 0, dst.raw, 0, dst.raw.byteLength);
        up.release();
      }
    }
  }

  /** Releases all state tensors. */
  dispose(): void {
    for (const e of this.entries) for (const t of Object.values(e.state)) t.dispose();
  }
}
