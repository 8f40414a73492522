/**
 * The CPU reference of `AnchorHead.get_bboxes` (spec §2.10), assembled from `lib/core`'s CPU
 * pieces (`DeltaXYWHBBoxCoder.decode`, `argsortDesc`, `filterScoresAndTopk`, `multiclassNms`,
 * `batchedNms`) and float32 sigmoid, for one image.
 *
 * @module
 */
import { DeltaXYWHBBoxCoder } from "../../../lib/core/bbox/coders/delta_xywh_bbox_coder.ts";
import { batchedNms } from "../../../lib/core/post_processing/nms.ts";
import { multiclassNms } from "../../../lib/core/post_processing/bbox_nms.ts";
import { argsortDesc, filterScoresAndTopk } from "../../../lib/core/utils/misc.ts";

const f = Math.fround;

/** float32 sigmoid as PyTorch evaluates it. */
export function sigmoid32(x: number): number {
  return f(1 / f(1 + f(Math.exp(-x))));
}

/** One level of one image: logits `[A·C, H, W]` and deltas `[A·4, H, W]` (CHW), anchors `[H·W·A, 4]`. */
export interface RefLevel {
  cls: Float32Array;
  reg: Float32Array;
  anchors: Float32Array;
  H: number;
  W: number;
}

/** Rows `(y·W + x)·A + a` of a CHW conv output with `K` values per anchor. */
export function rowsOf(
  chw: Float32Array,
  A: number,
  K: number,
  H: number,
  W: number,
): Float32Array {
  const out = new Float32Array(chw.length);
  for (let ch = 0; ch < A * K; ch++) {
    for (let s = 0; s < H * W; s++) {
      out[(s * A + Math.floor(ch / K)) * K + (ch % K)] = chw[ch * H * W + s];
    }
  }
  return out;
}

/** Test settings of the reference. */
export interface RefCfg {
  numClasses: number;
  numAnchors: number;
  nmsPre: number;
  scoreThr: number;
  iouThreshold: number;
  maxPerImg: number;
  rule: "v2.11" | "v2.18";
  imgShape: [number, number];
  scaleFactor: number[] | null;
  /** Map boxes back from a horizontally flipped image (before dividing by `scaleFactor`). */
  flip?: boolean;
  /** The box coder whose CPU `decode` is the reference (default `DeltaXYWHBBoxCoder({})`). */
  coder?: DeltaXYWHBBoxCoder;
}

/** Pre-NMS candidates: boxes `[k, 4]`, and scores `[k, C + 1]` (v2.11) or scores/labels `[k]` (v2.18). */
export interface RefCandidates {
  boxes: number[];
  scores: number[];
  labels: number[];
}

/** Per-level top-k and decoding of one image (mmdetection's `get_bboxes` before NMS). */
export function candidatesRef(levels: RefLevel[], cfg: RefCfg): RefCandidates {
  const C = cfg.numClasses, A = cfg.numAnchors;
  const coder = cfg.coder ?? new DeltaXYWHBBoxCoder({});
  const boxes: number[] = [], scores: number[] = [], labels: number[] = [];
  for (const lv of levels) {
    const sc = rowsOf(lv.cls, A, C, lv.H, lv.W).map(sigmoid32);
    const deltas = rowsOf(lv.reg, A, 4, lv.H, lv.W);
    const n = sc.length / C;
    let rows: number[], rowLabels: number[] | null = null, rowScores: number[] | null = null;
    if (cfg.rule === "v2.11") {
      rows = Array.from({ length: n }, (_, i) => i);
      if (cfg.nmsPre > 0 && n > cfg.nmsPre) {
        const max = Float32Array.from(
          { length: n },
          (_, i) => Math.max(...sc.subarray(i * C, i * C + C)),
        );
        rows = Array.from(argsortDesc(max).slice(0, cfg.nmsPre));
      }
    } else {
      const t = filterScoresAndTopk(sc, C, {
        scoreThr: cfg.scoreThr,
        topk: cfg.nmsPre > 0 ? cfg.nmsPre : sc.length,
      });
      rows = Array.from(t.keepIdxs);
      rowLabels = Array.from(t.labels);
      rowScores = Array.from(t.scores);
    }
    const p = Float32Array.from(
      rows.flatMap((r) => Array.from(lv.anchors.subarray(4 * r, 4 * r + 4))),
    );
    const d = Float32Array.from(rows.flatMap((r) => Array.from(deltas.subarray(4 * r, 4 * r + 4))));
    const dec = coder.decode(p, d, { maxShape: cfg.imgShape });
    rows.forEach((r, k) => {
      let b = Array.from(dec.subarray(4 * k, 4 * k + 4));
      if (cfg.flip) b = [f(cfg.imgShape[1] - b[2]), b[1], f(cfg.imgShape[1] - b[0]), b[3]];
      if (cfg.scaleFactor) b = b.map((v, c) => f(v / cfg.scaleFactor![c]));
      boxes.push(...b);
      if (rowLabels) {
        scores.push(rowScores![k]);
        labels.push(rowLabels[k]);
      } else {
        scores.push(...Array.from(sc.subarray(r * C, r * C + C)), 0);
      }
    });
  }
  return { boxes, scores, labels };
}

/** Detections `[k, 5]` and labels of one image after NMS, from candidates of one or more augmentations. */
export function nmsRef(
  c: RefCandidates,
  cfg: RefCfg,
): { bboxes: Float32Array; labels: Int32Array } {
  const { boxes, scores, labels } = c;
  const C = cfg.numClasses;
  if (cfg.rule === "v2.11") {
    const r = multiclassNms(
      { bboxes: Float32Array.from(boxes), scores: Float32Array.from(scores) },
      {
        numClasses: C,
        score_thr: cfg.scoreThr,
        nms: { iou_threshold: cfg.iouThreshold },
        max_num: cfg.maxPerImg,
      },
    );
    return { bboxes: r.dets, labels: r.labels };
  }
  if (labels.length === 0) return { bboxes: new Float32Array(0), labels: new Int32Array(0) };
  const r = batchedNms({
    boxes: Float32Array.from(boxes),
    scores: Float32Array.from(scores),
    labels: Int32Array.from(labels),
  }, { iou_threshold: cfg.iouThreshold });
  const k = Math.min(r.keep.length, cfg.maxPerImg);
  return {
    bboxes: r.dets.slice(0, 5 * k),
    labels: Int32Array.from(r.keep.subarray(0, k), (i) => labels[i]),
  };
}

/** `candidatesRef` then `nmsRef`. */
export function getBboxesRef(
  levels: RefLevel[],
  cfg: RefCfg,
): { bboxes: Float32Array; labels: Int32Array } {
  return nmsRef(candidatesRef(levels, cfg), cfg);
}
