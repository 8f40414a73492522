/**
 * mmdetection's `SSDNeck` (v2.25) and `L2Norm`: the first input is L2-normalised across channels
 * and scaled per channel (weight initialised to `l2_norm_scale`), then extra levels are built from
 * the last input, each a 1×1 `ConvModule` to half the channels and a 3×3 `ConvModule` with the
 * level's stride and padding (the last one `last_kernel_size`). Keys are mmdet's:
 * `neck.l2_norm.weight`, `neck.extra_layers.i.0.conv.weight`, `neck.extra_layers.i.1.conv.bias`.
 *
 * @module
 */
import * as F from "../../autograd/functional.ts";
import { Tensor } from "../../autograd/tensor.ts";
import type { ConvCfg } from "../../nn/conv.ts";
import { ConvModule } from "../../nn/conv_module.ts";
import { assignTensor, constantInit, isInitSkipped, xavierInit } from "../../nn/init.ts";
import { type ActCfg, Sequential } from "../../nn/layers.ts";
import { Module, ModuleList } from "../../nn/module.ts";
import type { NormCfg } from "../../nn/norm.ts";
import { NECKS } from "../registry.ts";

/**
 * mmdet's `L2Norm`: `weight[c] · x / (‖x‖₂ over channels + eps)` per pixel. Where a pixel's
 * channels are all zero the gradient through the norm is taken as 0 (PyTorch's would be NaN).
 */
export class L2Norm extends Module {
  /** Channels. */
  readonly nDims: number;
  /** Initial value of every weight. */
  readonly scale: number;
  /** Added to the norm (default 1e-10). */
  readonly eps: number;

  /** Registers `weight` `[n_dims]` filled with `scale`. */
  constructor(nDims: number, scale = 20.0, eps = 1e-10) {
    super();
    this.nDims = nDims;
    this.scale = scale;
    this.eps = eps;
    this.registerParameter("weight", Tensor.zeros([nDims], { label: "l2_norm.weight" }));
    this.initWeights();
  }

  /** Every weight = `scale`. */
  initWeights(): void {
    if (isInitSkipped()) return;
    assignTensor(this.param("weight"), new Float32Array(this.nDims).fill(this.scale));
  }

  /** `[N, C, H, W]` → `[N, C, H, W]`. */
  forward(x: Tensor): Tensor {
    const C = x.shape[1];
    if (C !== this.nDims) {
      throw new TypeError(`Cannot apply L2Norm(${this.nDims}) to a map with ${C} channels`);
    }
    const s = F.sum(F.mul(x, x), 1, true);
    const norm = F.addScalar(F.sqrt(F.clamp(s, 1e-30, 3.0e38)), this.eps);
    const w = F.reshape(this.param("weight"), [1, C, 1, 1]);
    return F.div(F.mul(x, w), norm);
  }
}

/** Config of `SSDNeck`, with mmdetection's keys and defaults. */
export interface SSDNeckCfg {
  /** Registry name (`"SSDNeck"`). */
  type?: string;
  /** Channels of the backbone outputs. */
  in_channels: number[];
  /** Channels of every output: the inputs' (unchanged), then the extra levels'. */
  out_channels: number[];
  /** Stride of each extra level's 3×3 conv. */
  level_strides: number[];
  /** Padding of each extra level's 3×3 conv. */
  level_paddings: number[];
  /** L2Norm scale of the first input; 0 or null: no L2Norm (default 20). */
  l2_norm_scale?: number | null;
  /** Kernel of the last extra level's second conv (default 3). */
  last_kernel_size?: number;
  /** Depthwise-separable second convs (SSD-Lite): not supported. */
  use_depthwise?: boolean;
  /** Conv layer config. */
  conv_cfg?: ConvCfg | null;
  /** Norm config of the extra convs (default none). */
  norm_cfg?: NormCfg | null;
  /** Activation (default ReLU). */
  act_cfg?: ActCfg | null;
  /** Accepted and ignored: convs are xavier-uniform initialised, L2Norm to its scale. */
  init_cfg?: unknown;
}

/** The SSD neck: `forward(inputs)` → `out_channels.length` maps. */
export class SSDNeck extends Module {
  /** The L2Norm of the first input, or null. */
  readonly l2Norm: L2Norm | null = null;
  /** Per extra level: 1×1 then 3×3 `ConvModule` (`extra_layers.i.0`, `extra_layers.i.1`). */
  readonly extraLayers: ModuleList<Sequential>;
  /** Channels of the backbone outputs. */
  readonly inChannels: number[];

  /** Builds and initialises the neck; throws for inconsistent channel/stride lists. */
  constructor(cfg: SSDNeckCfg) {
    super();
    const { in_channels: inC, out_channels: outC, level_strides: st, level_paddings: pd } = cfg;
    const bad = (msg: string) => {
      throw new RangeError(`Cannot build SSDNeck: ${msg}`);
    };
    if (!Array.isArray(inC) || !Array.isArray(outC) || !(outC.length > inC.length)) {
      bad(
        `out_channels ${JSON.stringify(outC)} must be longer than in_channels ${
          JSON.stringify(inC)
        }`,
      );
    }
    if (!Array.isArray(st) || st.length !== outC.length - inC.length) {
      bad(
        `level_strides ${JSON.stringify(st)} needs one entry per extra level (${
          outC.length - inC.length
        })`,
      );
    }
    if (!Array.isArray(pd) || pd.length !== st.length) {
      bad(`level_paddings ${JSON.stringify(pd)} must have as many entries as level_strides`);
    }
    if (inC.some((c, i) => c !== outC[i])) {
      bad(
        `out_channels ${JSON.stringify(outC)} must start with in_channels ${JSON.stringify(inC)}`,
      );
    }
    if (cfg.use_depthwise) bad("use_depthwise (SSD-Lite) is not supported: set it to false");
    this.inChannels = inC;
    const scale = cfg.l2_norm_scale === undefined ? 20.0 : cfg.l2_norm_scale;
    if (scale) this.l2Norm = this.registerModule("l2_norm", new L2Norm(inC[0], scale));
    const extra = outC.slice(inC.length);
    const act = cfg.act_cfg === undefined ? { type: "ReLU" } : cfg.act_cfg;
    const lastK = cfg.last_kernel_size ?? 3;
    this.extraLayers = this.registerModule("extra_layers", new ModuleList<Sequential>());
    extra.forEach((oc, i) => {
      const common = { convCfg: cfg.conv_cfg, normCfg: cfg.norm_cfg, actCfg: act, init: false };
      this.extraLayers.push(
        new Sequential([
          new ConvModule({
            inChannels: outC[inC.length - 1 + i],
            outChannels: Math.floor(oc / 2),
            kernelSize: 1,
            ...common,
          }),
          new ConvModule({
            inChannels: Math.floor(oc / 2),
            outChannels: oc,
            kernelSize: i === extra.length - 1 ? lastK : 3,
            stride: st[i],
            padding: pd[i],
            ...common,
          }),
        ]),
      );
    });
    this.initWeights();
  }

  /** mmdet's `init_cfg`: xavier-uniform convs (bias 0), norms 1/0, L2Norm weight = scale. */
  initWeights(): void {
    for (const seq of this.extraLayers.items) {
      for (const m of seq.items as ConvModule[]) {
        xavierInit(m.conv, { distribution: "uniform" });
        if (m.norm) constantInit(m.norm, 1);
      }
    }
    this.l2Norm?.initWeights();
  }

  /** Backbone maps → the L2-normalised first map, the other inputs, then the extra levels. */
  forward(inputs: Tensor | Tensor[]): Tensor[] {
    const outs = Array.isArray(inputs) ? [...inputs] : [inputs];
    if (outs.length !== this.inChannels.length) {
      throw new TypeError(
        `Cannot apply SSDNeck: ${outs.length} inputs for in_channels ${
          JSON.stringify(this.inChannels)
        }`,
      );
    }
    if (this.l2Norm) outs[0] = this.l2Norm.forward(outs[0]);
    let feat = outs[outs.length - 1];
    for (const layer of this.extraLayers.items) {
      feat = layer.forward(feat);
      outs.push(feat);
    }
    return outs;
  }
}

NECKS.register("SSDNeck", SSDNeck);
