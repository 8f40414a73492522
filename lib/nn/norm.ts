/**
 * Normalisation layers with PyTorch's state-dict names — `BatchNorm2d` (`weight`, `bias`,
 * buffers `running_mean`, `running_var`, `num_batches_tracked`) and `GroupNorm` (`weight`,
 * `bias`) — and mmcv's `build_norm_layer`, which names the layer by its abbreviation (`bn`, `gn`)
 * plus a postfix (`bn1`).
 *
 * @module
 */
import { affineChannel, batchNorm2d, groupNorm } from "../autograd/cnn.ts";
import * as F from "../autograd/functional.ts";
import { Tensor } from "../autograd/tensor.ts";
import { canFuseResidual } from "../ops/batch_norm.ts";
import { Module } from "./module.ts";

/** Options of {@linkcode BatchNorm2d}. */
export interface BatchNorm2dOptions {
  numFeatures: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Weight of the new batch statistics in the running averages (default 0.1). */
  momentum?: number;
  /** Whether the layer has `weight` and `bias` (default true). */
  affine?: boolean;
  /** Whether `weight` and `bias` are trained (mmcv `norm_cfg.requires_grad`, default true). */
  requiresGrad?: boolean;
}

function checkFeatures(what: string, n: number): void {
  if (!Number.isInteger(n) || n <= 0) {
    throw new RangeError(`Cannot build ${what}: num_features ${n} must be a positive integer`);
  }
}

/**
 * Batch normalisation over `[N, C, H, W]`.
 *
 * - Training mode: normalises with the batch statistics and updates `running_mean` and
 *   `running_var` (unbiased variance) with `momentum`, as PyTorch; `num_batches_tracked` counts
 *   the training forwards.
 * - Evaluation mode (also frozen stages and `norm_eval`): `y = x·scale + shift` with the
 *   per-channel `scale = weight/√(running_var + eps)` and `shift = bias − running_mean·scale`,
 *   computed on the GPU at every forward; gradients still reach `weight` and `bias` when they
 *   require them, and the running statistics are never touched.
 *
 * `num_batches_tracked` is a scalar `i32` buffer (PyTorch saves int64; checkpoint I/O converts).
 */
export class BatchNorm2d extends Module {
  /** Number of channels C. */
  readonly numFeatures: number;
  /** Added to the variance before the square root. */
  readonly eps: number;
  /** Weight of the new batch statistics in the running averages. */
  readonly momentum: number;

  /**
   * Registers `weight`, `bias` (when affine) and the running-statistics buffers; throws
   * `RangeError` for a non-positive `numFeatures` or a momentum outside [0, 1].
   */
  constructor(opts: BatchNorm2dOptions) {
    super();
    checkFeatures("BatchNorm2d", opts.numFeatures);
    this.numFeatures = opts.numFeatures;
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    if (!(this.momentum >= 0 && this.momentum <= 1)) {
      throw new RangeError(
        `Cannot build BatchNorm2d: momentum ${this.momentum} must lie in [0, 1]`,
      );
    }
    const c = opts.numFeatures;
    if (opts.affine ?? true) {
      this.registerParameter("weight", F.full([c], 1));
      this.registerParameter("bias", Tensor.zeros([c]));
      const rg = opts.requiresGrad ?? true;
      this.weight!.requiresGrad = rg;
      this.bias!.requiresGrad = rg;
    }
    this.registerBuffer("running_mean", Tensor.zeros([c]));
    this.registerBuffer("running_var", F.full([c], 1));
    this.registerBuffer("num_batches_tracked", Tensor.zeros([], { dtype: "i32" }));
  }

  /** `[C]` γ, or null when not affine. */
  get weight(): Tensor | null {
    return this.optionalParam("weight");
  }

  /** `[C]` β, or null when not affine. */
  get bias(): Tensor | null {
    return this.optionalParam("bias");
  }

  /** The per-channel `[C]` scale and shift of evaluation mode (differentiable in weight/bias). */
  foldedAffine(): { scale: Tensor; shift: Tensor } {
    const std = F.sqrt(F.addScalar(this.buffer("running_var"), this.eps));
    const w = this.weight;
    const scale = w ? F.div(w, std) : F.div(F.full([this.numFeatures], 1), std);
    const mShift = F.mul(this.buffer("running_mean"), scale);
    const shift = this.bias ? F.sub(this.bias, mShift) : F.neg(mShift);
    return { scale, shift };
  }

  /**
   * `x` `[N, C, H, W]` → same shape; `act: "relu"` fuses a ReLU; `residual` (x's shape) is added
   * before it — in the same pass when training on a device that allows it
   * (`canFuseResidual()`), else as a separate `addRelu`/`add`.
   */
  forward(x: Tensor, act: "none" | "relu" = "none", residual: Tensor | null = null): Tensor {
    if (x.shape.length !== 4 || x.shape[1] !== this.numFeatures) {
      throw new TypeError(
        `Cannot apply BatchNorm2d(${this.numFeatures}) to a tensor of shape [${
          x.shape.join(", ")
        }]: expected [N, ${this.numFeatures}, H, W]`,
      );
    }
    if (residual && (!this.training || !canFuseResidual())) {
      const y = this.forward(x);
      return act === "relu" ? F.addRelu(y, residual) : F.add(y, residual);
    }
    if (!this.training) {
      const { scale, shift } = this.foldedAffine();
      return affineChannel(x, scale, shift, { act });
    }
    const y = batchNorm2d(
      x,
      this.buffer("running_mean"),
      this.buffer("running_var"),
      this.weight,
      this.bias,
      {
        training: true,
        momentum: this.momentum,
        eps: this.eps,
        act,
        // incremented by the statistics kernel itself (no extra dispatch or copy)
        numBatchesTracked: this.buffer("num_batches_tracked"),
        residual,
      },
    );
    return y;
  }
}

/** Options of {@linkcode GroupNorm}. */
export interface GroupNormOptions {
  numGroups: number;
  numChannels: number;
  eps?: number;
  affine?: boolean;
  requiresGrad?: boolean;
}

/** Group normalisation over `[N, C, H, W]` (`C` divisible by `numGroups`). */
export class GroupNorm extends Module {
  /** Number of channel groups. */
  readonly numGroups: number;
  /** Number of channels C. */
  readonly numChannels: number;
  /** Added to the variance before the square root. */
  readonly eps: number;

  /**
   * Registers `weight` and `bias` when affine; throws `RangeError` unless `numGroups` divides
   * `numChannels`.
   */
  constructor(opts: GroupNormOptions) {
    super();
    checkFeatures("GroupNorm", opts.numChannels);
    if (
      !Number.isInteger(opts.numGroups) || opts.numGroups <= 0 || opts.numChannels % opts.numGroups
    ) {
      throw new RangeError(
        `Cannot build GroupNorm: num_groups ${opts.numGroups} must divide num_channels ${opts.numChannels}`,
      );
    }
    this.numGroups = opts.numGroups;
    this.numChannels = opts.numChannels;
    this.eps = opts.eps ?? 1e-5;
    if (opts.affine ?? true) {
      this.registerParameter("weight", F.full([opts.numChannels], 1));
      this.registerParameter("bias", Tensor.zeros([opts.numChannels]));
      const rg = opts.requiresGrad ?? true;
      this.weight!.requiresGrad = rg;
      this.bias!.requiresGrad = rg;
    }
  }

  /** `[C]` γ, or null when not affine. */
  get weight(): Tensor | null {
    return this.optionalParam("weight");
  }

  /** `[C]` β, or null when not affine. */
  get bias(): Tensor | null {
    return this.optionalParam("bias");
  }

  /** `x` `[N, C, H, W]` → same shape; `act: "relu"` fuses a ReLU into the normalisation. */
  forward(x: Tensor, act: "none" | "relu" = "none"): Tensor {
    return groupNorm(x, this.numGroups, this.weight, this.bias, this.eps, act);
  }
}

/** mmcv's `norm_cfg`: `{type: "BN" | "SyncBN" | "GN", requires_grad?, eps?, momentum?, num_groups?}`. */
export interface NormCfg {
  /** "BN", "SyncBN" (built as `BatchNorm2d`) or "GN". */
  type: string;
  /** Whether `weight` and `bias` are trained (default true). */
  requires_grad?: boolean;
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Running-average momentum of BN (default 0.1). */
  momentum?: number;
  /** Number of groups, required for "GN". */
  num_groups?: number;
  /** Further mmcv keys, ignored. */
  [key: string]: unknown;
}

/** A normalisation layer built by {@linkcode buildNormLayer}. */
export type NormLayer = BatchNorm2d | GroupNorm;

const ABBR: Record<string, string> = { BN: "bn", BN2d: "bn", SyncBN: "bn", GN: "gn" };

/** The `norm_cfg.type` values {@linkcode buildNormLayer} accepts. */
export const NORM_LAYER_TYPES: readonly string[] = Object.keys(ABBR);

/**
 * mmcv `build_norm_layer`: returns the layer's name (abbreviation + `postfix`: `"bn"`, `"bn1"`,
 * `"gn"`) and the layer. `BN`, `BN2d` and `SyncBN` (single device: plain BN) build
 * `BatchNorm2d`; `GN` builds `GroupNorm` and needs `num_groups`.
 *
 * @example
 * ```ts ignore
 * const [name, bn] = buildNormLayer({ type: "BN", requires_grad: true }, 64, { postfix: 1 }); // "bn1"
 * ```
 */
export function buildNormLayer(
  cfg: NormCfg,
  numFeatures: number,
  opts: { postfix?: number | string } = {},
): [string, NormLayer] {
  if (cfg === null || typeof cfg !== "object" || typeof cfg.type !== "string") {
    throw new TypeError(
      `Cannot build norm layer: norm_cfg must be an object with a "type" key, got ${
        JSON.stringify(cfg)
      }`,
    );
  }
  const abbr = ABBR[cfg.type];
  if (!abbr) {
    throw new RangeError(
      `Cannot build norm layer "${cfg.type}": norm_cfg.type must be one of ${
        Object.keys(ABBR).join(", ")
      }`,
    );
  }
  const requiresGrad = cfg.requires_grad ?? true;
  const name = `${abbr}${opts.postfix ?? ""}`;
  if (abbr === "gn") {
    if (cfg.num_groups === undefined) {
      throw new TypeError(`Cannot build norm layer "GN": norm_cfg needs "num_groups"`);
    }
    return [
      name,
      new GroupNorm({
        numGroups: cfg.num_groups,
        numChannels: numFeatures,
        eps: cfg.eps,
        requiresGrad,
      }),
    ];
  }
  return [
    name,
    new BatchNorm2d({ numFeatures, eps: cfg.eps, momentum: cfg.momentum, requiresGrad }),
  ];
}
