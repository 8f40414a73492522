/**
 * COCO-style box evaluation with the semantics of pycocotools' `COCOeval` (iouType "bbox"):
 * per-image greedy matching at IoU thresholds 0.50:0.05:0.95, crowd regions, area ranges,
 * max-detection limits, 101-point interpolated precision, and the familiar 12-number summary.
 *
 * Written from the published algorithm; the numbers are checked against pycocotools in
 * `tests/evaluation/coco_eval_test.ts`.
 *
 * @module
 */
import { DataError } from "../utils/errors.ts";

/** A COCO image entry. */
export interface CocoImage {
  /** Image id. */
  id: number;
  /** File name relative to the image folder. */
  file_name: string;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Other COCO fields (license, url, …). */
  [key: string]: unknown;
}

/** A COCO instance annotation; `bbox` is `[x, y, w, h]` in pixels. */
export interface CocoAnnotation {
  /** Annotation id (positive: pycocotools treats 0 as "no match"). */
  id: number;
  /** Id of its image. */
  image_id: number;
  /** Id of its category. */
  category_id: number;
  /** `[x, y, w, h]` in pixels. */
  bbox: number[];
  /** Object area (segmentation area in COCO), used for the area ranges. */
  area: number;
  /** Crowd region: ignored, matched by intersection over detection area. */
  iscrowd?: number | boolean;
  /** mmdet skips annotations with this flag (COCOeval does not use it). */
  ignore?: number | boolean;
  /** Other COCO fields (segmentation, …). */
  [key: string]: unknown;
}

/** A COCO category entry. */
export interface CocoCategory {
  /** Category id. */
  id: number;
  /** Category name (matched against dataset classes). */
  name: string;
  /** Supercategory name. */
  supercategory?: string;
  /** Other fields. */
  [key: string]: unknown;
}

/** A COCO instances file (`instances_*.json`). */
export interface CocoJson {
  /** The images. */
  images: CocoImage[];
  /** The instance annotations. */
  annotations: CocoAnnotation[];
  /** The categories. */
  categories: CocoCategory[];
  /** `info`, `licenses`, … */
  [key: string]: unknown;
}

/** One detection in COCO results format; `bbox` is `[x, y, w, h]`. */
export interface CocoResult {
  /** Id of the image. */
  image_id: number;
  /** Id of the category. */
  category_id: number;
  /** `[x, y, w, h]` in pixels. */
  bbox: number[];
  /** Confidence. */
  score: number;
}

/** Options of {@link evaluateCoco}. */
export interface CocoEvalOptions {
  /** Only "bbox" is supported. */
  iouType?: "bbox";
  /** Max detections per image, ascending after sorting; default `[1, 10, 100]` (mmdet: `[100, 300, 1000]`). */
  maxDets?: number[];
  /** Category ids to evaluate; default all categories of `gt`. */
  catIds?: number[];
  /** Image ids to evaluate; default all images of `gt`. */
  imgIds?: number[];
  /** IoU thresholds; default pycocotools' 0.50:0.05:0.95. */
  iouThrs?: number[];
  /** Also return per-category AP (IoU 0.50:0.95, area all, the largest maxDets), as mmdet's `classwise`. */
  classwise?: boolean;
  /**
   * pycocotools' `params.useCats` (default true). With false, each image's ground truth and
   * detections of all categories are pooled (in category order) and matched regardless of class,
   * as mmdetection's `proposal` metric evaluates proposals; the result has one category, id −1.
   */
  useCats?: boolean;
}

/** Output of {@link evaluateCoco}. */
export interface CocoEvalResult {
  /** The 12 summary numbers in pycocotools' order (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl). */
  stats: number[];
  /** The summary table, 12 lines, formatted exactly as pycocotools prints it. */
  lines: string[];
  /** Precision `[T, R, K, A, M]`, row-major; -1 where a setting has no ground truth. */
  precision: Float64Array;
  /** Recall `[T, K, A, M]`, row-major; -1 where a setting has no ground truth. */
  recall: Float64Array;
  /** Dimensions and parameters actually used. */
  params: {
    imgIds: number[];
    catIds: number[];
    iouThrs: number[];
    recThrs: number[];
    maxDets: number[];
    areaRng: [number, number][];
    areaRngLbl: string[];
  };
  /** Per-category AP when `classwise` was asked: NaN where the category has no ground truth. */
  perCategory?: { category_id: number; name: string; ap: number }[];
}

/** numpy's `linspace(start, stop, num)` value by value (so thresholds compare bit-exactly). */
function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  const out = Array.from({ length: num }, (_, i) => i * step + start);
  out[num - 1] = stop;
  return out;
}

/** pycocotools' default IoU thresholds, 0.50:0.05:0.95 (10 values). */
export const COCO_IOU_THRS: readonly number[] = linspace(
  0.5,
  0.95,
  Math.round((0.95 - 0.5) / 0.05) + 1,
);
/** pycocotools' recall thresholds, 0:0.01:1 (101 values). */
export const COCO_REC_THRS: readonly number[] = linspace(0, 1, Math.round((1 - 0) / 0.01) + 1);
const AREA_RNG: [number, number][] = [[0, 1e10], [0, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e10]];
const AREA_LBL = ["all", "small", "medium", "large"];

/** Sorts indices of `keys` ascending, stably (as numpy's `argsort(kind="mergesort")`). */
function stableArgsort(keys: ArrayLike<number>): number[] {
  const idx = Array.from({ length: keys.length }, (_, i) => i);
  return idx.sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : a - b));
}

/** Box IoU as pycocotools' `bbIou` on `[x, y, w, h]` boxes; for crowd gt the union is the detection area. */
function bbIou(d: number[], g: number[], crowd: boolean): number {
  const w = Math.min(d[0] + d[2], g[0] + g[2]) - Math.max(d[0], g[0]);
  if (w <= 0) return 0;
  const h = Math.min(d[1] + d[3], g[1] + g[3]) - Math.max(d[1], g[1]);
  if (h <= 0) return 0;
  const i = w * h;
  const da = d[2] * d[3];
  const u = crowd ? da : da + g[2] * g[3] - i;
  return i / u;
}

interface Gt {
  id: number;
  bbox: number[];
  area: number;
  crowd: boolean;
}
interface Dt {
  id: number;
  bbox: number[];
  area: number;
  score: number;
}
interface EvalImg {
  dtScores: number[];
  /** `[T, D]` matched gt id (0 = none), row-major. */
  dtMatches: Float64Array;
  /** `[T, D]` ignore flags. */
  dtIgnore: Uint8Array;
  gtIgnore: Uint8Array;
  D: number;
}

function checkBox(b: unknown, where: string): number[] {
  if (
    !Array.isArray(b) || b.length !== 4 ||
    !b.every((v) => typeof v === "number" && Number.isFinite(v))
  ) {
    throw new DataError(
      `Cannot evaluate: ${where} has bbox ${
        JSON.stringify(b)
      }, expected 4 finite numbers [x, y, w, h]`,
    );
  }
  return b as number[];
}

/**
 * Evaluates box detections against COCO ground truth with pycocotools' COCOeval semantics:
 * `evaluate()` (IoU, greedy matching per image and category, crowd and area ignores),
 * `accumulate()` (precision/recall per IoU threshold, recall threshold, category, area range and
 * max detections) and `summarize()` (the 12 stats).
 *
 * Detection ids are assigned 1, 2, … in `dets` order, detection area is `w * h`, as
 * `COCO.loadRes` does; gt area is the annotation's `area` field; only `iscrowd` marks a gt
 * ignored (pycocotools overwrites the `ignore` field). Unlike pycocotools, an empty `dets`
 * list is evaluated (all zeros) instead of raising.
 *
 * @param gt the ground-truth instances JSON
 * @param dets detections in COCO results format
 * @param opts see {@link CocoEvalOptions}
 * @returns the 12 stats, the printed table, precision/recall arrays and optional per-category AP
 * @throws {DataError} when a detection names an image or category that `gt` does not have
 *
 * @example
 * ```ts
 * import { evaluateCoco } from "./coco_eval.ts";
 * const gt = {
 *   images: [{ id: 1, file_name: "a.png", width: 100, height: 100 }],
 *   categories: [{ id: 1, name: "box" }],
 *   annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 50, 50], area: 2500, iscrowd: 0 }],
 * };
 * const res = evaluateCoco(gt, [{ image_id: 1, category_id: 1, bbox: [10, 10, 50, 50], score: 0.9 }]);
 * if (Math.abs(res.stats[0] - 1) > 1e-9) throw new Error("a perfect detection has AP 1");
 * ```
 */
export function evaluateCoco(
  gt: CocoJson,
  dets: CocoResult[],
  opts: CocoEvalOptions = {},
): CocoEvalResult {
  if ((opts.iouType ?? "bbox") !== "bbox") {
    throw new RangeError(`Cannot evaluate: iouType "${opts.iouType}" is not supported; use "bbox"`);
  }
  const gtImgIds = new Set(gt.images.map((im) => im.id));
  const gtCatIds = new Set(gt.categories.map((c) => c.id));
  const imgIds = [...new Set(opts.imgIds ?? gtImgIds)].sort((a, b) => a - b);
  const catIds = [...new Set(opts.catIds ?? gtCatIds)].sort((a, b) => a - b);
  const useCats = opts.useCats ?? true;
  if (!useCats && opts.classwise) {
    throw new RangeError("Cannot evaluate: classwise needs useCats (per-category AP)");
  }
  const maxDets = [...(opts.maxDets ?? [1, 10, 100])].sort((a, b) => a - b);
  const iouThrs = opts.iouThrs ? [...opts.iouThrs] : [...COCO_IOU_THRS];
  const recThrs = [...COCO_REC_THRS];
  const T = iouThrs.length,
    R = recThrs.length,
    K = useCats ? catIds.length : 1,
    A = AREA_RNG.length,
    M = maxDets.length;
  const I = imgIds.length;
  const maxDetLast = maxDets[M - 1];

  // 1. group gt and detections per (image, category), keeping file order within a group
  const imgIndex = new Map(imgIds.map((id, i) => [id, i]));
  const catIndex = new Map(catIds.map((id, k) => [id, k]));
  let gts = new Map<number, Gt[]>(), dts = new Map<number, Dt[]>();
  const key = (i: number, k: number) => k * I + i;
  for (const [n, a] of gt.annotations.entries()) {
    const i = imgIndex.get(a.image_id), k = catIndex.get(a.category_id);
    if (i === undefined || k === undefined) continue;
    const bbox = checkBox(a.bbox, `annotation ${n} (id ${a.id})`);
    const list = gts.get(key(i, k)) ?? [];
    list.push({ id: a.id, bbox, area: a.area, crowd: Boolean(a.iscrowd) });
    gts.set(key(i, k), list);
  }
  for (const [n, d] of dets.entries()) {
    if (!gtImgIds.has(d.image_id)) {
      throw new DataError(
        `Cannot evaluate: detection ${n} has image_id ${d.image_id}, which is not an image of the ground truth`,
      );
    }
    if (!gtCatIds.has(d.category_id)) {
      throw new DataError(
        `Cannot evaluate: detection ${n} has category_id ${d.category_id}, which is not a category of the ground truth`,
      );
    }
    if (typeof d.score !== "number" || Number.isNaN(d.score)) {
      throw new DataError(
        `Cannot evaluate: detection ${n} has score ${d.score}, expected a number`,
      );
    }
    const i = imgIndex.get(d.image_id), k = catIndex.get(d.category_id);
    if (i === undefined || k === undefined) continue;
    const bbox = checkBox(d.bbox, `detection ${n}`);
    const list = dts.get(key(i, k)) ?? [];
    list.push({ id: n + 1, bbox, area: bbox[2] * bbox[3], score: d.score });
    dts.set(key(i, k), list);
  }

  if (!useCats) {
    // pycocotools with useCats=0: per image, the lists of every category of catIds, in that order
    const pool = <X>(m: Map<number, X[]>): Map<number, X[]> => {
      const out = new Map<number, X[]>();
      for (let i = 0; i < I; i++) {
        const list = catIds.flatMap((_, k) => m.get(key(i, k)) ?? []);
        if (list.length) out.set(key(i, 0), list);
      }
      return out;
    };
    gts = pool(gts);
    dts = pool(dts);
  }

  // 2. evaluate each (category, area range, image), detections sorted by score (stable)
  const evalImgs: (EvalImg | null)[] = new Array(K * A * I).fill(null);
  for (let k = 0; k < K; k++) {
    for (let i = 0; i < I; i++) {
      const g = gts.get(key(i, k)) ?? [];
      let d = dts.get(key(i, k)) ?? [];
      if (g.length === 0 && d.length === 0) continue;
      d = stableArgsort(d.map((x) => -x.score)).map((j) => d[j]).slice(0, maxDetLast);
      const D = d.length, G = g.length;
      // ious[d][g] in original gt order
      const ious = new Float64Array(D * G);
      for (let a = 0; a < D; a++) {
        for (let b = 0; b < G; b++) ious[a * G + b] = bbIou(d[a].bbox, g[b].bbox, g[b].crowd);
      }
      for (let ai = 0; ai < A; ai++) {
        const [lo, hi] = AREA_RNG[ai];
        const ig = g.map((x) => (x.crowd || x.area < lo || x.area > hi ? 1 : 0));
        const gtind = stableArgsort(ig);
        const gs = gtind.map((j) => g[j]);
        const gtIg = Uint8Array.from(gtind.map((j) => ig[j]));
        const gtm = new Float64Array(T * G);
        const dtm = new Float64Array(T * D);
        const dtIg = new Uint8Array(T * D);
        if (D > 0 && G > 0) {
          for (let t = 0; t < T; t++) {
            for (let di = 0; di < D; di++) {
              let iou = Math.min(iouThrs[t], 1 - 1e-10);
              let m = -1;
              for (let gi = 0; gi < G; gi++) {
                // a gt already matched (and not crowd) is taken
                if (gtm[t * G + gi] > 0 && !gs[gi].crowd) continue;
                // matched to a regular gt already, and the rest are ignored gts: stop
                if (m > -1 && gtIg[m] === 0 && gtIg[gi] === 1) break;
                const v = ious[di * G + gtind[gi]];
                if (v < iou) continue;
                iou = v;
                m = gi;
              }
              if (m === -1) continue;
              dtIg[t * D + di] = gtIg[m];
              dtm[t * D + di] = gs[m].id;
              gtm[t * G + m] = d[di].id;
            }
          }
        }
        // unmatched detections outside the area range are ignored
        for (let di = 0; di < D; di++) {
          const out = d[di].area < lo || d[di].area > hi;
          if (!out) continue;
          for (let t = 0; t < T; t++) if (dtm[t * D + di] === 0) dtIg[t * D + di] = 1;
        }
        evalImgs[(k * A + ai) * I + i] = {
          dtScores: d.map((x) => x.score),
          dtMatches: dtm,
          dtIgnore: dtIg,
          gtIgnore: gtIg,
          D,
        };
      }
    }
  }

  // 3. accumulate precision and recall
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  for (let k = 0; k < K; k++) {
    for (let a = 0; a < A; a++) {
      for (let mi = 0; mi < M; mi++) {
        const maxDet = maxDets[mi];
        const E: EvalImg[] = [];
        for (let i = 0; i < I; i++) {
          const e = evalImgs[(k * A + a) * I + i];
          if (e) E.push(e);
        }
        if (E.length === 0) continue;
        const scores: number[] = [];
        const src: [EvalImg, number][] = [];
        let npig = 0;
        for (const e of E) {
          const n = Math.min(maxDet, e.D);
          for (let j = 0; j < n; j++) {
            scores.push(e.dtScores[j]);
            src.push([e, j]);
          }
          for (const v of e.gtIgnore) if (v === 0) npig++;
        }
        if (npig === 0) continue;
        const order = stableArgsort(scores.map((s) => -s));
        const nd = order.length;
        for (let t = 0; t < T; t++) {
          let tp = 0, fp = 0;
          const rc = new Float64Array(nd), pr = new Float64Array(nd);
          for (let j = 0; j < nd; j++) {
            const [e, c] = src[order[j]];
            const matched = e.dtMatches[t * e.D + c] !== 0;
            const ignored = e.dtIgnore[t * e.D + c] !== 0;
            if (!ignored) {
              if (matched) tp++;
              else fp++;
            }
            rc[j] = tp / npig;
            pr[j] = tp / (fp + tp + 2.220446049250313e-16);
          }
          recall[((t * K + k) * A + a) * M + mi] = nd ? rc[nd - 1] : 0;
          for (let j = nd - 1; j > 0; j--) if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
          // searchsorted(rc, recThrs, side="left"): first j with rc[j] >= thr
          let j = 0;
          for (let r = 0; r < R; r++) {
            while (j < nd && rc[j] < recThrs[r]) j++;
            const q = j < nd ? pr[j] : 0;
            precision[(((t * R + r) * K + k) * A + a) * M + mi] = q;
          }
        }
      }
    }
  }

  const params = {
    imgIds,
    catIds: useCats ? catIds : [-1],
    iouThrs,
    recThrs,
    maxDets,
    areaRng: AREA_RNG,
    areaRngLbl: AREA_LBL,
  };
  const { stats, lines } = summarizeArrays(precision, recall, params);
  const result: CocoEvalResult = { stats, lines, precision, recall, params };
  if (opts.classwise) {
    const names = new Map(gt.categories.map((c) => [c.id, c.name]));
    result.perCategory = catIds.map((id, k) => {
      let sum = 0, n = 0;
      for (let t = 0; t < T; t++) {
        for (let r = 0; r < R; r++) {
          const v = precision[(((t * R + r) * K + k) * A + 0) * M + (M - 1)];
          if (v > -1) {
            sum += v;
            n++;
          }
        }
      }
      return { category_id: id, name: names.get(id) ?? String(id), ap: n ? sum / n : NaN };
    });
  }
  return result;
}

/**
 * Formats `x` with `digits` decimals exactly as Python's `format(x, ".Nf")`: correctly rounded,
 * ties (exact binary halves) to even.
 */
export function formatFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return x > 0 ? "inf" : x < 0 ? "-inf" : "nan";
  const s = x.toFixed(digits);
  const exact = x.toFixed(100);
  const dot = exact.indexOf(".");
  const tail = exact.slice(dot + 1 + digits);
  if (tail[0] === "5" && /^50*$/.test(tail)) {
    // an exact tie: toFixed rounded away from zero; Python rounds to even
    const kept = exact.slice(0, dot + 1 + digits);
    const lastDigit = Number(
      kept[kept.length - 1] === "." ? kept[kept.length - 2] : kept[kept.length - 1],
    );
    if (lastDigit % 2 === 0) return digits === 0 ? kept.slice(0, -1) : kept;
  }
  return s;
}

function summarizeArrays(
  precision: Float64Array,
  recall: Float64Array,
  p: CocoEvalResult["params"],
): { stats: number[]; lines: string[] } {
  const T = p.iouThrs.length,
    R = p.recThrs.length,
    K = p.catIds.length,
    A = p.areaRng.length,
    M = p.maxDets.length;
  const lines: string[] = [];
  const one = (
    ap: boolean,
    iouThr: number | undefined,
    areaLbl: string,
    maxDet: number,
  ): number => {
    const aind = p.areaRngLbl.indexOf(areaLbl);
    const mind = p.maxDets.indexOf(maxDet);
    let sum = 0, n = 0;
    if (aind >= 0 && mind >= 0) {
      for (let t = 0; t < T; t++) {
        if (iouThr !== undefined && p.iouThrs[t] !== iouThr) continue;
        if (ap) {
          for (let r = 0; r < R; r++) {
            for (let k = 0; k < K; k++) {
              const v = precision[(((t * R + r) * K + k) * A + aind) * M + mind];
              if (v > -1) {
                sum += v;
                n++;
              }
            }
          }
        } else {
          for (let k = 0; k < K; k++) {
            const v = recall[((t * K + k) * A + aind) * M + mind];
            if (v > -1) {
              sum += v;
              n++;
            }
          }
        }
      }
    }
    const mean = n === 0 ? -1 : sum / n;
    const title = (ap ? "Average Precision" : "Average Recall").padEnd(18);
    const type = ap ? "(AP)" : "(AR)";
    const iouStr = iouThr === undefined
      ? `${formatFixed(p.iouThrs[0], 2)}:${formatFixed(p.iouThrs[T - 1], 2)}`
      : formatFixed(iouThr, 2);
    lines.push(
      ` ${title} ${type} @[ IoU=${iouStr.padEnd(9)} | area=${areaLbl.padStart(6)} | maxDets=${
        String(maxDet).padStart(3)
      } ] = ${formatFixed(mean, 3)}`,
    );
    return mean;
  };
  const md = p.maxDets;
  const last = md[Math.min(2, md.length - 1)];
  const stats = [
    one(true, undefined, "all", 100),
    one(true, 0.5, "all", last),
    one(true, 0.75, "all", last),
    one(true, undefined, "small", last),
    one(true, undefined, "medium", last),
    one(true, undefined, "large", last),
    one(false, undefined, "all", md[0]),
    one(false, undefined, "all", md[Math.min(1, md.length - 1)]),
    one(false, undefined, "all", last),
    one(false, undefined, "small", last),
    one(false, undefined, "medium", last),
    one(false, undefined, "large", last),
  ];
  return { stats, lines };
}

/**
 * The 12-line pycocotools summary for a result of {@link evaluateCoco}, joined with newlines
 * (what `COCOeval.summarize()` prints).
 */
export function summarizeCoco(result: Pick<CocoEvalResult, "lines">): string {
  return result.lines.join("\n");
}

/**
 * mmdet's `CocoDataset.evaluate` keys from the 12 stats: `bbox_mAP`, `bbox_mAP_50`,
 * `bbox_mAP_75`, `bbox_mAP_s`, `bbox_mAP_m`, `bbox_mAP_l` (rounded to 3 decimals) and
 * `bbox_mAP_copypaste`.
 */
export function mmdetCocoMetrics(
  stats: number[],
  prefix = "bbox",
): Record<string, number | string> {
  const items = ["mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l"];
  const out: Record<string, number | string> = {};
  items.forEach((it, i) => (out[`${prefix}_${it}`] = Number(formatFixed(stats[i], 3))));
  out[`${prefix}_mAP_copypaste`] = stats.slice(0, 6).map((v) => formatFixed(v, 3)).join(" ");
  return out;
}

/**
 * Detections of one image, per class (mmdet's `bbox2result`): `result[c]` is a flat
 * `Float32Array` of rows `[x1, y1, x2, y2, score]` (xyxy absolute pixels) for class c.
 */
export type BboxResult = ArrayLike<number>[];

/**
 * Converts per-image, per-class detections to COCO results JSON entries (mmdet's `_det2json`):
 * `bbox = [x1, y1, x2 - x1, y2 - y1]`, `category_id = catIds[label]`.
 *
 * @param results one {@link BboxResult} per image, in dataset order
 * @param imgIds the COCO image id of each result
 * @param catIds the COCO category id of each label
 */
export function resultsToCocoJson(
  results: BboxResult[],
  imgIds: number[],
  catIds: number[],
): CocoResult[] {
  if (results.length !== imgIds.length) {
    throw new RangeError(
      `Cannot convert results: ${results.length} results for ${imgIds.length} images; pass one result per image`,
    );
  }
  const out: CocoResult[] = [];
  results.forEach((perClass, idx) => {
    if (perClass.length !== catIds.length) {
      throw new RangeError(
        `Cannot convert results: image ${idx} has ${perClass.length} classes, expected ${catIds.length}`,
      );
    }
    perClass.forEach((rows, label) => {
      if (rows.length % 5 !== 0) {
        throw new TypeError(
          `Cannot convert results: image ${idx} class ${label} has ${rows.length} values, not rows of 5`,
        );
      }
      for (let r = 0; r < rows.length; r += 5) {
        const x1 = rows[r], y1 = rows[r + 1], x2 = rows[r + 2], y2 = rows[r + 3];
        out.push({
          image_id: imgIds[idx],
          bbox: [x1, y1, x2 - x1, y2 - y1],
          score: rows[r + 4],
          category_id: catIds[label],
        });
      }
    });
  });
  return out;
}
