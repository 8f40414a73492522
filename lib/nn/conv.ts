/**
 * `Conv2d` (PyTorch's parameter names `weight` `[O, I/groups, kh, kw]` and `bias` `[O]`) and
 * mmcv's `build_conv_layer`.
 *
 * @module
 */
import { conv2d } from "../autograd/cnn.ts";
import { Tensor } from "../autograd/tensor.ts";
import { inPlaceWindowBytes } from "../gpu/runtime.ts";
import { defaultConvInit } from "./init.ts";
import { Module } from "./module.ts";

/** A size given once for both dimensions or as `[h, w]`. */
export type Size2 = number | [number, number];

/** Options of {@linkcode Conv2d} (PyTorch's arguments, camelCase). */
export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: Size2;
  stride?: Size2;
  padding?: Size2;
  dilation?: Size2;
  groups?: number;
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
  /**
   * Draw PyTorch's default initial values (default true). False leaves zeros, for parents that
   * initialise the layer themselves (saves drawing and uploading every value twice).
   */
  init?: boolean;
}

function pair(v: Size2, what: string): [number, number] {
  const p: [number, number] = typeof v === "number" ? [v, v] : [v[0], v[1]];
  if (!p.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new RangeError(
      `Cannot build Conv2d: ${what} ${JSON.stringify(v)} must be non-negative integers`,
    );
  }
  return p;
}

/**
 * A 2-D convolution on NCHW tensors, initialised as PyTorch does (`defaultConvInit`).
 *
 * @example
 * ```ts ignore
 * import { Conv2d } from "./conv.ts";
 * const conv = new Conv2d({ inChannels: 3, outChannels: 8, kernelSize: 3, padding: 1 });
 * const y = conv.forward(x); // x: [N, 3, H, W] → y: [N, 8, H, W]
 * ```
 */
export class Conv2d extends Module {
  /** Input channels C_in. */
  readonly inChannels: number;
  /** Output channels C_out. */
  readonly outChannels: number;
  /** Kernel `[kh, kw]`. */
  readonly kernelSize: [number, number];
  /** Stride `[sh, sw]`. */
  readonly stride: [number, number];
  /** Zero padding `[ph, pw]` on each side. */
  readonly padding: [number, number];
  /** Dilation `[dh, dw]`. */
  readonly dilation: [number, number];
  /** Channel groups (divides both channel counts). */
  readonly groups: number;

  /**
   * Registers `weight` `[O, I/groups, kh, kw]` and `bias` `[O]` (unless `bias: false`), initialised
   * as PyTorch unless `init: false`; throws `RangeError` for non-positive channels or groups that
   * do not divide them.
   */
  constructor(opts: Conv2dOptions) {
    super();
    const { inChannels, outChannels, groups = 1 } = opts;
    if (
      !Number.isInteger(inChannels) || inChannels <= 0 || !Number.isInteger(outChannels) ||
      outChannels <= 0
    ) {
      throw new RangeError(
        `Cannot build Conv2d: channels ${inChannels} → ${outChannels} must be positive integers`,
      );
    }
    if (!Number.isInteger(groups) || groups <= 0 || inChannels % groups || outChannels % groups) {
      throw new RangeError(
        `Cannot build Conv2d: groups ${groups} must divide in_channels ${inChannels} and out_channels ${outChannels}`,
      );
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = pair(opts.kernelSize, "kernel_size");
    this.stride = pair(opts.stride ?? 1, "stride");
    this.padding = pair(opts.padding ?? 0, "padding");
    this.dilation = pair(opts.dilation ?? 1, "dilation");
    this.groups = groups;
    const [kh, kw] = this.kernelSize;
    this.registerParameter(
      "weight",
      // room for a 64 KiB uniform window from any row: the direct kernels read the weight in place
      Tensor.zeros([outChannels, inChannels / groups, kh, kw], {
        label: "conv.weight",
        minBytes: inPlaceWindowBytes(outChannels * (inChannels / groups) * kh * kw),
      }),
    );
    this.registerParameter(
      "bias",
      opts.bias ?? true ? Tensor.zeros([outChannels], { label: "conv.bias" }) : null,
    );
    if (opts.init ?? true) defaultConvInit(this);
  }

  /** `[O, I/groups, kh, kw]`. */
  get weight(): Tensor {
    return this.param("weight");
  }

  /** `[O]`, or null without bias. */
  get bias(): Tensor | null {
    return this.optionalParam("bias");
  }

  /** `x` `[N, I, H, W]` → `[N, O, H', W']`; `act: "relu"` fuses a ReLU into the kernel. */
  forward(x: Tensor, act: "none" | "relu" = "none"): Tensor {
    return conv2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
      act,
    });
  }
}

/** mmcv's `conv_cfg`: null or `{type: "Conv" | "Conv2d"}`. */
export interface ConvCfg {
  /** "Conv" or "Conv2d" (a plain `Conv2d`). */
  type: string;
  /** Further mmcv keys, ignored. */
  [key: string]: unknown;
}

/**
 * mmcv `build_conv_layer`: `cfg` null means `{type: "Conv2d"}`; `"Conv"` is an alias.
 *
 * @throws {RangeError} For other conv types (deformable, weight-standardised, …).
 */
export function buildConvLayer(cfg: ConvCfg | null | undefined, opts: Conv2dOptions): Conv2d {
  const type = cfg?.type ?? "Conv2d";
  if (type !== "Conv2d" && type !== "Conv") {
    throw new RangeError(
      `Cannot build conv layer "${type}": only "Conv2d" (alias "Conv") is supported: set conv_cfg to null`,
    );
  }
  return new Conv2d(opts);
}
