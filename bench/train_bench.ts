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
import process from "node:process";

/** A deterministic fake batch: `n` images of h×w noise with `gts` boxes each. */
export function fakeBatch(n: number, h: number, w: number, gts: number) {
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

/** Median, min and max of `xs`. */
function spread(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return {
    median: s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2,
    min: s[0],
    max: s[s.length - 1],
  };
}

/** Warm-up steps before timing (pipelines compiled, pool filled, bind groups cached). */
const WARMUP = 3;

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
  for (let i = 0; i < WARMUP; i++) step();
  await gpu.sync();
  gpu.pool.resetPeak();
  const s0 = gpu.stats();
  // each step is timed on its own (record, then wait for the GPU): the median is robust to the
  // other processes sharing the CPU, which the mean of a batch of steps is not
  const wall: number[] = [], host: number[] = [], cpu: number[] = [];
  for (let i = 0; i < iters; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    step();
    const t1 = performance.now();
    await gpu.sync();
    const t2 = performance.now();
    const c1 = process.cpuUsage(c0);
    wall.push(t2 - t0);
    host.push(t1 - t0);
    cpu.push((c1.user + c1.system) / 1000);
  }
  const s1 = gpu.stats();
  const per = (k: "dispatches" | "copies" | "clears" | "submits") => (s1[k] - s0[k]) / iters;
  const w = spread(wall);
  const n = batch.shape[0];
  records.push({
    name: `${name} train iteration`,
    value: w.median,
    unit: "ms",
    notes: `median of ${iters} steps after ${WARMUP} warm-up; min ${w.min.toFixed(1)}, max ${
      w.max.toFixed(1)
    }`,
  });
  records.push({ name: `${name} train iteration min`, value: w.min, unit: "ms" });
  records.push({ name: `${name} train iteration max`, value: w.max, unit: "ms" });
  records.push({
    name: `${name} train host recording`,
    value: spread(host).median,
    unit: "ms",
    notes: "median time to record one step (before the GPU wait)",
  });
  records.push({
    name: `${name} train process CPU time`,
    value: spread(cpu).median,
    unit: "ms",
    notes: "user + system CPU of the whole process per step (a software adapter's work included)",
  });
  records.push({
    name: `${name} train dispatches per iteration`,
    value: per("dispatches"),
    unit: "count",
  });
  records.push({ name: `${name} train copies per iteration`, value: per("copies"), unit: "count" });
  records.push({ name: `${name} train clears per iteration`, value: per("clears"), unit: "count" });
  records.push({
    name: `${name} train submits per iteration`,
    value: per("submits"),
    unit: "count",
  });
  records.push({
    name: `${name} train bind groups reused`,
    value: (100 * (s1.bindGroupHits - s0.bindGroupHits)) / iters / per("dispatches"),
    unit: "%",
  });
  records.push({
    name: `${name} train throughput`,
    value: (n * 1000) / w.median,
    unit: "images/s",
  });
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
  const inf: number[] = [];
  for (let i = 0; i < Math.min(iters, 10); i++) {
    const t1 = performance.now();
    await infer();
    inf.push(performance.now() - t1);
  }
  const f = spread(inf);
  records.push({
    name: `${name} inference (1 image, with NMS)`,
    value: f.median,
    unit: "ms",
    notes: `median of ${inf.length}; min ${f.min.toFixed(1)}, max ${f.max.toFixed(1)}`,
  });
  opt.zeroGrad();
  (opt as { dispose?: () => void }).dispose?.();
}

/** Number of parameter elements of `det`. */
function paramCount(det: BaseDetector): number {
  let n = 0;
  for (const t of det.parameters()) n += t.size;
  return n;
}

/** Iterations of the tiny train bench: `WGDET_BENCH_ITERS` or 30. */
function tinyIters(): number {
  const v = Number(Deno.env.get("WGDET_BENCH_ITERS") ?? 30);
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`WGDET_BENCH_ITERS must be a positive integer, got ${v}`);
  }
  return v;
}

export async function run(opts: { fallback: boolean }): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  const tiny = await loadConfig(
    new URL("../configs/retinanet/retinanet_tiny_shapes.ts", import.meta.url),
  );
  const det = buildModel(tiny, 0);
  const tinyName = "tiny RetinaNet (R-18/16, batch 8, 128×128)";
  const iters = tinyIters();
  await timeModel(tinyName, det, fakeBatch(8, 128, 128, 4), iters, records);
  const params = paramCount(det);
  det.dispose();
  // the same network in plain PyTorch on this machine's CPU, in the same run, with one thread per
  // core (the software adapter uses every core; this Debian torch defaults to one thread)
  const peer = await runTorchPeer([
    "tiny",
    "--threads",
    String(navigator.hardwareConcurrency || 1),
    "--batch",
    "8",
    "--size",
    "128",
    "--iters",
    String(iters),
    "--device",
    "cpu",
  ]);
  if (peer) {
    const r = records.find((r) => r.name === `${tinyName} train iteration`)!;
    Object.assign(r, {
      peer: `PyTorch ${peer.torch} CPU (${peer.threads} threads)`,
      peerValue: peer.train_ms,
      ratio: r.value / peer.train_ms,
      notes: `${r.notes}; params wgdet ${params}, PyTorch ${peer.params}; PyTorch min ${
        peer.train_ms_min.toFixed(1)
      }, max ${peer.train_ms_max.toFixed(1)}`,
    });
  }
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
