/**
 * mmdetection's `RetinaHead` (Lin et al., "Focal Loss for Dense Object Detection"): two towers of
 * `stacked_convs` 3×3 `ConvModule`s (classification and regression), then `retina_cls` and
 * `retina_reg`, shared by every pyramid level.
 *
 * @module
 */
import type { Tensor } from "../../autograd/tensor.ts";
import { Conv2d, type ConvCfg } from "../../nn/conv.ts";
import { ConvModule } from "../../nn/conv_module.ts";
import { biasInitWithProb, normalInit } from "../../nn/init.ts";
import { ModuleList } from "../../nn/module.ts";
import type { NormCfg } from "../../nn/norm.ts";
import type { TypedCfg } from "../../utils/registry.ts";
import { HEADS } from "../registry.ts";
import { AnchorHead, type AnchorHeadCfg } from "./anchor_head.ts";

/** Config of `RetinaHead`: `AnchorHead`'s keys plus the towers'. */
export interface RetinaHeadCfg extends AnchorHeadCfg {
  /** 3×3 convs per tower (default 4). */
  stacked_convs?: number;
  /** Conv layer config of the tower convs (`null`: plain `Conv2d`). */
  conv_cfg?: ConvCfg | null;
  /** Norm config of the tower convs (default none). */
  norm_cfg?: NormCfg | null;
}

const RETINA_ANCHORS: TypedCfg = {
  type: "AnchorGenerator",
  octave_base_scale: 4,
  scales_per_octave: 3,
  ratios: [0.5, 1.0, 2.0],
  strides: [8, 16, 32, 64, 128],
};

/**
 * RetinaNet's head. State-dict keys are mmdetection's: `cls_convs.0.conv.weight`,
 * `reg_convs.3.conv.bias`, `retina_cls.weight`, `retina_reg.bias` (prefixed `bbox_head.` in a
 * detector).
 *
 * @example
 * ```ts ignore
 * const head = new RetinaHead({ num_classes: 80, in_channels: 256, loss_cls: { type: "FocalLoss",
 *   use_sigmoid: true, gamma: 2, alpha: 0.25, loss_weight: 1 }, loss_bbox: { type: "L1Loss" } });
 * const [clsScores, bboxPreds] = head.forward(feats); // per level [N, 9·80, H, W], [N, 36, H, W]
 * ```
 */
export class RetinaHead extends AnchorHead {
  /** 3×3 convs per tower. */
  declare readonly stackedConvs: number;
  /** Conv layer config of the tower convs. */
  declare readonly convCfg: ConvCfg | null;
  /** Norm config of the tower convs. */
  declare readonly normCfg: NormCfg | null;
  /** Classification tower (`cls_convs.i`): 3×3 `ConvModule`s with ReLU. */
  declare clsConvs: ModuleList<ConvModule>;
  /** Regression tower (`reg_convs.i`): 3×3 `ConvModule`s with ReLU. */
  declare regConvs: ModuleList<ConvModule>;
  /** 3×3 conv to `[N, A·C, H, W]` class scores (`retina_cls`). */
  declare retinaCls: Conv2d;
  /** 3×3 conv to `[N, A·4, H, W]` box deltas (`retina_reg`). */
  declare retinaReg: Conv2d;

  /**
   * Builds the head; the anchor generator defaults to RetinaNet's (octave base scale 4, 3 scales
   * per octave, ratios `[0.5, 1, 2]`, strides 8..128).
   */
  constructor(cfg: RetinaHeadCfg) {
    // initLayers runs inside super(): it reads the tower settings from `this.cfg`
    super({ ...cfg, anchor_generator: cfg.anchor_generator ?? RETINA_ANCHORS });
  }

  /** The towers, `retina_cls` and `retina_reg`. */
  override initLayers(): void {
    const cfg = this.cfg as RetinaHeadCfg;
    const stacked = cfg.stacked_convs ?? 4;
    if (!Number.isInteger(stacked) || stacked < 0) {
      throw new RangeError(
        `Cannot build RetinaHead: stacked_convs must be a non-negative integer, got ${stacked}`,
      );
    }
    Object.assign(this, {
      stackedConvs: stacked,
      convCfg: cfg.conv_cfg ?? null,
      normCfg: cfg.norm_cfg ?? null,
    });
    this.clsConvs = this.registerModule("cls_convs", new ModuleList<ConvModule>());
    this.regConvs = this.registerModule("reg_convs", new ModuleList<ConvModule>());
    for (let i = 0; i < stacked; i++) {
      const chn = i === 0 ? this.inChannels : this.featChannels;
      for (const list of [this.clsConvs, this.regConvs]) {
        list.push(
          new ConvModule({
            inChannels: chn,
            outChannels: this.featChannels,
            kernelSize: 3,
            stride: 1,
            padding: 1,
            convCfg: this.convCfg,
            normCfg: this.normCfg,
          }),
        );
      }
    }
    const inC = stacked > 0 ? this.featChannels : this.inChannels;
    this.retinaCls = this.registerModule(
      "retina_cls",
      new Conv2d({
        inChannels: inC,
        outChannels: this.numAnchors * this.clsOutChannels,
        kernelSize: 3,
        padding: 1,
      }),
    );
    this.retinaReg = this.registerModule(
      "retina_reg",
      new Conv2d({ inChannels: inC, outChannels: this.numAnchors * 4, kernelSize: 3, padding: 1 }),
    );
  }

  /** Tower convs and `retina_reg` N(0, 0.01²) with bias 0; `retina_cls` bias −4.59512 (prior 0.01). */
  override initWeights(): void {
    for (const m of [...this.clsConvs.items, ...this.regConvs.items]) {
      normalInit(m.conv, { std: 0.01 });
    }
    normalInit(this.retinaCls, { std: 0.01, bias: biasInitWithProb(0.01) });
    normalInit(this.retinaReg, { std: 0.01 });
  }

  /** One level: both towers (conv + ReLU each), then the two output convs. */
  override forwardSingle(x: Tensor): [Tensor, Tensor] {
    let clsFeat = x, regFeat = x;
    for (const c of this.clsConvs.items) clsFeat = c.forward(clsFeat);
    for (const c of this.regConvs.items) regFeat = c.forward(regFeat);
    return [this.retinaCls.forward(clsFeat), this.retinaReg.forward(regFeat)];
  }
}

HEADS.register("RetinaHead", RetinaHead);
