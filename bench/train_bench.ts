/**
 * Whole-model figures: one training iteration (forward, targets, losses, backward, SGD) and one
 * inference pass, in ms, images/s and peak pooled GPU memory, for the tiny config (batch 8,
 * 128×128) and — on a real GPU — the R-50 RetinaNet at batch 2, 800×1216.
 */
import { backward } from "../lib/autograd/tape.ts";
import { Tensor, tidy } from "../lib/autograd/tensor.ts";
import { applyCfgOptions, loadConfig } from "../lib/config/mod.ts";
import { buildModel } from "../lib/apis/common.ts";
import { getGpu } from "../lib/gpu/runtime.ts";
import type { BaseDetector, ImgMeta } from "../lib/models/detectors/base.ts";
import { buildOptimizer } from "../lib/runner/optimizers/builder.ts";
import { skipInit } from "../lib/nn/init.ts";
import type { BenchRecord } from "./_types.ts";
import { runTorchPeer } from "./_peer.ts";

function fakeBatch(n: number, h: number, w: number, gts: number) {
  const img = new Float32Array(n * 3 * h * w);
  let s = 1;
  for (let i = 0; i < img.length; i++) {
    img[i] = ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  }
  const metas: ImgMeta[] = [];
  const boxes: Float32Array[] = [], labels: Int32Array[] = [];
  for (let b = 0; b < n; b++) {
    metas.push({
      img_shape: [h, w, 3],
      pad_shape: [h, w, 3],
      ori_shape: [h, w, 3],
      scale_factor: [1, 1, 1, 1],
      flip: false,
      filename: `bench_${b}`,
    });
    const bx = new Float32Array(gts * 4), lb = new Int32Array(gts);
    for (let g = 0; g < gts; g++) {
      const x = (g * 37) % (w - 40),
        y = (g * 53) % (h - 40),
        sz = 16 + ((g * 13) % Math.min(200, h / 2));
      bx.set([x, y, Math.min(w, x + sz), Math.min(h, y + sz)], g * 4);
      lb[g] = g % 3;
    }
    boxes.push(bx);
    labels.push(lb);
  }
  return { img, shape: [n, 3, h, w], metas, boxes, labels };
}

async function timeModel(
  name: string,
  det: BaseDetector,
  batch: ReturnType<typeof fakeBatch>,
  iters: number,
  records: BenchRecord[],
) {
  const gpu = getGpu();
  const opt = buildOptimizer(det, { type: "SGD", lr: 0.001, momentum: 0.9, weight_decay: 1e-4 });
  det.train();
  const step = () => {
    gpu.beginIteration(); // as the runner's trainStep does
    tidy(() => {
      const img = Tensor.from(batch.img, batch.shape);
      const out = det.trainStep({
        img,
        img_metas: batch.metas,
        gt_bboxes: batch.boxes,
        gt_labels: batch.labels,
      });
      opt.zeroGrad();
      backward(out.loss);
      opt.step();
    });
  };
  step(); // warm up: pipelines, pool
  await gpu.sync();
  gpu.pool.resetPeak();
  const s0 = gpu.stats();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) step();
  await gpu.sync();
  const ms = (performance.now() - t0) / iters;
  const s1 = gpu.stats();
  const dispatches = (s1.dispatches - s0.dispatches) / iters;
  records.push({
    name: `${name} train dispatches per iteration`,
    value: dispatches,
    unit: "count",
  });
  records.push({
    name: `${name} train bind groups reused`,
    value: (100 * (s1.bindGroupHits - s0.bindGroupHits)) / iters / dispatches,
    unit: "%",
  });
  const n = batch.shape[0];
  records.push({ name: `${name} train iteration`, value: ms, unit: "ms" });
  records.push({ name: `${name} train throughput`, value: (n * 1000) / ms, unit: "images/s" });
  records.push({
    name: `${name} train peak GPU memory`,
    value: gpu.stats().peakBytesLive / 2 ** 20,
    unit: "MiB",
  });
  // inference: network + post-processing, one image
  det.eval();
  const one = {
    ...batch,
    img: batch.img.subarray(0, batch.img.length / n),
    shape: [1, ...batch.shape.slice(1)],
    metas: [batch.metas[0]],
  };
  const infer = async () => {
    const img = Tensor.from(one.img, one.shape);
    await det.simpleTest(img, one.metas, { rescale: true });
    img.dispose();
  };
  await infer();
  const t1 = performance.now();
  for (let i = 0; i < iters; i++) await infer();
  records.push({
    name: `${name} inference (1 image, with NMS)`,
    value: (performance.now() - t1) / iters,
    unit: "ms",
  });
  opt.zeroGrad();
  (opt as { dispose?: () => void }).dispose?.();
}

export async function run(opts: { fallback: boolean }): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  const tiny = await loadConfig(
    new URL("../configs/retinanet/retinanet_tiny_shapes.ts", import.meta.url),
  );
  const det = buildModel(tiny, 0);
  await timeModel(
    "tiny RetinaNet (R-18/16, batch 8, 128×128)",
    det,
    fakeBatch(8, 128, 128, 4),
    opts.fallback ? 5 : 20,
    records,
  );
  det.dispose();
  if (!opts.fallback) {
    const r50 = await loadConfig(
      new URL("../configs/retinanet/retinanet_r50_fpn_1x_coco.ts", import.meta.url),
    );
    applyCfgOptions(r50, ["model.backbone.init_cfg=None"], { warn: () => {} });
    const big = skipInit(() => buildModel(r50));
    const name = "RetinaNet R-50-FPN (batch 2, 800×1216)";
    await timeModel(name, big, fakeBatch(2, 800, 1216, 20), 10, records);
    big.dispose();
    // torchvision's retinanet_resnet50_fpn on the same machine, same run (FP32, TF32 off)
    const peer = await runTorchPeer([
      "train",
      "--batch",
      "2",
      "--height",
      "800",
      "--width",
      "1216",
    ]);
    if (peer) {
      const label = `torchvision ${peer.torch} on ${peer.device}`;
      for (const r of records) {
        if (r.name === `${name} train iteration`) {
          Object.assign(r, {
            peer: label,
            peerValue: peer.train_ms,
            ratio: r.value / peer.train_ms,
          });
        } else if (r.name === `${name} inference (1 image, with NMS)`) {
          Object.assign(r, {
            peer: label,
            peerValue: peer.infer_ms,
            ratio: r.value / peer.infer_ms,
          });
        } else if (r.name === `${name} train peak GPU memory` && peer.peak_mib) {
          Object.assign(r, {
            peer: label,
            peerValue: peer.peak_mib,
            ratio: r.value / peer.peak_mib,
          });
        }
      }
    }
  }
  return records;
}
