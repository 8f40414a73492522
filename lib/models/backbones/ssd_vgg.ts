/**
 * mmdetection's `SSDVGG` backbone (mmdet v2.25 on mmcv's `VGG`): the VGG conv stages without
 * batch norm (3×3 convs + ReLU, 2×2 stride-2 max pools with `ceil_mode`), then SSD's pool5 (3×3,
 * stride 1, padding 1), the dilated conv6 (3×3, 1024, dilation 6) and conv7 (1×1, 1024), each
 * with a ReLU. All layers sit in one `features` sequence, so state-dict keys are mmdet's
 * (`backbone.features.0.weight`, …, `backbone.features.33.bias`); the outputs are the layers at
 * `out_feature_indices` (22: conv4_3's ReLU, 34: conv7's ReLU).
 *
 * @module
 */
import type { Tensor } from "../../autograd/tensor.ts";
import { Conv2d } from "../../nn/conv.ts";
import { kaimingInit } from "../../nn/init.ts";
import { type Forward1, MaxPool2d, ReLU, Sequential } from "../../nn/layers.ts";
import { Module } from "../../nn/module.ts";
import { BACKBONES } from "../registry.ts";

/** Blocks per stage of mmcv's VGG depths. */
export const VGG_ARCH_SETTINGS: Record<number, number[]> = {
  11: [1, 1, 2, 2, 2],
  13: [2, 2, 2, 2, 2],
  16: [2, 2, 3, 3, 3],
  19: [2, 2, 4, 4, 4],
};

/** Config of `SSDVGG`, with mmdetection's keys and defaults. */
export interface SSDVGGCfg {
  /** Registry name (`"SSDVGG"`). */
  type?: string;
  /** VGG depth: 11, 13, 16 or 19. */
  depth: number;
  /** Keep the max pool after the last stage (default false). */
  with_last_pool?: boolean;
  /** Max pools round their output size up (default true). */
  ceil_mode?: boolean;
  /** Stage indices of mmcv's VGG (validated; SSDVGG outputs by `out_feature_indices`). */
  out_indices?: number[];
  /** Indices into `features` whose outputs are returned (default `[22, 34]`). */
  out_feature_indices?: number[];
  /** Deprecated by mmdetection (moved to `SSDNeck`): refused here. */
  l2_norm_scale?: number | null;
  /** Deprecated by mmdetection: accepted and ignored. */
  input_size?: number | null;
  /** Path of a checkpoint the caller loads (never fetched here). */
  pretrained?: string | null;
  /** `{type: "Pretrained", checkpoint}` is loaded by the caller; otherwise kaiming init. */
  init_cfg?: unknown;
  /** mmcv VGG's stages; only 5 is supported. */
  num_stages?: number;
  /** mmcv VGG's `with_bn`: only false (SSD) is supported. */
  with_bn?: boolean;
  /** mmcv VGG's `frozen_stages`: only −1 is supported. */
  frozen_stages?: number;
  /** mmcv VGG's classifier: only −1 (none) is supported. */
  num_classes?: number;
}

/**
 * The SSD VGG backbone: `forward(x)` `[N, 3, H, W]` → the outputs of `out_feature_indices`
 * (for SSD300: `[N, 512, 38, 38]` and `[N, 1024, 19, 19]`).
 */
export class SSDVGG extends Module {
  /** The layers, child `features` (`"0"`, `"1"`, …). */
  readonly features: Sequential;
  /** Indices of `features` whose outputs are returned. */
  readonly outFeatureIndices: number[];

  /** Builds the layers and initialises every conv kaiming-normal (fan_out, relu), bias 0. */
  constructor(cfg: SSDVGGCfg) {
    super();
    const stages = VGG_ARCH_SETTINGS[cfg.depth];
    if (!stages) {
      throw new RangeError(
        `Cannot build SSDVGG: depth ${cfg.depth} is not one of 11, 13, 16, 19`,
      );
    }
    const refuse = (key: string, value: unknown, fix: string) => {
      throw new RangeError(`Cannot build SSDVGG: ${key} ${JSON.stringify(value)}: ${fix}`);
    };
    if ((cfg.num_stages ?? 5) !== 5) refuse("num_stages", cfg.num_stages, "only 5 is supported");
    if (cfg.with_bn) refuse("with_bn", cfg.with_bn, "only false (SSD's VGG) is supported");
    if ((cfg.frozen_stages ?? -1) !== -1) {
      refuse("frozen_stages", cfg.frozen_stages, "only -1 is supported");
    }
    if ((cfg.num_classes ?? -1) !== -1) {
      refuse("num_classes", cfg.num_classes, "the VGG classifier is not supported: use -1");
    }
    if (cfg.l2_norm_scale != null) {
      refuse(
        "l2_norm_scale",
        cfg.l2_norm_scale,
        "it moved to SSDNeck (mmdetection ≥ 2.13): set neck.l2_norm_scale instead",
      );
    }
    const outIndices = cfg.out_indices ?? [3, 4];
    if (!outIndices.every((i) => Number.isInteger(i) && i >= 0 && i < 5)) {
      refuse("out_indices", outIndices, "stage indices must lie in [0, 5)");
    }
    const ceilMode = cfg.ceil_mode ?? true;
    const withLastPool = cfg.with_last_pool ?? false;
    const layers: Forward1[] = [];
    let inCh = 3;
    stages.forEach((blocks, s) => {
      const outCh = 64 * 2 ** Math.min(s, 3);
      for (let b = 0; b < blocks; b++) {
        layers.push(
          new Conv2d({
            inChannels: inCh,
            outChannels: outCh,
            kernelSize: 3,
            padding: 1,
            init: false,
          }),
          new ReLU(),
        );
        inCh = outCh;
      }
      if (s < stages.length - 1 || withLastPool) {
        layers.push(new MaxPool2d({ kernelSize: 2, stride: 2, ceilMode }));
      }
    });
    layers.push(
      new MaxPool2d({ kernelSize: 3, stride: 1, padding: 1 }),
      new Conv2d({
        inChannels: 512,
        outChannels: 1024,
        kernelSize: 3,
        padding: 6,
        dilation: 6,
        init: false,
      }),
      new ReLU(),
      new Conv2d({ inChannels: 1024, outChannels: 1024, kernelSize: 1, init: false }),
      new ReLU(),
    );
    this.features = this.registerModule("features", new Sequential(layers));
    this.outFeatureIndices = cfg.out_feature_indices ?? [22, 34];
    for (const i of this.outFeatureIndices) {
      if (!Number.isInteger(i) || i < 0 || i >= layers.length) {
        refuse(
          "out_feature_indices",
          this.outFeatureIndices,
          `indices must lie in [0, ${layers.length})`,
        );
      }
    }
    this.initWeights();
  }

  /** mmdet's default `init_cfg`: kaiming-normal convs (fan_out, relu), bias 0. */
  initWeights(): void {
    for (const m of this.features.items) if (m instanceof Conv2d) kaimingInit(m);
  }

  /** `x` `[N, 3, H, W]` → the maps at `outFeatureIndices`, in order. */
  forward(x: Tensor): Tensor[] {
    const outs: Tensor[] = [];
    const items = this.features.items;
    const want = new Set(this.outFeatureIndices);
    for (let i = 0; i < items.length; i++) {
      const m = items[i];
      if (m instanceof Conv2d && items[i + 1] instanceof ReLU && !want.has(i)) {
        x = m.forward(x, "relu"); // conv + ReLU fused
        i++;
      } else {
        x = m.forward(x);
      }
      if (want.has(i)) outs.push(x);
    }
    return outs;
  }
}

BACKBONES.register("SSDVGG", SSDVGG);
