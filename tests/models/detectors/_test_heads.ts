/**
 * Heads for detector tests, registered in `HEADS`:
 * - `PlainRetinaHead`: RetinaHead's forward (4×(conv3×3 + ReLU) towers, `retina_cls`,
 *   `retina_reg`, mmdet's module names) without targets or losses — lets detector parity run
 *   before/independently of `lib/models/dense_heads/`.
 * - `ToyHead`: a 1×1 conv head with a fake loss dict and fixed detections, to test the detector's
 *   plumbing (input checks, `parseLosses`, `bbox2result`, `augTest` dispatch).
 */
import * as F from "../../../lib/autograd/functional.ts";
import type { Tensor } from "../../../lib/autograd/tensor.ts";
import { Conv2d } from "../../../lib/nn/conv.ts";
import { ConvModule } from "../../../lib/nn/conv_module.ts";
import { normalInit } from "../../../lib/nn/init.ts";
import { Module, ModuleList } from "../../../lib/nn/module.ts";
import { HEADS } from "../../../lib/models/registry.ts";
import type { HeadDetections } from "../../../lib/models/detectors/single_stage.ts";
import type { ImgMeta, LossDict } from "../../../lib/models/detectors/base.ts";

interface HeadCfg {
  num_classes: number;
  in_channels: number;
  feat_channels?: number;
  stacked_convs?: number;
  anchor_generator?: { scales_per_octave?: number; ratios?: number[] };
  train_cfg?: unknown;
  test_cfg?: unknown;
  [k: string]: unknown;
}

/** RetinaHead's layers and forward, nothing else. */
export class PlainRetinaHead extends Module {
  readonly numClasses: number;
  readonly cls: ModuleList<ConvModule>;
  readonly reg: ModuleList<ConvModule>;
  readonly retinaCls: Conv2d;
  readonly retinaReg: Conv2d;
  readonly trainCfg: unknown;
  readonly testCfg: unknown;

  constructor(cfg: HeadCfg) {
    super();
    const feat = cfg.feat_channels ?? 256, n = cfg.stacked_convs ?? 4;
    const a = (cfg.anchor_generator?.scales_per_octave ?? 3) *
      (cfg.anchor_generator?.ratios?.length ?? 3);
    this.numClasses = cfg.num_classes;
    this.trainCfg = cfg.train_cfg;
    this.testCfg = cfg.test_cfg;
    const tower = () =>
      new ModuleList(
        Array.from({ length: n }, (_, i) =>
          new ConvModule({
            inChannels: i ? feat : cfg.in_channels,
            outChannels: feat,
            kernelSize: 3,
            padding: 1,
          })),
      );
    this.cls = this.registerModule("cls_convs", tower());
    this.reg = this.registerModule("reg_convs", tower());
    this.retinaCls = this.registerModule(
      "retina_cls",
      new Conv2d({ inChannels: feat, outChannels: a * cfg.num_classes, kernelSize: 3, padding: 1 }),
    );
    this.retinaReg = this.registerModule(
      "retina_reg",
      new Conv2d({ inChannels: feat, outChannels: a * 4, kernelSize: 3, padding: 1 }),
    );
    for (const m of [...this.cls.items, ...this.reg.items]) normalInit(m.conv, { std: 0.01 });
    normalInit(this.retinaCls, { std: 0.01, bias: -4.59511985013459 });
    normalInit(this.retinaReg, { std: 0.01 });
  }

  forward(feats: Tensor[]): [Tensor[], Tensor[]] {
    const cls: Tensor[] = [], reg: Tensor[] = [];
    for (const x of feats) {
      let c = x, r = x;
      for (const m of this.cls.items) c = m.forward(c);
      for (const m of this.reg.items) r = m.forward(r);
      cls.push(this.retinaCls.forward(c));
      reg.push(this.retinaReg.forward(r));
    }
    return [cls, reg];
  }

  forwardTrain(): LossDict {
    throw new TypeError("PlainRetinaHead has no losses");
  }

  simpleTest(): HeadDetections[] {
    throw new TypeError("PlainRetinaHead has no post-processing");
  }
}

/** What `ToyHead` saw, for assertions. */
export const toyCalls: {
  gtBboxes?: Float32Array[];
  gtLabels?: Int32Array[];
  ignore?: unknown;
  metas?: ImgMeta[];
  rescale?: boolean;
  augFeats?: number;
} = {};

/** A 1×1 conv head with a fake loss dict and fixed detections. */
export class ToyHead extends Module {
  readonly numClasses: number;
  readonly conv: Conv2d;
  readonly withAug: boolean;
  readonly trainCfg: unknown;

  constructor(cfg: HeadCfg & { with_aug?: boolean }) {
    super();
    this.numClasses = cfg.num_classes;
    this.withAug = cfg.with_aug ?? false;
    this.trainCfg = cfg.train_cfg;
    this.conv = this.registerModule(
      "conv",
      new Conv2d({ inChannels: cfg.in_channels, outChannels: 2, kernelSize: 1 }),
    );
    if (this.withAug) (this as unknown as { augTest: unknown }).augTest = this.#augTest;
  }

  forward(feats: Tensor[]): [Tensor[], Tensor[]] {
    const outs = feats.map((f) => this.conv.forward(f));
    return [outs, outs];
  }

  forwardTrain(
    x: Tensor[],
    imgMetas: ImgMeta[],
    gtBboxes: Float32Array[],
    gtLabels: Int32Array[],
    ignore?: unknown,
  ): LossDict {
    Object.assign(toyCalls, { gtBboxes, gtLabels, ignore, metas: imgMetas });
    const [outs] = this.forward(x);
    return {
      loss_cls: outs.map((o) => F.mul(o, o)),
      loss_bbox: F.abs(outs[0]),
      acc: F.full([1], 0.75),
    };
  }

  simpleTest(feats: Tensor[], imgMetas: ImgMeta[], opts: { rescale?: boolean }): HeadDetections[] {
    toyCalls.rescale = opts.rescale;
    toyCalls.metas = imgMetas;
    void feats;
    return imgMetas.map((_, i) => ({
      bboxes: Float32Array.of(0, 0, 4, 4, 0.9, 1, 1, 2, 2 + i, 0.5),
      labels: Int32Array.of(1, 0),
    }));
  }

  #augTest = (
    featsList: Tensor[][],
    imgMetasList: ImgMeta[][],
    opts: { rescale?: boolean },
  ): Promise<HeadDetections[]> => {
    toyCalls.augFeats = featsList.length;
    return Promise.resolve(this.simpleTest(featsList[0], imgMetasList[0], opts));
  };
}

HEADS.register("PlainRetinaHead", PlainRetinaHead);
HEADS.register("ToyHead", ToyHead);
