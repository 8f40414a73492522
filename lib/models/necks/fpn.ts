/**
 * mmdetection's `FPN` neck (Feature Pyramid Network): 1×1 lateral convs, a top-down pathway with
 * nearest upsampling to the exact size of the lower level, 3×3 output convs, and extra levels by
 * stride-2 convs (`add_extra_convs`) or stride-2 subsampling.
 *
 * @module
 */
import { interpolateNearest, maxPool2d } from "../../autograd/cnn.ts";
import * as F from "../../autograd/functional.ts";
import type { Tensor } from "../../autograd/tensor.ts";
import type { ConvCfg } from "../../nn/conv.ts";
import { ConvModule } from "../../nn/conv_module.ts";
import { xavierInit } from "../../nn/init.ts";
import type { ActCfg } from "../../nn/layers.ts";
import { Module, ModuleList } from "../../nn/module.ts";
import type { NormCfg } from "../../nn/norm.ts";
import { NECKS } from "../registry.ts";

/** Where the first extra conv reads from. */
export type ExtraConvsSource = "on_input" | "on_lateral" | "on_output";

/** mmdetection's `FPN` config. */
export interface FPNCfg {
  /** Channels of each backbone output level. */
  in_channels: number[];
  /** Channels of every output level. */
  out_channels: number;
  /** Number of output levels (backbone levels used plus extra levels). */
  num_outs: number;
  /** First backbone level used (default 0). */
  start_level?: number;
  /**
   * Index of the last backbone level used, inclusive (−1: the last). mmdet ≥ 2.12 semantics;
   * for the default −1 every 2.x version agrees.
   */
  end_level?: number;
  /** `false`; `true` (→ "on_input", or "on_output" with `extra_convs_on_inputs: false`); a source. */
  add_extra_convs?: boolean | ExtraConvsSource;
  /** Deprecated mmdet 2.0 spelling, used only when `add_extra_convs` is `true`. */
  extra_convs_on_inputs?: boolean;
  /** Apply ReLU to the input of every extra conv after the first (default false). */
  relu_before_extra_convs?: boolean;
  /** Build the lateral convs without norm (default false). */
  no_norm_on_lateral?: boolean;
  /** Conv layer config (`null`: plain `Conv2d`). */
  conv_cfg?: ConvCfg | null;
  /** Norm config of the `ConvModule`s (default none). */
  norm_cfg?: NormCfg | null;
  /** Activation config of the `ConvModule`s (default none). */
  act_cfg?: ActCfg | null;
  /** `{mode: "nearest"}` (default) with optional `scale_factor`; other modes are not supported. */
  upsample_cfg?: { mode?: string; scale_factor?: number; [key: string]: unknown };
  /** Accepted and ignored: every conv is xavier-uniform initialised. */
  init_cfg?: unknown;
  /** Registry name (`"FPN"`). */
  type?: string;
}

/**
 * The FPN. `forward(inputs)` takes the backbone outputs (C2..C5, `[N, in_channels[i], H_i, W_i]`)
 * and returns `num_outs` maps `[N, out_channels, H_l, W_l]` (P3..P7 for RetinaNet).
 *
 * Module names are mmdet's: `lateral_convs.i.conv.*` and `fpn_convs.i.conv.*`, the extra convs
 * appended to `fpn_convs`. All convs are xavier-uniform initialised, bias 0.
 */
export class FPN extends Module {
  /** Channels of each backbone output level. */
  readonly inChannels: number[];
  /** Channels of every output level. */
  readonly outChannels: number;
  /** Number of output levels. */
  readonly numOuts: number;
  /** First backbone level used. */
  readonly startLevel: number;
  /** One past the last backbone level used. */
  readonly backboneEndLevel: number;
  /** Source of the first extra conv, or false for stride-2 subsampling (max pool, kernel 1). */
  readonly addExtraConvs: ExtraConvsSource | false;
  /** Whether extra convs after the first get a ReLU on their input. */
  readonly reluBeforeExtraConvs: boolean;
  /**
   * Fixed upsampling factor of the top-down pathway, or null to upsample to the lower level's size.
   */
  readonly upsampleScale: number | null;
  /** 1×1 lateral convs, one per backbone level used (`lateral_convs.i`). */
  readonly lateralConvs: ModuleList<ConvModule>;
  /** 3×3 output convs, then the stride-2 extra convs (`fpn_convs.i`). */
  readonly fpnConvs: ModuleList<ConvModule>;

  /**
   * Builds and initialises the neck; throws `TypeError`/`RangeError` for invalid levels, sources or
   * upsampling modes.
   */
  constructor(cfg: FPNCfg) {
    super();
    const inChannels = cfg.in_channels;
    if (!Array.isArray(inChannels) || inChannels.length === 0) {
      throw new TypeError(
        `Cannot build FPN: in_channels must be a non-empty list, got ${JSON.stringify(inChannels)}`,
      );
    }
    const numIns = inChannels.length;
    const startLevel = cfg.start_level ?? 0;
    const endLevel = cfg.end_level ?? -1;
    const numOuts = cfg.num_outs;
    if (!Number.isInteger(startLevel) || startLevel < 0 || startLevel >= numIns) {
      throw new RangeError(
        `Cannot build FPN: start_level ${startLevel} must lie in [0, ${numIns})`,
      );
    }
    if (endLevel === -1 || endLevel === numIns - 1) {
      this.backboneEndLevel = numIns;
      if (!(numOuts >= numIns - startLevel)) {
        throw new RangeError(
          `Cannot build FPN: num_outs ${numOuts} must be at least the ${
            numIns - startLevel
          } backbone levels used`,
        );
      }
    } else {
      if (!(endLevel >= startLevel && endLevel < numIns)) {
        throw new RangeError(
          `Cannot build FPN: end_level ${endLevel} must lie in [start_level ${startLevel}, ${numIns})`,
        );
      }
      this.backboneEndLevel = endLevel + 1;
      if (numOuts !== endLevel - startLevel + 1) {
        throw new RangeError(
          `Cannot build FPN: num_outs ${numOuts} must equal end_level − start_level + 1 = ${
            endLevel - startLevel + 1
          } when end_level is not the last level`,
        );
      }
    }
    let extra = cfg.add_extra_convs ?? false;
    if (extra === true) extra = cfg.extra_convs_on_inputs ?? true ? "on_input" : "on_output";
    if (extra !== false && !["on_input", "on_lateral", "on_output"].includes(extra)) {
      throw new RangeError(
        `Cannot build FPN: add_extra_convs "${extra}" must be false, true, "on_input", "on_lateral" or "on_output"`,
      );
    }
    const mode = cfg.upsample_cfg?.mode ?? "nearest";
    if (mode !== "nearest") {
      throw new RangeError(
        `Cannot build FPN: upsample_cfg.mode "${mode}" is not supported: use "nearest"`,
      );
    }
    this.upsampleScale = cfg.upsample_cfg?.scale_factor ?? null;
    this.inChannels = [...inChannels];
    this.outChannels = cfg.out_channels;
    this.numOuts = numOuts;
    this.startLevel = startLevel;
    this.addExtraConvs = extra;
    this.reluBeforeExtraConvs = cfg.relu_before_extra_convs ?? false;

    // ConvModule's own kaiming init is skipped: initWeights() re-initialises every conv (xavier)
    const common = {
      convCfg: cfg.conv_cfg ?? null,
      normCfg: cfg.norm_cfg ?? null,
      actCfg: cfg.act_cfg ?? null,
      init: false,
    };
    const out = cfg.out_channels;
    this.lateralConvs = this.registerModule("lateral_convs", new ModuleList<ConvModule>());
    this.fpnConvs = this.registerModule("fpn_convs", new ModuleList<ConvModule>());
    for (let i = startLevel; i < this.backboneEndLevel; i++) {
      this.lateralConvs.push(
        new ConvModule({
          ...common,
          inChannels: inChannels[i],
          outChannels: out,
          kernelSize: 1,
          normCfg: cfg.no_norm_on_lateral ? null : common.normCfg,
        }),
      );
      this.fpnConvs.push(
        new ConvModule({ ...common, inChannels: out, outChannels: out, kernelSize: 3, padding: 1 }),
      );
    }
    const extraLevels = numOuts - this.backboneEndLevel + startLevel;
    if (extra && extraLevels >= 1) {
      for (let i = 0; i < extraLevels; i++) {
        const cin = i === 0 && extra === "on_input" ? inChannels[this.backboneEndLevel - 1] : out;
        this.fpnConvs.push(
          new ConvModule({
            ...common,
            inChannels: cin,
            outChannels: out,
            kernelSize: 3,
            stride: 2,
            padding: 1,
          }),
        );
      }
    }
    this.initWeights();
  }

  /** mmdet's init: every conv xavier-uniform (gain 1), bias 0. */
  initWeights(): void {
    for (const m of [...this.lateralConvs.items, ...this.fpnConvs.items]) {
      xavierInit(m.conv, { distribution: "uniform" });
    }
  }

  /** Backbone outputs → `num_outs` pyramid levels. */
  forward(inputs: readonly Tensor[]): Tensor[] {
    if (inputs.length !== this.inChannels.length) {
      throw new TypeError(
        `Cannot run FPN: got ${inputs.length} inputs, expected ${this.inChannels.length} (in_channels ${
          JSON.stringify(this.inChannels)
        })`,
      );
    }
    // 1. laterals
    const laterals = this.lateralConvs.items.map((conv, i) =>
      conv.forward(inputs[i + this.startLevel])
    );
    // 2. top-down: upsample to the exact size of the level below (or by scale_factor) and add
    const used = laterals.length;
    for (let i = used - 1; i > 0; i--) {
      const [h, w] = laterals[i - 1].shape.slice(2);
      const up = this.upsampleScale !== null
        ? interpolateNearest(laterals[i], { scaleFactor: this.upsampleScale })
        : interpolateNearest(laterals[i], { size: [h, w] });
      laterals[i - 1] = F.add(laterals[i - 1], up);
    }
    // 3. output convs
    const outs = laterals.map((l, i) => this.fpnConvs.items[i].forward(l));
    // 4. extra levels
    if (this.numOuts > used) {
      if (!this.addExtraConvs) {
        // mmdet's max_pool2d(kernel 1, stride 2): plain stride-2 subsampling
        for (let i = 0; i < this.numOuts - used; i++) {
          outs.push(maxPool2d(outs[outs.length - 1], { kernelSize: 1, stride: 2 }));
        }
      } else {
        const source = this.addExtraConvs === "on_input"
          ? inputs[this.backboneEndLevel - 1]
          : this.addExtraConvs === "on_lateral"
          ? laterals[used - 1]
          : outs[used - 1];
        outs.push(this.fpnConvs.items[used].forward(source));
        for (let i = used + 1; i < this.numOuts; i++) {
          const prev = outs[outs.length - 1];
          outs.push(
            this.fpnConvs.items[i].forward(this.reluBeforeExtraConvs ? F.relu(prev) : prev),
          );
        }
      }
    }
    return outs;
  }
}

NECKS.register("FPN", FPN);
