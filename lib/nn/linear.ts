/**
 * `Linear` (PyTorch's `nn.Linear`: `weight` `[out, in]`, `bias` `[out]`, `y = x·Wᵀ + b`) on the
 * GPU matmul.
 *
 * @module
 */
import * as F from "../autograd/functional.ts";
import { Tensor } from "../autograd/tensor.ts";
import { defaultConvInit } from "./init.ts";
import { Module } from "./module.ts";

/** Options of {@linkcode Linear}. */
export interface LinearOptions {
  inFeatures: number;
  outFeatures: number;
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
  /** Draw PyTorch's default initial values (default true); false leaves zeros. */
  init?: boolean;
}

/**
 * A fully connected layer over `[M, in]` rows, initialised as PyTorch (`defaultConvInit`: the
 * same kaiming-uniform rule as `reset_parameters`).
 *
 * @example
 * ```ts ignore
 * const fc = new Linear({ inFeatures: 12544, outFeatures: 1024 });
 * const y = fc.forward(x); // [M, 12544] → [M, 1024]
 * ```
 */
export class Linear extends Module {
  /** Input features. */
  readonly inFeatures: number;
  /** Output features. */
  readonly outFeatures: number;

  /** Registers `weight` `[out, in]` and `bias` `[out]` (unless `bias: false`). */
  constructor(opts: LinearOptions) {
    super();
    const { inFeatures, outFeatures } = opts;
    if (![inFeatures, outFeatures].every((d) => Number.isInteger(d) && d > 0)) {
      throw new RangeError(
        `Cannot build Linear: features ${inFeatures} → ${outFeatures} must be positive integers`,
      );
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.registerParameter(
      "weight",
      Tensor.zeros([outFeatures, inFeatures], { label: "linear.weight" }),
    );
    this.registerParameter(
      "bias",
      opts.bias ?? true ? Tensor.zeros([outFeatures], { label: "linear.bias" }) : null,
    );
    if (opts.init ?? true) defaultConvInit(this);
  }

  /** `[out, in]`. */
  get weight(): Tensor {
    return this.param("weight");
  }

  /** `[out]`, or null without bias. */
  get bias(): Tensor | null {
    return this.optionalParam("bias");
  }

  /** `x` `[M, in]` → `[M, out]`. */
  forward(x: Tensor): Tensor {
    if (x.shape.length !== 2 || x.shape[1] !== this.inFeatures) {
      throw new TypeError(
        `Cannot apply Linear(${this.inFeatures} → ${this.outFeatures}) to [${
          x.shape.join(", ")
        }]: expected [M, ${this.inFeatures}]`,
      );
    }
    const y = F.matmul(x, this.weight, { transB: true });
    const b = this.bias;
    return b ? F.add(y, b) : y;
  }
}
