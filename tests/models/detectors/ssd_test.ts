import { assert } from "../../_assert.ts";
import { gpuTest } from "../../_gpu.ts";
import { loadConfig } from "../../../lib/config/mod.ts";
import { skipInit } from "../../../lib/nn/init.ts";
import "../../../lib/models/mod.ts";
import { buildDetector } from "../../../lib/models/builder.ts";
import type { SingleStageDetector } from "../../../lib/models/detectors/single_stage.ts";
import type { SSDHead } from "../../../lib/models/dense_heads/ssd_head.ts";

/**
 * mmdetection's ssd300_coco (80 classes), counted with plain PyTorch modules by
 * tools/gen_ssd_fixtures.py (`ssd300_param_count`): VGG16 convs 14,714,688 + conv6 4,719,616 +
 * conv7 1,049,600 + L2Norm 512 + extra layers 2,459,520 + head 11,361,270.
 */
const SSD300_COCO_PARAMS = 34_305_206;

gpuTest(
  "configs/ssd/ssd300_coco.ts builds mmdetection's SSD300: 34,305,206 parameters, anchors [4, 6, 6, 6, 4, 4], mmdet keys",
  async () => {
    const cfg = await loadConfig(new URL("../../../configs/ssd/ssd300_coco.ts", import.meta.url));
    const model = skipInit(() =>
      buildDetector(cfg.dict.model as never)
    ) as unknown as SingleStageDetector;
    const params = model.namedParameters();
    const total = params.reduce((s, [, p]) => s + p.size, 0);
    assert.equal(total, SSD300_COCO_PARAMS);
    const head = model.bboxHead as unknown as SSDHead;
    assert.deepEqual(head.levelNumAnchors, [4, 6, 6, 6, 4, 4]);
    assert.equal(head.clsOutChannels, 81);
    const names = new Set(params.map(([n]) => n));
    for (
      const k of [
        "backbone.features.0.weight",
        "backbone.features.31.weight",
        "backbone.features.33.bias",
        "neck.l2_norm.weight",
        "neck.extra_layers.0.0.conv.weight",
        "neck.extra_layers.3.1.conv.bias",
        "bbox_head.cls_convs.0.0.weight",
        "bbox_head.reg_convs.5.0.bias",
      ]
    ) assert.ok(names.has(k), k);
    const shape = (k: string) => params.find(([n]) => n === k)![1].shape;
    assert.deepEqual(shape("bbox_head.cls_convs.1.0.weight"), [6 * 81, 1024, 3, 3]);
    assert.deepEqual(shape("bbox_head.reg_convs.5.0.weight"), [4 * 4, 256, 3, 3]);
    assert.deepEqual(shape("neck.extra_layers.3.1.conv.weight"), [256, 128, 3, 3]);
    assert.equal(model.pretrained, "open-mmlab://vgg16_caffe");
    // 300×300 input: feature maps 38, 19, 10, 5, 3, 1 → 8,732 anchors
    const sizes = [38, 19, 10, 5, 3, 1].map((s) => [s, s] as [number, number]);
    assert.equal(head.getAnchors(sizes).anchors.shape[0], 8732);
    model.dispose();
  },
);
