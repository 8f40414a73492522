/**
 * mmcv's `ConvModule`: conv → norm → activation, with mmcv's child names (`conv`, then the norm
 * by its abbreviation `bn`/`gn`, then `activate`), so keys read `lateral_convs.0.conv.weight`
 * and `….bn.running_mean`.
 *
 * @module
 */
import type { Tensor } from "../autograd/tensor.ts";
import { buildConvLayer, type Conv2d, type Conv2dOptions, type ConvCfg } from "./conv.ts";
import { convNorm } from "./conv_bn.ts";
import { constantInit, kaimingInit } from "./init.ts";
import { type ActCfg, buildActivationLayer } from "./layers.ts";
import { Module } from "./module.ts";
import { buildNormLayer, type NormCfg, type NormLayer } from "./norm.ts";

/** Options of {@linkcode ConvModule}. */
export interface ConvModuleOptions extends Omit<Conv2dOptions, "bias"> {
  /** `"auto"` (default): a bias only when no norm follows. */
  bias?: boolean | "auto";
  convCfg?: ConvCfg | null;
  normCfg?: NormCfg | null;
  /** Default `{type: "ReLU"}`; `null` for no activation. */
  actCfg?: ActCfg | null;
  /** Accepted for mmcv compatibility; activations never run in place here. */
  inplace?: boolean;
  /** Only mmcv's default `["conv", "norm", "act"]` is supported. */
  order?: readonly string[];
  /**
   * Run mmcv's own init (kaiming conv, norm 1/0) at construction (default true). Parents that
   * re-initialise every conv themselves (FPN: xavier; heads: normal) may pass false.
   */
  init?: boolean;
}

/**
 * Conv → norm → act as mmcv's `ConvModule`. The conv is initialised kaiming-normal (fan_out,
 * relu) and the norm to weight 1, bias 0 at construction, as mmcv does; parents may re-init.
 *
 * @example
 * ```ts ignore
 * const m = new ConvModule({ inChannels: 16, outChannels: 16, kernelSize: 3, padding: 1,
 *   normCfg: { type: "BN" } });
 * m.stateTensors().keys(); // conv.weight, bn.weight, bn.bias, bn.running_mean, …
 * ```
 */
export class ConvModule extends Module {
  /** The convolution (child `conv`). */
  readonly conv: Conv2d;
  /** The norm layer (child `bn`/`gn`), or null without `normCfg`. */
  readonly norm: NormLayer | null = null;
  /** Child name of the norm (`"bn"`, `"gn"`), or null. */
  readonly normName: string | null = null;
  /** Whether a ReLU follows (`actCfg` not null; default ReLU). */
  readonly withActivation: boolean;

  /**
   * Builds conv (bias "auto": only without norm), norm and activation; throws `RangeError` for an
   * order other than conv → norm → act.
   */
  constructor(opts: ConvModuleOptions) {
    super();
    const order = opts.order ?? ["conv", "norm", "act"];
    if (order.join(",") !== "conv,norm,act") {
      throw new RangeError(
        `Cannot build ConvModule: order ${
          JSON.stringify(order)
        } is not supported: use ["conv", "norm", "act"]`,
      );
    }
    const withNorm = !!opts.normCfg;
    const bias = opts.bias ?? "auto";
    this.conv = this.registerModule(
      "conv",
      buildConvLayer(opts.convCfg, {
        ...opts,
        bias: bias === "auto" ? !withNorm : bias,
        init: false,
      }),
    );
    if (opts.normCfg) {
      const [name, norm] = buildNormLayer(opts.normCfg, opts.outChannels);
      this.norm = this.registerModule(name, norm);
      this.normName = name;
    }
    const act = opts.actCfg === undefined ? { type: "ReLU" } : opts.actCfg;
    this.withActivation = act !== null;
    if (act) this.registerModule("activate", buildActivationLayer(act));
    if (opts.init ?? true) this.initWeights();
  }

  /** mmcv's own init: kaiming-normal (fan_out, relu) conv, bias 0; norm weight 1, bias 0. */
  initWeights(): void {
    kaimingInit(this.conv, { a: 0, nonlinearity: "relu", mode: "fan_out" });
    if (this.norm) constantInit(this.norm, 1);
  }

  /** `[N, I, H, W]` → `[N, O, H', W']`; `activate: false` skips the activation (mmcv's flag). */
  forward(x: Tensor, activate = true): Tensor {
    const act = this.withActivation && activate ? "relu" : "none";
    // an evaluation-mode BN folds into the conv epilogue (lib/nn/conv_bn.ts)
    return convNorm(this.conv, this.norm, x, act);
  }
}
