/**
 * Class-wise NMS on the GPU with mmcv's `batched_nms` semantics (spec §2.10), for many images at
 * once: candidates above the score threshold are grouped into NMS segments — per image with the
 * coordinate-offset trick when it has fewer than `split_thr` candidates, else per (image, class)
 * without offsets, as mmcv — sorted by (score desc, order key asc), turned into IoU bitmasks in
 * parallel, swept sequentially by one workgroup per segment, and the kept candidates of each image
 * merged by score. Two readbacks: the candidate counts (to size the masks) and the results.
 *
 * Ties: equal scores are visited in ascending order key (the candidate's position in
 * mmdetection's flattened list), the order of a stable sort; PyTorch's sort is not stable.
 *
 * @module
 */
import candSrc from "../../kernels/nms_candidates.wgsl" with { type: "text" };
import maskSrc from "../../kernels/nms_mask.wgsl" with { type: "text" };
import sweepSrc from "../../kernels/nms_sweep.wgsl" with { type: "text" };
import gatherSrc from "../../kernels/nms_gather.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu, type Gpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";
import { sortRank } from "./topk.ts";

/** `kernels/nms_candidates.wgsl`. */
export const NMS_CANDIDATES: KernelSpec = {
  name: "nms_candidates",
  source: candSrc,
  params: "uuuufuuu",
};
/** `kernels/nms_mask.wgsl`. */
export const NMS_MASK: KernelSpec = { name: "nms_mask", source: maskSrc, params: "uufffuuu" };
/** `kernels/nms_sweep.wgsl`. */
export const NMS_SWEEP: KernelSpec = { name: "nms_sweep", source: sweepSrc, params: "uuuu" };
/** `kernels/nms_gather.wgsl`. */
export const NMS_GATHER: KernelSpec = { name: "nms_gather", source: gatherSrc, params: "uuuu" };

/** The most candidates one NMS segment may hold (the sweep's suppressed set lives in workgroup memory). */
export const MAX_SEGMENT = 65536;

/** Per-image candidate rows: `boxes` `[N, K, 4]`, `scores` `[N, K, S]`, and with `S = 1` `labels` `[N, K]` i32. */
export interface NmsSource {
  boxes: RawTensor;
  scores: RawTensor;
  labels?: RawTensor | null;
  /** Classes C: labels lie in `[0, C)`; with `S > 1`, `S` must equal C. */
  numClasses: number;
}

/** NMS settings (mmcv keys, camelCased). */
export interface BatchedNmsOptions {
  /** Candidates need score `>` this (default −∞). */
  scoreThr?: number;
  /** Suppress when IoU `>` this. */
  iouThreshold: number;
  /** 0 (v2) or 1 (v1) pixel added to widths. */
  offset?: number;
  /** From this many candidates of an image on, NMS runs per class without offsets (default 10000). */
  splitThr?: number;
  /** One NMS over all classes (default false). */
  classAgnostic?: boolean;
  /** Keep at most this many per image (≤ 0: all). */
  maxNum?: number;
}

/** Detections of one image, score-descending. */
export interface NmsDetections {
  /** `[k, 5]` rows `[x1, y1, x2, y2, score]`. */
  dets: Float32Array;
  labels: Int32Array;
  /** Order key of each detection: `row·S + column` of the source (the input index for `nms`). */
  inds: Int32Array;
}

function u32(gpu: Gpu, data: ArrayLike<number>, label: string): RawTensor {
  const a = new Uint32Array(Math.max(data.length, 4));
  a.set(data);
  return gpu.upload(a, [a.length], "u32", label);
}

/**
 * mmdetection's `multiclass_nms` / mmcv's `batched_nms` over every image of `src`.
 *
 * @returns per image the kept detections, best first.
 */
export async function batchedNmsGpu(
  src: NmsSource,
  opts: BatchedNmsOptions,
): Promise<NmsDetections[]> {
  const gpu = getGpu();
  const [N, K] = src.boxes.shape;
  const S = src.scores.shape[2] ?? 1, C = src.numClasses;
  if (
    src.boxes.shape.length !== 3 || src.boxes.shape[2] !== 4 || src.scores.size !== N * K * S ||
    (S === 1 && !src.labels && C !== 1) || (S > 1 && S !== C)
  ) {
    throw new TypeError(
      `Cannot run NMS: boxes ${fmtShape(src.boxes.shape)}, scores ${
        fmtShape(src.scores.shape)
      } and ${C} classes do not describe [N, K, 4] rows with [N, K, S] scores`,
    );
  }
  const empty = () =>
    Array.from(
      { length: N },
      () => ({ dets: new Float32Array(0), labels: new Int32Array(0), inds: new Int32Array(0) }),
    );
  if (N * K === 0) return empty();
  const thr = opts.scoreThr ?? -Infinity;
  const labels = src.labels ?? gpu.zeros([N, K], "i32", "nms_labels");
  const cParams = [N, K, S, C, Math.max(thr, -3.4028234663852886e38), 0, 0, 0];
  // 1. count candidates per (image, class) and read the counts back
  const counts = gpu.zeros([N * (C + 1)], "u32", "nms_counts");
  const dummyU = u32(gpu, [0, 0, 0, 0], "nms_dummy_u");
  // a writable binding may not alias any other binding: one sink per unused output
  const sinks = [0, 1, 2, 3].map(() => gpu.empty([4], "f32", "nms_sink"));
  gpu.dispatch(NMS_CANDIDATES, {
    bindings: [src.boxes, src.scores, labels, dummyU, dummyU, counts, ...sinks],
    params: cParams,
    overrides: { PASS: 0 },
    workgroups: Math.ceil((N * K * S) / 256),
  });
  const host = await gpu.read(counts) as Uint32Array;
  for (const t of [counts, ...sinks]) t.release();
  // 2. segments: per image (offset trick) below split_thr, else per (image, class)
  const segs: number[][] = [], segmap = new Uint32Array(N * C), imgStart: number[] = [];
  let pos = 0, maskOff = 0;
  const addSeg = (start: number, len: number, img: number, useOffset: boolean) => {
    if (len > MAX_SEGMENT) {
      throw new RangeError(
        `Cannot run NMS: ${len} candidates in one segment exceed ${MAX_SEGMENT}: raise score_thr or lower nms_pre`,
      );
    }
    segs.push([start, len, maskOff, img | (useOffset ? 0x80000000 : 0)]);
    maskOff += len * Math.ceil(len / 32);
    return segs.length - 1;
  };
  for (let n = 0; n < N; n++) {
    const total = host[n * (C + 1) + C];
    imgStart.push(pos);
    if (opts.classAgnostic || total < (opts.splitThr ?? 10000)) {
      const g = addSeg(pos, total, n, !opts.classAgnostic);
      segmap.fill(g, n * C, (n + 1) * C);
      pos += total;
      continue;
    }
    for (let c = 0; c < C; c++) {
      const len = host[n * (C + 1) + c];
      segmap[n * C + c] = addSeg(pos, len, n, false);
      pos += len;
    }
  }
  const T = pos;
  if (T === 0) {
    dummyU.release();
    if (!src.labels) labels.release();
    return empty();
  }
  const segT = u32(gpu, segs.flat(), "nms_segs"),
    segmapT = u32(gpu, segmap, "nms_segmap"),
    imgT = u32(gpu, imgStart, "nms_img_start");
  // 3. scatter the candidates into their segments
  const cand = {
    box: gpu.empty([T, 4], "f32", "cand_box"),
    score: gpu.empty([T], "f32", "cand_score"),
    label: gpu.empty([T], "i32", "cand_label"),
    key: gpu.empty([T, 2], "u32", "cand_key"),
  };
  const cursors = gpu.zeros([segs.length], "u32", "nms_cursors");
  gpu.dispatch(NMS_CANDIDATES, {
    bindings: [
      src.boxes,
      src.scores,
      labels,
      segmapT,
      segT,
      cursors,
      cand.box,
      cand.score,
      cand.label,
      cand.key,
    ],
    params: cParams,
    overrides: { PASS: 1 },
    workgroups: Math.ceil((N * K * S) / 256),
  });
  // 4. sort each segment, 5. masks, 6. sweep
  const sortSegs = segs.map(([start, len]) => ({ start, len }));
  const perm = sortRank(cand.key, sortSegs, T);
  const segmax = gpu.empty([segs.length], "f32", "nms_segmax");
  const mask = gpu.empty([Math.max(maskOff, 1)], "u32", "nms_mask");
  const tiles: number[] = [];
  segs.forEach(([, len], i) => {
    for (let r = 0; r < len; r += 256) tiles.push(i, r);
  });
  const tileT = u32(gpu, tiles, "nms_tiles");
  const mBind = [cand.box, cand.label, perm, segT, tileT, segmax, mask];
  const thr32 = Math.fround(opts.iouThreshold);
  const mParams = [
    tiles.length / 2,
    segs.length,
    thr32,
    opts.offset ?? 0,
    1,
    thr32 > opts.iouThreshold ? 1 : 0,
    0,
    0,
  ];
  gpu.dispatch(NMS_MASK, {
    bindings: mBind,
    params: mParams,
    overrides: { PASS: 0 },
    workgroups: segs.length,
  });
  gpu.dispatch(NMS_MASK, {
    bindings: mBind,
    params: mParams,
    overrides: { PASS: 1 },
    workgroups: tiles.length / 2,
  });
  const kept = gpu.empty([T], "u32", "nms_kept");
  const keptCount = gpu.zeros([N], "u32", "nms_kept_count");
  gpu.dispatch(NMS_SWEEP, {
    bindings: [mask, perm, segT, imgT, kept, keptCount],
    params: [segs.length, 0, 0, 0],
    workgroups: segs.length,
  });
  // 7. merge each image's kept candidates by score, 8. gather the first max_num
  const imgSegs = imgStart.map((start, n) => ({ start, len: host[n * (C + 1) + C], lenIndex: n }));
  const order = sortRank(cand.key, imgSegs, T, { ids: kept, lens: keptCount });
  const M = (opts.maxNum ?? -1) > 0 ? opts.maxNum! : Math.max(...imgSegs.map((s) => s.len));
  const dets = gpu.empty([N * M * 5], "f32", "nms_dets");
  const outIdx = gpu.empty([2 * N * M + N], "i32", "nms_out_idx");
  gpu.dispatch(NMS_GATHER, {
    bindings: [
      cand.box,
      cand.score,
      cand.label,
      cand.key,
      kept,
      order,
      imgT,
      keptCount,
      dets,
      outIdx,
    ],
    params: [N, M, 0, 0],
    workgroups: Math.ceil((N * M) / 256),
  });
  const [hd, hi] = await gpu.readMany([dets, outIdx]) as [Float32Array, Int32Array];
  for (
    const t of [
      dummyU,
      segT,
      segmapT,
      imgT,
      ...Object.values(cand),
      cursors,
      perm,
      segmax,
      mask,
      tileT,
      kept,
      keptCount,
      order,
      dets,
      outIdx,
    ]
  ) t.release();
  if (!src.labels) labels.release();
  return Array.from({ length: N }, (_, n) => {
    const k = hi[2 * N * M + n];
    return {
      dets: hd.slice(n * M * 5, n * M * 5 + k * 5),
      labels: Int32Array.from({ length: k }, (_, r) => hi[2 * (n * M + r)]),
      inds: Int32Array.from({ length: k }, (_, r) => hi[2 * (n * M + r) + 1]),
    };
  });
}

/**
 * mmcv's `nms` on the GPU: greedy NMS of `boxes` `[n, 4]` by `scores` `[n]`.
 *
 * @returns the kept detections `[k, 5]` and their input indices, score-descending.
 *
 * @example
 * ```ts
 * import { initGpu } from "../gpu/runtime.ts";
 * import { nms } from "./nms.ts";
 * const gpu = await initGpu();
 * const boxes = [0, 0, 10, 10, 1, 0, 11, 10, 20, 20, 30, 30];
 * const { inds } = await nms(gpu.upload(boxes, [3, 4]), gpu.upload([0.9, 0.8, 0.7], [3]), {
 *   iouThreshold: 0.5,
 * });
 * if (inds.join() !== "0,2") throw new Error(`kept ${inds}`); // box 1 overlaps box 0
 * ```
 */
export async function nms(
  boxes: RawTensor,
  scores: RawTensor,
  opts: { iouThreshold: number; offset?: number; maxNum?: number },
): Promise<NmsDetections> {
  const n = boxes.shape[0];
  const gpu = getGpu();
  const b = gpu.view(boxes, [1, n, 4]), s = gpu.view(scores, [1, n, 1]);
  try {
    return (await batchedNmsGpu({ boxes: b, scores: s, numClasses: 1 }, {
      ...opts,
      classAgnostic: true,
    }))[0];
  } finally {
    b.release();
    s.release();
  }
}

/**
 * mmcv's `batched_nms` on the GPU: NMS within each label of `labels` `[n]` (i32 in
 * `[0, numClasses)`), offset trick below `splitThr` candidates, per class above.
 */
export async function batchedNms(
  boxes: RawTensor,
  scores: RawTensor,
  labels: RawTensor,
  opts: Omit<BatchedNmsOptions, "scoreThr"> & { numClasses: number },
): Promise<NmsDetections> {
  const n = boxes.shape[0];
  const gpu = getGpu();
  const b = gpu.view(boxes, [1, n, 4]),
    s = gpu.view(scores, [1, n, 1]),
    l = gpu.view(labels, [1, n]);
  try {
    return (await batchedNmsGpu(
      { boxes: b, scores: s, labels: l, numClasses: opts.numClasses },
      opts,
    ))[0];
  } finally {
    for (const t of [b, s, l]) t.release();
  }
}
