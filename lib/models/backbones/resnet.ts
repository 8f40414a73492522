/**
 * mmdetection's `ResNet` backbone (depths 18/34/50/101/152) with `BasicBlock`/`Bottleneck`,
 * `frozen_stages`, `norm_eval`, and torchvision/mmdet parameter names (`conv1.weight`, `bn1.*`,
 * `layer1.0.conv1.weight`, `layer1.0.downsample.0.weight`, `layer1.0.downsample.1.*`, …), so
 * torchvision ImageNet checkpoints load by name.
 *
 * @module
 */
import type { Tensor } from "../../autograd/tensor.ts";
import { buildConvLayer, Conv2d, type ConvCfg } from "../../nn/conv.ts";
import { convNorm, convNormAddRelu, sequentialConvNorm } from "../../nn/conv_bn.ts";
import { constantInit, kaimingInit } from "../../nn/init.ts";
import { MaxPool2d, Sequential } from "../../nn/layers.ts";
import { Module } from "../../nn/module.ts";
import {
  BatchNorm2d,
  buildNormLayer,
  GroupNorm,
  type NormCfg,
  type NormLayer,
} from "../../nn/norm.ts";
import { BACKBONES } from "../registry.ts";

/**
 * Options shared by both residual blocks. Block convs are created without drawing initial values:
 * `ResNet.initWeights` initialises every conv and norm.
 */
export interface BlockOptions {
  /** Input channels of the block. */
  inplanes: number;
  /** Base width of the block; the output has `planes · expansion` channels. */
  planes: number;
  /**
   * Spatial stride of the block (default 1); on the first conv of BasicBlock, on the 3×3 (pytorch)
   * or first 1×1 (caffe) conv of Bottleneck.
   */
  stride?: number;
  /** Dilation (and padding) of the 3×3 conv (default 1). */
  dilation?: number;
  /**
   * Shortcut projection (1×1 conv + norm) when the stride or channel count changes; null for
   * identity.
   */
  downsample?: Sequential | null;
  /** Where Bottleneck puts the stride: "pytorch" (3×3 conv, default) or "caffe" (first 1×1). */
  style?: "pytorch" | "caffe";
  /** Conv layer config (`null`: plain `Conv2d`). */
  convCfg?: ConvCfg | null;
  /** Norm layer config (default `{ type: "BN", requires_grad: true }`). */
  normCfg?: NormCfg;
}

/** A residual block: what `ResLayer` stacks. */
export interface ResBlock extends Module {
  /** `[N, inplanes, H, W]` → `[N, planes·expansion, H/stride, W/stride]`. */
  forward(x: Tensor): Tensor;
  /** The norm zeroed by `zero_init_residual` (BasicBlock `bn2`, Bottleneck `bn3`). */
  readonly lastNorm: NormLayer;
}

const DEFAULT_NORM: NormCfg = { type: "BN", requires_grad: true };

/** Two 3×3 convs (expansion 1): conv1 (stride, dilation) → bn1 → ReLU → conv2 → bn2, + shortcut, ReLU. */
export class BasicBlock extends Module implements ResBlock {
  /** Output channels per `planes`. */
  static readonly expansion = 1;
  /** First 3×3 conv (`inplanes` → `planes`, carries the stride). */
  readonly conv1: Conv2d;
  /** Norm after `conv1` (applied with fused ReLU). */
  readonly bn1: NormLayer;
  /** Second 3×3 conv (`planes` → `planes`). */
  readonly conv2: Conv2d;
  /** Norm after `conv2`, before the residual add. */
  readonly bn2: NormLayer;
  /** Shortcut projection, or null for identity. */
  readonly downsample: Sequential | null;

  /** Builds the block; weights are left for `ResNet.initWeights`. */
  constructor(o: BlockOptions) {
    super();
    const norm = o.normCfg ?? DEFAULT_NORM, d = o.dilation ?? 1;
    this.conv1 = this.registerModule(
      "conv1",
      buildConvLayer(o.convCfg, {
        inChannels: o.inplanes,
        outChannels: o.planes,
        kernelSize: 3,
        stride: o.stride ?? 1,
        padding: d,
        dilation: d,
        bias: false,
        init: false,
      }),
    );
    this.bn1 = this.#norm(norm, o.planes, 1);
    this.conv2 = this.registerModule(
      "conv2",
      buildConvLayer(o.convCfg, {
        inChannels: o.planes,
        outChannels: o.planes,
        kernelSize: 3,
        padding: 1,
        bias: false,
        init: false,
      }),
    );
    this.bn2 = this.#norm(norm, o.planes, 2);
    this.downsample = o.downsample ? this.registerModule("downsample", o.downsample) : null;
  }

  #norm(cfg: NormCfg, c: number, postfix: number): NormLayer {
    const [name, layer] = buildNormLayer(cfg, c, { postfix });
    return this.registerModule(name, layer);
  }

  get lastNorm(): NormLayer {
    return this.bn2;
  }

  /** `[N, inplanes, H, W]` → `[N, planes, H/stride, W/stride]`. */
  forward(x: Tensor): Tensor {
    // an evaluation-mode BN (norm_eval, frozen stages, inference) folds into its conv
    const h = convNorm(this.conv1, this.bn1, x, "relu");
    const identity = this.downsample ? sequentialConvNorm(this.downsample, x) : x;
    return convNormAddRelu(this.conv2, this.bn2, h, identity);
  }
}

/**
 * 1×1 → 3×3 → 1×1 (expansion 4). Style "pytorch" puts the stride on the 3×3 conv, "caffe" on
 * the first 1×1.
 */
export class Bottleneck extends Module implements ResBlock {
  /** Output channels per `planes`. */
  static readonly expansion = 4;
  /** First 1×1 conv (`inplanes` → `planes`; stride in caffe style). */
  readonly conv1: Conv2d;
  /** Norm after `conv1` (applied with fused ReLU). */
  readonly bn1: NormLayer;
  /** 3×3 conv (`planes` → `planes`; stride in pytorch style, dilation). */
  readonly conv2: Conv2d;
  /** Norm after `conv2` (applied with fused ReLU). */
  readonly bn2: NormLayer;
  /** Last 1×1 conv (`planes` → `4·planes`). */
  readonly conv3: Conv2d;
  /** Norm after `conv3`, before the residual add. */
  readonly bn3: NormLayer;
  /** Shortcut projection, or null for identity. */
  readonly downsample: Sequential | null;

  /** Builds the block; weights are left for `ResNet.initWeights`. */
  constructor(o: BlockOptions) {
    super();
    const norm = o.normCfg ?? DEFAULT_NORM, d = o.dilation ?? 1, s = o.stride ?? 1;
    const [s1, s2] = (o.style ?? "pytorch") === "pytorch" ? [1, s] : [s, 1];
    const conv = (name: string, opts: Parameters<typeof buildConvLayer>[1]) =>
      this.registerModule(name, buildConvLayer(o.convCfg, opts));
    const bn = (c: number, postfix: number) => {
      const [name, layer] = buildNormLayer(norm, c, { postfix });
      return this.registerModule(name, layer);
    };
    this.conv1 = conv("conv1", {
      inChannels: o.inplanes,
      outChannels: o.planes,
      kernelSize: 1,
      stride: s1,
      bias: false,
      init: false,
    });
    this.bn1 = bn(o.planes, 1);
    this.conv2 = conv("conv2", {
      inChannels: o.planes,
      outChannels: o.planes,
      kernelSize: 3,
      stride: s2,
      padding: d,
      dilation: d,
      bias: false,
      init: false,
    });
    this.bn2 = bn(o.planes, 2);
    this.conv3 = conv("conv3", {
      inChannels: o.planes,
      outChannels: o.planes * 4,
      kernelSize: 1,
      bias: false,
      init: false,
    });
    this.bn3 = bn(o.planes * 4, 3);
    this.downsample = o.downsample ? this.registerModule("downsample", o.downsample) : null;
  }

  get lastNorm(): NormLayer {
    return this.bn3;
  }

  /** `[N, inplanes, H, W]` → `[N, 4·planes, H/stride, W/stride]`. */
  forward(x: Tensor): Tensor {
    // an evaluation-mode BN (norm_eval, frozen stages, inference) folds into its conv
    let out = convNorm(this.conv1, this.bn1, x, "relu");
    out = convNorm(this.conv2, this.bn2, out, "relu");
    const identity = this.downsample ? sequentialConvNorm(this.downsample, x) : x;
    return convNormAddRelu(this.conv3, this.bn3, out, identity);
  }
}

type BlockCtor = (new (o: BlockOptions) => ResBlock) & { expansion: number };

/** Blocks and blocks-per-stage of each depth. */
export const ARCH_SETTINGS: Record<number, [BlockCtor, number[]]> = {
  18: [BasicBlock, [2, 2, 2, 2]],
  34: [BasicBlock, [3, 4, 6, 3]],
  50: [Bottleneck, [3, 4, 6, 3]],
  101: [Bottleneck, [3, 4, 23, 3]],
  152: [Bottleneck, [3, 8, 36, 3]],
};

/** mmdetection's `ResNet` config (snake_case keys as in the config files). */
export interface ResNetCfg {
  /** Network depth: 18, 34, 50, 101 or 152. */
  depth: number;
  /** Input image channels (default 3). */
  in_channels?: number;
  /** Default: `base_channels`. */
  stem_channels?: number | null;
  /** Width of the first stage (64; narrow CPU variants use e.g. 8). */
  base_channels?: number;
  /** Number of stages, 1..4 (default 4). */
  num_stages?: number;
  /** Stride of the first block of each stage (default `[1, 2, 2, 2]`). */
  strides?: number[];
  /** Dilation of each stage (default `[1, 1, 1, 1]`). */
  dilations?: number[];
  /** Stages whose outputs `forward` returns (default `[0, 1, 2, 3]`). */
  out_indices?: number[];
  /** Where Bottleneck puts the stride (default "pytorch"). */
  style?: "pytorch" | "caffe";
  /** Must be false: the deep stem is not supported. */
  deep_stem?: boolean;
  /** Must be false: average-pool downsampling is not supported. */
  avg_down?: boolean;
  /** −1: nothing frozen; k ≥ 0: the stem and stages 1..k (eval mode, no gradients). */
  frozen_stages?: number;
  /** Conv layer config (`null`: plain `Conv2d`). */
  conv_cfg?: ConvCfg | null;
  /** Norm layer config (default `{ type: "BN", requires_grad: true }`). */
  norm_cfg?: NormCfg;
  /** Keep every BN in eval mode during training (running statistics untouched). */
  norm_eval?: boolean;
  /** Must be null: deformable convs are not supported. */
  dcn?: unknown;
  /** Must be all false (deformable convs are not supported). */
  stage_with_dcn?: boolean[];
  /** Must be null: plugins are not supported. */
  plugins?: unknown;
  /** Must be false: checkpointing is not supported. */
  with_cp?: boolean;
  /** Zero the last norm of every block at init (default true). */
  zero_init_residual?: boolean;
  /** Accepted: the checkpoint is loaded by the caller (`loadStateDict`), never fetched here. */
  pretrained?: string | null;
  /** Accepted, as `pretrained`. */
  init_cfg?: unknown;
  /** Registry name (`"ResNet"`). */
  type?: string;
}

/**
 * The ResNet backbone. `forward(x)` returns the outputs of the stages in `out_indices`
 * (C2..C5 for `[0, 1, 2, 3]`, strides 4, 8, 16, 32, channels `base_channels·2^i·expansion`).
 *
 * @example
 * ```ts ignore
 * import { BACKBONES } from "../registry.ts";
 * const r = BACKBONES.build({ type: "ResNet", depth: 18, base_channels: 8, frozen_stages: 1 });
 * const [c2, c3, c4, c5] = r.forward(img); // img: [N, 3, H, W]
 * ```
 */
export class ResNet extends Module {
  /** Network depth (18, 34, 50, 101 or 152). */
  readonly depth: number;
  /** Stages whose outputs `forward` returns. */
  readonly outIndices: number[];
  /** Frozen stages: −1 none, k ≥ 0 the stem and stages 1..k. */
  readonly frozenStages: number;
  /** Whether BN layers stay in eval mode while training. */
  readonly normEval: boolean;
  /** Whether `initWeights` zeroes the last norm of every block. */
  readonly zeroInitResidual: boolean;
  /** Stem 7×7 stride-2 conv. */
  readonly conv1: Conv2d;
  /** Stem norm (applied with fused ReLU). */
  readonly bn1: NormLayer;
  /** Stem 3×3 stride-2 max pool. */
  readonly maxpool: MaxPool2d;
  /** The stages `layer1..layerN`, each a `Sequential` of blocks. */
  readonly resLayers: Sequential[] = [];
  /** Output channels of every stage. */
  readonly stageChannels: number[] = [];

  /**
   * Builds and initialises the network; throws `RangeError` for unsupported or out-of-range
   * options.
   */
  constructor(cfg: ResNetCfg) {
    super();
    const arch = ARCH_SETTINGS[cfg.depth];
    if (!arch) {
      throw new RangeError(
        `Cannot build ResNet: invalid depth ${cfg.depth}: use one of ${
          Object.keys(ARCH_SETTINGS).join(", ")
        }`,
      );
    }
    for (const key of ["deep_stem", "avg_down", "with_cp"] as const) {
      if (cfg[key]) {
        throw new RangeError(
          `Cannot build ResNet: ${key}=true is not supported: set ${key} to false`,
        );
      }
    }
    if (cfg.dcn || cfg.plugins || cfg.stage_with_dcn?.some(Boolean)) {
      throw new RangeError(
        "Cannot build ResNet: dcn and plugins are not supported: set dcn and plugins to null",
      );
    }
    const [block, stageBlocks] = arch;
    const numStages = cfg.num_stages ?? 4;
    const strides = cfg.strides ?? [1, 2, 2, 2];
    const dilations = cfg.dilations ?? [1, 1, 1, 1];
    const outIndices = cfg.out_indices ?? [0, 1, 2, 3];
    if (!(numStages >= 1 && numStages <= 4)) {
      throw new RangeError(`Cannot build ResNet: num_stages ${numStages} must lie in [1, 4]`);
    }
    if (strides.length !== numStages || dilations.length !== numStages) {
      throw new RangeError(
        `Cannot build ResNet: strides (${strides.length}) and dilations (${dilations.length}) must have num_stages (${numStages}) entries`,
      );
    }
    if (outIndices.some((i) => !Number.isInteger(i) || i < 0 || i >= numStages)) {
      throw new RangeError(
        `Cannot build ResNet: out_indices ${
          JSON.stringify(outIndices)
        } must lie in [0, ${numStages})`,
      );
    }
    this.depth = cfg.depth;
    this.outIndices = [...outIndices];
    this.frozenStages = cfg.frozen_stages ?? -1;
    this.normEval = cfg.norm_eval ?? true;
    this.zeroInitResidual = cfg.zero_init_residual ?? true;
    const style = cfg.style ?? "pytorch";
    if (style !== "pytorch" && style !== "caffe") {
      throw new RangeError(`Cannot build ResNet: style "${style}" is not "pytorch" or "caffe"`);
    }
    const baseChannels = cfg.base_channels ?? 64;
    const stemChannels = cfg.stem_channels ?? baseChannels;
    const normCfg = cfg.norm_cfg ?? DEFAULT_NORM;
    const convCfg = cfg.conv_cfg ?? null;

    // 1. stem: 7×7/2 conv, norm, ReLU, 3×3/2 max pool
    this.conv1 = this.registerModule(
      "conv1",
      buildConvLayer(convCfg, {
        inChannels: cfg.in_channels ?? 3,
        outChannels: stemChannels,
        kernelSize: 7,
        stride: 2,
        padding: 3,
        bias: false,
        init: false,
      }),
    );
    const [n1, bn1] = buildNormLayer(normCfg, stemChannels, { postfix: 1 });
    this.bn1 = this.registerModule(n1, bn1);
    this.maxpool = new MaxPool2d({ kernelSize: 3, stride: 2, padding: 1 });

    // 2. stages layer1..layerN; the first block of each carries the stride and the shortcut conv
    let inplanes = stemChannels;
    for (let i = 0; i < numStages; i++) {
      const planes = baseChannels * 2 ** i;
      const out = planes * block.expansion;
      let downsample: Sequential | null = null;
      if (strides[i] !== 1 || inplanes !== out) {
        downsample = new Sequential([
          buildConvLayer(convCfg, {
            inChannels: inplanes,
            outChannels: out,
            kernelSize: 1,
            stride: strides[i],
            bias: false,
            init: false,
          }),
          buildNormLayer(normCfg, out)[1],
        ]);
      }
      const layer = new Sequential();
      for (let b = 0; b < stageBlocks[i]; b++) {
        layer.push(
          new block({
            inplanes: b === 0 ? inplanes : out,
            planes,
            stride: b === 0 ? strides[i] : 1,
            dilation: dilations[i],
            downsample: b === 0 ? downsample : null,
            style,
            convCfg,
            normCfg,
          }),
        );
      }
      this.resLayers.push(this.registerModule(`layer${i + 1}`, layer));
      this.stageChannels.push(out);
      inplanes = out;
    }
    this.initWeights();
    this.#freezeStages();
  }

  /**
   * mmdet's init without a pretrained checkpoint: every conv kaiming-normal (fan_out, relu),
   * every norm weight 1 / bias 0, then (`zero_init_residual`) the last norm of each block 0.
   */
  initWeights(): void {
    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) kaimingInit(m);
      else if (m instanceof BatchNorm2d || m instanceof GroupNorm) constantInit(m, 1);
    }
    if (this.zeroInitResidual) {
      for (const layer of this.resLayers) {
        for (const b of layer.items as unknown as ResBlock[]) constantInit(b.lastNorm, 0);
      }
    }
  }

  /** The stem and stages `1..frozen_stages`: eval mode and no gradients. */
  #freezeStages(): void {
    if (this.frozenStages < 0) return;
    const frozen: Module[] = [this.conv1, this.bn1, ...this.resLayers.slice(0, this.frozenStages)];
    for (const m of frozen) {
      m.eval();
      for (const p of m.parameters()) p.requiresGrad = false;
    }
  }

  /** Sets the mode, then re-applies freezing and (in training) `norm_eval`, as mmdet. */
  override train(mode = true): this {
    super.train(mode);
    this.#freezeStages();
    if (mode && this.normEval) {
      for (const [, m] of this.namedModules()) if (m instanceof BatchNorm2d) m.eval();
    }
    return this;
  }

  /** `[N, C_in, H, W]` → the stage outputs in `out_indices` order. */
  forward(x: Tensor): Tensor[] {
    x = this.maxpool.forward(convNorm(this.conv1, this.bn1, x, "relu"));
    const outs: Tensor[] = [];
    this.resLayers.forEach((layer, i) => {
      x = layer.forward(x);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }
}

BACKBONES.register("ResNet", ResNet);
