/**
 * Pascal VOC-style mean average precision with the semantics of mmdetection's `eval_map`:
 * per-class greedy matching at one IoU threshold, ignored (`difficult`) ground truth, optional
 * area ranges, and AP as the area under the interpolated precision/recall curve ("area") or the
 * VOC2007 11-point average ("11points").
 *
 * @module
 */
import type { BboxResult } from "./coco_eval.ts";

/** Ground truth of one image in mmdet's middle format (`get_ann_info`). */
export interface MapAnnotation {
  /** `[n, 4]` xyxy boxes, flat. */
  bboxes: ArrayLike<number>;
  /** `[n]` labels, 0-based. */
  labels: ArrayLike<number>;
  /** `[k, 4]` ignored (difficult / crowd) boxes, flat. */
  bboxes_ignore?: ArrayLike<number>;
  /** `[k]` labels of the ignored boxes. */
  labels_ignore?: ArrayLike<number>;
}

/** Options of {@link evalMap}. */
export interface EvalMapOptions {
  /** IoU threshold for a match, default 0.5. */
  iou_thr?: number;
  /** Box side ranges `[min, max]`; `[32, 64]` means areas in `[32², 64²)`. Default: one range, everything. */
  scale_ranges?: [number, number][];
  /** "area" (default) or "11points" (VOC2007). */
  mode?: "area" | "11points";
  /** mmdet 1.x / official VOC coordinates: widths are `x2 - x1 + 1` (mmdet's VOCDataset uses true). */
  use_legacy_coordinate?: boolean;
}

/** Per-class output of {@link evalMap}. */
export interface ClassMapResult {
  /** Number of (non-ignored) gt boxes, per scale range. */
  num_gts: number[];
  /** Number of detections of the class. */
  num_dets: number;
  /** Recall after each detection in score order, per scale range. */
  recall: Float64Array[];
  /** Precision after each detection in score order, per scale range. */
  precision: Float64Array[];
  /** AP per scale range. */
  ap: number[];
}

/** Output of {@link evalMap}: mean AP per scale range (`mean_ap[0]` without ranges) and per-class results. */
export interface EvalMapResult {
  /** Mean AP over classes with ground truth, per scale range. */
  mean_ap: number[];
  /** Per-class results. */
  results: ClassMapResult[];
}

/** IoU matrix `[n, k]` as mmdet's numpy `bbox_overlaps` (float32 arithmetic, eps 1e-6). */
export function bboxOverlaps(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  opts: { mode?: "iou" | "iof"; use_legacy_coordinate?: boolean } = {},
): Float32Array {
  const f = Math.fround;
  const extra = opts.use_legacy_coordinate ? 1 : 0;
  const n = a.length / 4, k = b.length / 4;
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    const ax1 = f(a[i * 4]), ay1 = f(a[i * 4 + 1]), ax2 = f(a[i * 4 + 2]), ay2 = f(a[i * 4 + 3]);
    const areaA = f(f(f(ax2 - ax1) + extra) * f(f(ay2 - ay1) + extra));
    for (let j = 0; j < k; j++) {
      const bx1 = f(b[j * 4]), by1 = f(b[j * 4 + 1]), bx2 = f(b[j * 4 + 2]), by2 = f(b[j * 4 + 3]);
      const areaB = f(f(f(bx2 - bx1) + extra) * f(f(by2 - by1) + extra));
      const w = Math.max(f(f(Math.min(ax2, bx2) - Math.max(ax1, bx1)) + extra), 0);
      const h = Math.max(f(f(Math.min(ay2, by2) - Math.max(ay1, by1)) + extra), 0);
      const overlap = f(w * h);
      const union = opts.mode === "iof" ? areaA : f(f(areaA + areaB) - overlap);
      out[i * k + j] = f(overlap / Math.max(union, f(1e-6)));
    }
  }
  return out;
}

/** Average precision of one recall/precision curve (mmdet's `average_precision`). */
export function averagePrecision(
  recalls: ArrayLike<number>,
  precisions: ArrayLike<number>,
  mode: "area" | "11points" = "area",
): number {
  const n = recalls.length;
  if (mode === "area") {
    // 1. pad with recall 0 / 1 and precision 0, 2. make precision non-increasing from the right,
    // 3. sum precision × recall step wherever recall changes
    const mrec = new Float64Array(n + 2), mpre = new Float64Array(n + 2);
    mrec[n + 1] = 1;
    for (let i = 0; i < n; i++) {
      mrec[i + 1] = recalls[i];
      mpre[i + 1] = precisions[i];
    }
    for (let i = n + 1; i > 0; i--) mpre[i - 1] = Math.max(mpre[i - 1], mpre[i]);
    let ap = 0;
    for (let i = 0; i < n + 1; i++) {
      if (mrec[i + 1] !== mrec[i]) ap += (mrec[i + 1] - mrec[i]) * mpre[i + 1];
    }
    return Math.fround(ap);
  }
  if (mode === "11points") {
    let ap = 0;
    for (let t = 0; t < 11; t++) {
      const thr = t * 0.1; // numpy arange(0, 1 + 1e-3, 0.1)
      let best = 0;
      for (let i = 0; i < n; i++) {
        if (recalls[i] >= thr && precisions[i] > best) best = precisions[i];
      }
      ap += best;
    }
    return Math.fround(ap / 11);
  }
  throw new RangeError(
    `Cannot compute average precision: mode "${mode}" is not "area" or "11points"`,
  );
}

/** Stable descending order of scores (numpy's default quicksort is unstable for ties; we fix an order). */
function argsortDesc(scores: number[]): number[] {
  return scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
}

/** tp/fp flags `[scales][dets]` of one image and class (mmdet's `tpfp_default`). */
function tpfpDefault(
  dets: ArrayLike<number>,
  gts: number[],
  gtsIgnore: number[],
  iouThr: number,
  areaRanges: [number, number][] | null,
  extra: number,
): { tp: Uint8Array[]; fp: Uint8Array[] } {
  const nd = dets.length / 5;
  const nGtReal = gts.length / 4;
  const allGt = [...gts, ...gtsIgnore];
  const ng = allGt.length / 4;
  const ranges = areaRanges ?? [[NaN, NaN] as [number, number]];
  const tp = ranges.map(() => new Uint8Array(nd)), fp = ranges.map(() => new Uint8Array(nd));
  const f = Math.fround;
  const area = (x1: number, y1: number, x2: number, y2: number) =>
    f(f(f(x2) - f(x1) + extra) * f(f(y2) - f(y1) + extra));
  const detBoxes = new Float64Array(nd * 4);
  for (let i = 0; i < nd; i++) for (let c = 0; c < 4; c++) detBoxes[i * 4 + c] = dets[i * 5 + c];
  if (ng === 0) {
    ranges.forEach(([lo, hi], k) => {
      for (let i = 0; i < nd; i++) {
        if (areaRanges === null) fp[k][i] = 1;
        else {
          const a = area(dets[i * 5], dets[i * 5 + 1], dets[i * 5 + 2], dets[i * 5 + 3]);
          if (a >= lo && a < hi) fp[k][i] = 1;
        }
      }
    });
    return { tp, fp };
  }
  const ious = bboxOverlaps(detBoxes, allGt, { use_legacy_coordinate: extra === 1 });
  const iouMax = new Float32Array(nd), iouArg = new Int32Array(nd);
  for (let i = 0; i < nd; i++) {
    let best = -Infinity, arg = 0;
    for (let j = 0; j < ng; j++) {
      if (ious[i * ng + j] > best) [best, arg] = [ious[i * ng + j], j];
    }
    iouMax[i] = best;
    iouArg[i] = arg;
  }
  const order = argsortDesc(Array.from({ length: nd }, (_, i) => dets[i * 5 + 4]));
  ranges.forEach(([lo, hi], k) => {
    const covered = new Uint8Array(ng);
    const areaIgnore = new Uint8Array(ng);
    if (areaRanges !== null) {
      for (let j = 0; j < ng; j++) {
        const a = area(allGt[j * 4], allGt[j * 4 + 1], allGt[j * 4 + 2], allGt[j * 4 + 3]);
        areaIgnore[j] = a < lo || a >= hi ? 1 : 0;
      }
    }
    for (const i of order) {
      if (iouMax[i] >= iouThr) {
        const m = iouArg[i];
        if (!(m >= nGtReal || areaIgnore[m])) {
          if (!covered[m]) {
            covered[m] = 1;
            tp[k][i] = 1;
          } else fp[k][i] = 1;
        }
        // matched an ignored gt: neither tp nor fp
      } else if (areaRanges === null) fp[k][i] = 1;
      else {
        const a = area(dets[i * 5], dets[i * 5 + 1], dets[i * 5 + 2], dets[i * 5 + 3]);
        if (a >= lo && a < hi) fp[k][i] = 1;
      }
    }
  });
  return { tp, fp };
}

function selectBoxes(
  boxes: ArrayLike<number> | undefined,
  labels: ArrayLike<number> | undefined,
  cls: number,
): number[] {
  const out: number[] = [];
  if (!boxes || !labels) return out;
  if (boxes.length !== labels.length * 4) {
    throw new TypeError(
      `Cannot evaluate mAP: ${boxes.length / 4} boxes for ${labels.length} labels`,
    );
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === cls) { for (let c = 0; c < 4; c++) out.push(boxes[i * 4 + c]); }
  }
  return out;
}

/**
 * Mean average precision over classes (mmdet's `eval_map`, `tpfp_default` matching): for each
 * class, detections of all images are sorted by score; a detection is a true positive when its
 * best-IoU gt (≥ `iou_thr`) is a regular gt not yet taken, a false positive when that gt is
 * taken or no gt reaches the threshold, and neither when its best gt is ignored. Classes with no
 * gt are left out of the mean. Ties in score are broken by image, then detection order (mmdet
 * uses numpy's unstable quicksort there).
 *
 * @param detResults per image, per class: flat `[n, 5]` rows `[x1, y1, x2, y2, score]`
 * @param annotations per image, the ground truth ({@link MapAnnotation})
 * @param opts see {@link EvalMapOptions}
 *
 * @example
 * ```ts
 * import { evalMap } from "./voc_eval.ts";
 * const ann = { bboxes: [0, 0, 10, 10], labels: [0] };
 * const { mean_ap } = evalMap([[new Float32Array([0, 0, 10, 10, 0.9])]], [ann]);
 * if (!(mean_ap[0] === 1)) throw new Error("unexpected");
 * ```
 */
export function evalMap(
  detResults: BboxResult[],
  annotations: MapAnnotation[],
  opts: EvalMapOptions = {},
): EvalMapResult {
  if (detResults.length !== annotations.length) {
    throw new RangeError(
      `Cannot evaluate mAP: ${detResults.length} results for ${annotations.length} annotations`,
    );
  }
  const iouThr = opts.iou_thr ?? 0.5;
  const mode = opts.mode ?? "area";
  const extra = opts.use_legacy_coordinate ? 1 : 0;
  const areaRanges = opts.scale_ranges
    ? opts.scale_ranges.map(([a, b]) => [a * a, b * b] as [number, number])
    : null;
  const numScales = areaRanges ? areaRanges.length : 1;
  const numClasses = detResults.length > 0 ? detResults[0].length : 0;
  const f = Math.fround;
  const results: ClassMapResult[] = [];
  for (let cls = 0; cls < numClasses; cls++) {
    const numGts = new Array<number>(numScales).fill(0);
    const allScores: number[] = [];
    const allTp: Uint8Array[][] = [], allFp: Uint8Array[][] = [];
    detResults.forEach((perClass, img) => {
      if (perClass.length !== numClasses) {
        throw new RangeError(
          `Cannot evaluate mAP: image ${img} has ${perClass.length} classes, expected ${numClasses}`,
        );
      }
      const dets = perClass[cls];
      const ann = annotations[img];
      const gts = selectBoxes(ann.bboxes, ann.labels, cls);
      const ign = selectBoxes(ann.bboxes_ignore, ann.labels_ignore, cls);
      const { tp, fp } = tpfpDefault(dets, gts, ign, iouThr, areaRanges, extra);
      allTp.push(tp);
      allFp.push(fp);
      for (let i = 0; i < dets.length / 5; i++) allScores.push(dets[i * 5 + 4]);
      for (let j = 0; j < gts.length / 4; j++) {
        if (!areaRanges) numGts[0]++;
        else {
          const a = f(
            f(f(gts[j * 4 + 2]) - f(gts[j * 4]) + extra) *
              f(f(gts[j * 4 + 3]) - f(gts[j * 4 + 1]) + extra),
          );
          areaRanges.forEach(([lo, hi], k) => {
            if (a >= lo && a < hi) numGts[k]++;
          });
        }
      }
    });
    const order = argsortDesc(allScores);
    const nd = allScores.length;
    const recall: Float64Array[] = [], precision: Float64Array[] = [], ap: number[] = [];
    const eps = 1.1920928955078125e-7; // np.finfo(np.float32).eps
    for (let k = 0; k < numScales; k++) {
      const tpFlat: number[] = [], fpFlat: number[] = [];
      for (let img = 0; img < allTp.length; img++) {
        for (const v of allTp[img][k]) tpFlat.push(v);
        for (const v of allFp[img][k]) fpFlat.push(v);
      }
      const rec = new Float64Array(nd), prec = new Float64Array(nd);
      let tp = 0, fp = 0;
      for (let j = 0; j < nd; j++) {
        tp += tpFlat[order[j]];
        fp += fpFlat[order[j]];
        rec[j] = tp / Math.max(numGts[k], eps);
        prec[j] = f(tp / Math.max(tp + fp, eps));
      }
      recall.push(rec);
      precision.push(prec);
      ap.push(averagePrecision(rec, prec, mode));
    }
    results.push({ num_gts: numGts, num_dets: nd, recall, precision, ap });
  }
  const meanAp: number[] = [];
  for (let k = 0; k < numScales; k++) {
    const aps = results.filter((r) => r.num_gts[k] > 0).map((r) => r.ap[k]);
    meanAp.push(aps.length ? aps.reduce((s, v) => s + v, 0) / aps.length : 0);
  }
  return { mean_ap: meanAp, results };
}

/**
 * The per-class table mmdet prints after `eval_map` (class, gts, dets, recall, ap), plus the
 * mAP line, as plain text.
 */
export function formatMapSummary(res: EvalMapResult, classNames?: string[]): string {
  const lines: string[] = [];
  const numScales = res.mean_ap.length;
  for (let k = 0; k < numScales; k++) {
    const rows = [["class", "gts", "dets", "recall", "ap"]];
    res.results.forEach((r, c) => {
      const rec = r.recall[k];
      rows.push([
        classNames?.[c] ?? String(c),
        String(r.num_gts[k]),
        String(r.num_dets),
        (rec.length ? rec[rec.length - 1] : 0).toFixed(3),
        r.ap[k].toFixed(3),
      ]);
    });
    rows.push(["mAP", "", "", "", res.mean_ap[k].toFixed(3)]);
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    const sep = "+" + widths.map((w) => "-".repeat(w + 2)).join("+") + "+";
    lines.push(sep);
    rows.forEach((row, i) => {
      lines.push("| " + row.map((v, j) => v.padEnd(widths[j])).join(" | ") + " |");
      if (i === 0 || i === rows.length - 2) lines.push(sep);
    });
    lines.push(sep);
  }
  return lines.join("\n");
}
