/**
 * The non-convolution half of RetinaNet on the GPU: anchor targets (valid flags, MaxIoUAssigner,
 * box encoding) for a batch of 2 at 800×1216 (≈ 365k anchors, 50 gts per image), the same plus
 * the focal + L1 losses and their backward, test-time `getBboxes` of one image (top-k, decode,
 * NMS), and NMS of 10k boxes — with the CPU implementation of `lib/core` as the peer for NMS.
 * Shapes are scaled down on a fallback adapter (400×608, 20 classes, 2k boxes).
 *
 * Times are wall-clock between two idle points (`gpu.sync()`), after a warm-up run that compiles
 * every pipeline; the median of the runs is reported.
 *
 * @module
 */
import * as F from "../lib/autograd/functional.ts";
import { backward } from "../lib/autograd/tape.ts";
import { Tensor, tidy } from "../lib/autograd/tensor.ts";
import { nms as nmsCpu } from "../lib/core/post_processing/nms.ts";
import { getGpu } from "../lib/gpu/runtime.ts";
import { RetinaHead } from "../lib/models/dense_heads/retina_head.ts";
import type { ImgMeta } from "../lib/models/detectors/base.ts";
import { nms } from "../lib/ops/nms.ts";
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

function randomBoxes(r: () => number, n: number, h: number, w: number): Float32Array {
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const bw = 8 + r() * w / 4, bh = 8 + r() * h / 4;
    const x = r() * (w - bw), y = r() * (h - bh);
    out.set([x, y, x + bw, y + bh], 4 * i);
  }
  return out;
}

async function median(runs: number, fn: () => Promise<void> | void): Promise<number> {
  const gpu = getGpu();
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    await gpu.sync();
    const t0 = performance.now();
    await fn();
    await gpu.sync();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

/** Runs the benchmarks; see the module doc. */
export async function run(opts: { fallback: boolean }): Promise<BenchRecord[]> {
  const gpu = getGpu();
  const [H, W, C, G, NB] = opts.fallback ? [400, 608, 20, 20, 2000] : [800, 1216, 80, 50, 10000];
  const runs = opts.fallback ? 3 : 10;
  const r = rng(1);
  const head = new RetinaHead({
    num_classes: C,
    in_channels: 8,
    feat_channels: 8,
    stacked_convs: 0,
    loss_cls: { type: "FocalLoss", use_sigmoid: true, gamma: 2.0, alpha: 0.25, loss_weight: 1.0 },
    loss_bbox: { type: "L1Loss", loss_weight: 1.0 },
    train_cfg: {
      assigner: {
        type: "MaxIoUAssigner",
        pos_iou_thr: 0.5,
        neg_iou_thr: 0.4,
        min_pos_iou: 0,
        ignore_iof_thr: -1,
      },
      allowed_border: -1,
      pos_weight: -1,
    },
    test_cfg: {
      nms_pre: 1000,
      min_bbox_size: 0,
      score_thr: 0.05,
      nms: { type: "nms", iou_threshold: 0.5 },
      max_per_img: 100,
    },
  });
  const sizes = [8, 16, 32, 64, 128].map((s) =>
    [Math.ceil(H / s), Math.ceil(W / s)] as [number, number]
  );
  const A = 9 * sizes.reduce((s, [h, w]) => s + h * w, 0);
  const metas: ImgMeta[] = [0, 1].map((i) => ({
    img_shape: [H, W, 3],
    pad_shape: [H, W, 3],
    scale_factor: [1, 1, 1, 1],
    filename: `bench${i}`,
  }));
  const gts = metas.map(() => randomBoxes(r, G, H, W));
  const labels = metas.map(() => Int32Array.from({ length: G }, () => Math.floor(r() * C)));
  const cls = sizes.map(([h, w]) =>
    Tensor.from(Float32Array.from({ length: 2 * 9 * C * h * w }, () => r() * 6 - 7), [
      2,
      9 * C,
      h,
      w,
    ], { requiresGrad: true })
  );
  const reg = sizes.map(([h, w]) =>
    Tensor.from(Float32Array.from({ length: 2 * 36 * h * w }, () => r() - 0.5), [2, 36, h, w], {
      requiresGrad: true,
    })
  );
  const out: BenchRecord[] = [];
  const note = `batch 2 at ${H}x${W}, ${A * 2} anchors, ${G} gts per image, ${C} classes`;

  const targets = () =>
    tidy(() => void head.getTargets(head.getAnchors(sizes), gts, metas, null, labels));
  // composed GPU stages (the default) against the fused MaxIoU + Pseudo + DeltaXYWH kernel,
  // interleaved in one run so both see the same machine load
  const timed = async (fused: boolean) => {
    head.fusedTargets = fused;
    await median(1, targets);
    return await median(1, targets);
  };
  const composedT: number[] = [], fusedT: number[] = [];
  for (let i = 0; i < runs; i++) {
    composedT.push(await timed(false));
    fusedT.push(await timed(true));
  }
  head.fusedTargets = false;
  const mid = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const readbacks = gpu.stats().readbacks;
  out.push({
    name: "anchor targets (flags + assign + encode), composed stages",
    value: mid(composedT),
    unit: "ms",
    peer: "fused kernel (head.fusedTargets)",
    peerValue: mid(fusedT),
    ratio: mid(composedT) / mid(fusedT),
    notes:
      `${note}; interleaved, median of ${runs} each; identical targets (tests/models/dense_heads/fused_targets_test.ts)`,
  });
  const step = () =>
    tidy(() => {
      const l = head.loss(cls, reg, gts, labels, metas);
      backward([...l.loss_cls, ...l.loss_bbox].reduce((a, b) => F.add(a, b)));
      for (const t of [...cls, ...reg]) {
        t.grad?.dispose();
        t.grad = null;
      }
    });
  await median(1, step);
  out.push({
    name: "targets + focal/L1 loss + backward",
    value: await median(runs, step),
    unit: "ms",
    notes: `${note}; readbacks during the runs: ${gpu.stats().readbacks - readbacks}`,
  });

  const one = [
    cls.map((t) => F.slice(t, [0, 0, 0, 0], [1, ...t.shape.slice(1)])),
    reg.map((t) => F.slice(t, [0, 0, 0, 0], [1, ...t.shape.slice(1)])),
  ];
  const infer = async () =>
    void await head.getBboxes(one[0], one[1], [metas[0]], { rescale: true });
  await median(1, infer);
  out.push({
    name: "getBboxes (top-1000/level, decode, NMS), 1 image",
    value: await median(runs, infer),
    unit: "ms",
    notes: `${H}x${W}, ${C} classes, score_thr 0.05; 2 readbacks`,
  });

  const boxes = randomBoxes(r, NB, H, W), scores = Float32Array.from({ length: NB }, () => r());
  const tb = gpu.upload(boxes, [NB, 4]), ts = gpu.upload(scores, [NB]);
  const gpuNms = async () => void await nms(tb, ts, { iouThreshold: 0.5 });
  await median(1, gpuNms);
  const gpuMs = await median(runs, gpuNms);
  const t0 = performance.now();
  const cpuRuns = opts.fallback ? 1 : 3;
  for (let i = 0; i < cpuRuns; i++) nmsCpu(boxes, scores, { iou_threshold: 0.5 });
  const cpuMs = (performance.now() - t0) / cpuRuns;
  out.push({
    name: `NMS of ${NB} boxes (bitmask, GPU)`,
    value: gpuMs,
    unit: "ms",
    peer: "lib/core CPU nms",
    peerValue: cpuMs,
    ratio: gpuMs / cpuMs,
    notes: "IoU 0.5, includes 2 readbacks",
  });

  for (const t of [...cls, ...reg, ...one[0], ...one[1]]) t.dispose();
  tb.release();
  ts.release();
  head.dispose();
  return out;
}
