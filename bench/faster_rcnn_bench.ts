/**
 * Faster R-CNN figures: RoIAlign forward and backward throughput (RoIs/s at the R-50 RoI head's
 * shapes: 1,024 RoIs of 7×7 from a 256-channel FPN level; scaled down on a fallback adapter), and
 * one training iteration (RPN, proposals, RoI sampling and targets, RoIAlign, losses, backward,
 * SGD) and one inference pass of the tiny shapes config (batch 8, 128×128) and — on a real GPU —
 * of `faster_rcnn_r50_fpn_1x_coco` at batch 2, 800×1216: ms, images/s, dispatches and readbacks,
 * peak memory; inference also with flip test-time augmentation (`augTest`, 2 augmentations).
 * torchvision (`tools/peer_torch.py faster_rcnn`: `fasterrcnn_resnet50_fpn` laid out as the mmdet
 * config, and `roi_align`) is measured in the same run when a `python3` with torch is there: on a
 * real GPU at the R-50 shapes (CUDA when the machine has it), on a fallback adapter RoIAlign only.
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
import { runTorchPeer } from "./_peer.ts";
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

/** `[K, C, H, W]` of the RoIAlign rows. */
const roiShape = (fallback: boolean) => fallback ? [256, 32, 50, 76] : [1024, 256, 200, 304];

async function roiAlignBench(fallback: boolean, records: BenchRecord[]): Promise<void> {
  const gpu = getGpu();
  const [K, C, H, W] = roiShape(fallback);
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
    records.push({
      name: roiName(withBackward, [K, C, H, W]),
      value: (K * 1000) / ms,
      unit: "RoIs/s",
      notes: `${ms.toFixed(2)} ms`,
    });
  }
  x.dispose();
  rt.dispose();
}

function roiName(withBackward: boolean, [K, C, H, W]: number[]): string {
  const what = withBackward ? "forward + backward" : "forward";
  return `RoIAlign ${what} (${K} RoIs, 7×7, C ${C}, ${H}×${W}, sampling 0)`;
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
  const s2 = gpu.stats();
  const t1 = performance.now();
  for (let i = 0; i < iters; i++) await infer();
  const s3 = gpu.stats();
  records.push({
    name: `${name} inference (1 image, with NMS)`,
    value: (performance.now() - t1) / iters,
    unit: "ms",
    notes: `${((s3.dispatches - s2.dispatches) / iters).toFixed(0)} dispatches, ${
      ((s3.readbacks - s2.readbacks) / iters).toFixed(0)
    } readbacks`,
  });
  // flip test-time augmentation: mmdet's aug_test (proposals merged over both, boxes averaged)
  const flipped = new Float32Array(img1.length);
  const [, c, h, w] = shape1;
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        flipped[(ch * h + y) * w + x] = img1[(ch * h + y) * w + (w - 1 - x)];
      }
    }
  }
  const flipMeta: ImgMeta = { ...b.metas[0], flip: true, flip_direction: "horizontal" };
  const aug = async () => {
    const a = Tensor.from(img1, shape1), f = Tensor.from(flipped, shape1);
    await det.forwardTest([a, f], [[{ ...b.metas[0] }], [{ ...flipMeta }]], { rescale: true });
    a.dispose();
    f.dispose();
  };
  await aug();
  const s4 = gpu.stats();
  const t2 = performance.now();
  for (let i = 0; i < iters; i++) await aug();
  const s5 = gpu.stats();
  records.push({
    name: `${name} inference with flip TTA (augTest, 2 augmentations)`,
    value: (performance.now() - t2) / iters,
    unit: "ms",
    notes: `${((s5.dispatches - s4.dispatches) / iters).toFixed(0)} dispatches, ${
      ((s5.readbacks - s4.readbacks) / iters).toFixed(0)
    } readbacks`,
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
  const r50Name = "Faster R-CNN R-50-FPN (batch 2, 800×1216)";
  if (!opts.fallback) {
    const r50 = await loadConfig(
      new URL("../configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.ts", import.meta.url),
    );
    applyCfgOptions(r50, ["model.backbone.init_cfg=None"], { warn: () => {} });
    const big = skipInit(() => buildModel(r50));
    await timeModel(r50Name, big, batch(2, 800, 1216, 20), 10, records);
    big.dispose();
  }
  // torchvision in the same run: the R-50 model on a real GPU, RoIAlign at this run's shape
  const peer = await runTorchPeer([
    "faster_rcnn",
    "--roi",
    roiShape(opts.fallback).join(","),
    ...(opts.fallback ? ["--roi-only", "--device", "cpu"] : ["--batch", "2"]),
  ]);
  if (peer) attachPeer(records, peer, r50Name, roiShape(opts.fallback));
  return records;
}

/** Puts the torchvision figures next to the matching wgdet rows. */
function attachPeer(
  records: BenchRecord[],
  // deno-lint-ignore no-explicit-any
  peer: any,
  r50Name: string,
  roi: number[],
): void {
  const label = `torchvision ${peer.torchvision} (torch ${peer.torch}) on ${peer.device}`;
  const set = (name: string, peerValue: number | null | undefined) => {
    const r = records.find((x) => x.name === name);
    if (!r || !(typeof peerValue === "number" && peerValue > 0)) return;
    Object.assign(r, { peer: label, peerValue, ratio: r.value / peerValue });
  };
  const K = roi[0];
  set(roiName(false, roi), (K * 1000) / peer.roi_align.forward_ms);
  set(roiName(true, roi), (K * 1000) / peer.roi_align.forward_backward_ms);
  if (peer.train_ms) {
    set(`${r50Name} train iteration`, peer.train_ms);
    set(`${r50Name} train throughput`, (2 * 1000) / peer.train_ms);
    set(`${r50Name} train peak GPU memory`, peer.peak_mib);
    set(`${r50Name} inference (1 image, with NMS)`, peer.infer_ms);
    const r = records.find((x) => x.name === `${r50Name} train iteration`);
    if (r) r.notes = `${peer.model}, ${peer.params} parameters`;
  }
}
