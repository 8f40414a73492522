/**
 * Faster R-CNN figures: RoIAlign forward and backward throughput (RoIs/s at the R-50 RoI head's
 * shapes: 1,024 RoIs of 7×7 from a 256-channel FPN level; scaled down on a fallback adapter), and
 * one training iteration (RPN, proposals, RoI sampling and targets, RoIAlign, losses, backward,
 * SGD) and one inference pass of the tiny shapes config (batch 8, 128×128) and — on a real GPU —
 * of `faster_rcnn_r50_fpn_1x_coco` at batch 2, 800×1216: ms, images/s, dispatches, peak memory.
 *
 * @module
 */
import * as F from "../lib/autograd/functional.ts";
import { roiAlignLevels } from "../lib/autograd/roi_align.ts";
import { backward } from "../lib/autograd/tape.ts";
import { Tensor, tidy } from "../lib/autograd/tensor.ts";
import { buildModel } from "../lib/apis/common.ts";
import { applyCfgOptions, loadConfig } from "../lib/config/mod.ts";
import { getGpu } from "../lib/gpu/runtime.ts";
import type { BaseDetector, ImgMeta } from "../lib/models/detectors/base.ts";
import { skipInit } from "../lib/nn/init.ts";
import { buildOptimizer } from "../lib/runner/optimizers/builder.ts";
import type { BenchRecord } from "./_types.ts";

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function batch(n: number, h: number, w: number, gts: number) {
  const r = rng(7);
  const img = Float32Array.from({ length: n * 3 * h * w }, () => r() * 2 - 1);
  const metas: ImgMeta[] = [], boxes: Float32Array[] = [], labels: Int32Array[] = [];
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
      const s = 12 + r() * Math.min(h, w) / 3, x = r() * (w - s), y = r() * (h - s);
      bx.set([x, y, x + s, y + s], g * 4);
      lb[g] = g % 3;
    }
    boxes.push(bx);
    labels.push(lb);
  }
  return { img, shape: [n, 3, h, w], metas, boxes, labels };
}

async function roiAlignBench(fallback: boolean, records: BenchRecord[]): Promise<void> {
  const gpu = getGpu();
  const [K, C, H, W] = fallback ? [256, 32, 50, 76] : [1024, 256, 200, 304];
  const r = rng(3);
  const x = Tensor.from(Float32Array.from({ length: C * H * W }, () => r() - 0.5), [1, C, H, W], {
    requiresGrad: true,
  });
  const rois = new Float32Array(K * 5);
  for (let k = 0; k < K; k++) {
    const s = 8 + r() * 200, x0 = r() * (4 * W - s), y0 = r() * (4 * H - s);
    rois.set([0, x0, y0, x0 + s, y0 + s], k * 5);
  }
  const rt = Tensor.from(rois, [K, 5]);
  const opts = { outputSize: [7, 7] as [number, number], spatialScales: [0.25] };
  const run = (withBackward: boolean) =>
    tidy(() => {
      const y = roiAlignLevels([x], rt, opts);
      if (withBackward) backward(F.sum(y));
      x.grad?.dispose();
      x.grad = null;
    });
  for (const withBackward of [false, true]) {
    run(withBackward);
    await gpu.sync();
    const iters = fallback ? 3 : 20;
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) run(withBackward);
    await gpu.sync();
    const ms = (performance.now() - t0) / iters;
    const what = withBackward ? "forward + backward" : "forward";
    records.push({
      name: `RoIAlign ${what} (${K} RoIs, 7×7, C ${C}, ${H}×${W}, sampling 0)`,
      value: (K * 1000) / ms,
      unit: "RoIs/s",
      notes: `${ms.toFixed(2)} ms`,
    });
  }
  x.dispose();
  rt.dispose();
}

async function timeModel(
  name: string,
  det: BaseDetector,
  b: ReturnType<typeof batch>,
  iters: number,
  records: BenchRecord[],
): Promise<void> {
  const gpu = getGpu();
  const opt = buildOptimizer(det, { type: "SGD", lr: 0.001, momentum: 0.9, weight_decay: 1e-4 });
  det.train();
  const step = () => {
    gpu.beginIteration();
    tidy(() => {
      const img = Tensor.from(b.img, b.shape);
      const out = det.trainStep({
        img,
        img_metas: b.metas,
        gt_bboxes: b.boxes,
        gt_labels: b.labels,
      });
      opt.zeroGrad();
      backward(out.loss);
      opt.step();
    });
  };
  step();
  await gpu.sync();
  gpu.pool.resetPeak();
  const s0 = gpu.stats();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) step();
  await gpu.sync();
  const ms = (performance.now() - t0) / iters;
  const s1 = gpu.stats();
  records.push({
    name: `${name} train dispatches per iteration`,
    value: (s1.dispatches - s0.dispatches) / iters,
    unit: "count",
  });
  records.push({
    name: `${name} train readbacks per iteration`,
    value: (s1.readbacks - s0.readbacks) / iters,
    unit: "count",
  });
  records.push({ name: `${name} train iteration`, value: ms, unit: "ms" });
  records.push({
    name: `${name} train throughput`,
    value: (b.shape[0] * 1000) / ms,
    unit: "images/s",
  });
  records.push({
    name: `${name} train peak GPU memory`,
    value: gpu.stats().peakBytesLive / 2 ** 20,
    unit: "MiB",
  });
  det.eval();
  const n = b.shape[0];
  const img1 = b.img.subarray(0, b.img.length / n), shape1 = [1, ...b.shape.slice(1)];
  const infer = async () => {
    const img = Tensor.from(img1, shape1);
    await det.simpleTest(img, [b.metas[0]], { rescale: true });
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

/** The suite's records. */
export async function run(opts: { fallback: boolean }): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  await roiAlignBench(opts.fallback, records);
  const tiny = await loadConfig(
    new URL("../configs/faster_rcnn/faster_rcnn_tiny_shapes.ts", import.meta.url),
  );
  const det = buildModel(tiny, 0);
  await timeModel(
    "tiny Faster R-CNN (R-18/16, batch 8, 128×128)",
    det,
    batch(8, 128, 128, 4),
    opts.fallback ? 3 : 20,
    records,
  );
  det.dispose();
  if (!opts.fallback) {
    const r50 = await loadConfig(
      new URL("../configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.ts", import.meta.url),
    );
    applyCfgOptions(r50, ["model.backbone.init_cfg=None"], { warn: () => {} });
    const big = skipInit(() => buildModel(r50));
    await timeModel(
      "Faster R-CNN R-50-FPN (batch 2, 800×1216)",
      big,
      batch(2, 800, 1216, 20),
      10,
      records,
    );
    big.dispose();
  }
  return records;
}
