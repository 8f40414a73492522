/**
 * `CustomDataset`: mmdet's base detection dataset over the "middle format" — a list of
 * `{filename, width, height, ann: {bboxes, labels, bboxes_ignore, labels_ignore}}` — with
 * image filtering, aspect-ratio group flags, the pipeline, and VOC/COCO-style evaluation.
 *
 * @module
 */
import { isAbsolute, join } from "../utils/path.ts";
import { DataError } from "../utils/errors.ts";
import type { TypedCfg } from "../utils/registry.ts";
import { hashSeed, Rng } from "../utils/rng.ts";
import {
  type BboxResult,
  type CocoJson,
  evaluateCoco,
  mmdetCocoMetrics,
  resultsToCocoJson,
} from "../evaluation/coco_eval.ts";
import { evalMap, formatMapSummary } from "../evaluation/voc_eval.ts";
import { evalRecalls, formatRecallSummary } from "../evaluation/recall.ts";
import { checkImageFile, checkMaxPixels, type ColorType } from "./image_io.ts";
import { Compose } from "./pipelines/compose.ts";
import { isF32Finite } from "./validate.ts";
import { joinPrefix, LoadImageFromFile } from "./pipelines/loading.ts";
// registers every built-in transform, so that a dataset's pipeline configs always build
import "./pipelines/mod.ts";
import { DATASETS } from "./registry.ts";
import type { AnnInfo, DataInfo, Results } from "./types.ts";
import { platform } from "../platform/mod.ts";

/** Config of a dataset (mmdet's keyword arguments, snake_case). */
export interface DatasetCfg {
  /** Registered dataset type (for `buildDataset`). */
  type?: string;
  /** Annotation file (JSON list for CustomDataset, instances JSON for COCO, id list for VOC). */
  ann_file?: string | null;
  /** Pipeline transform configs, run by `getItem`. */
  pipeline?: TypedCfg[];
  /** Class names, or a text file with one name per line; default the class's `CLASSES`. */
  classes?: readonly string[] | string | null;
  /** Joined in front of relative `ann_file`, `img_prefix`, `seg_prefix`, `proposal_file`. */
  data_root?: string | null;
  /** Folder the image file names are relative to. */
  img_prefix?: string | null;
  /** Folder of segmentation maps (unused by box detectors). */
  seg_prefix?: string | null;
  /** Proposal file (not supported). */
  proposal_file?: string | null;
  /** Test mode: no image filtering, `getItem` runs the test pipeline. */
  test_mode?: boolean;
  /** Drop training images without ground truth (default true). */
  filter_empty_gt?: boolean;
  /** wgdet extension: the middle-format list itself instead of an `ann_file`. */
  data_infos?: DataInfo[];
  /** Seed of the dataset's own generator (used when `getItem` gets no generator). */
  seed?: number;
  /** Suppress load-time warnings (they are still recorded in `warnings`); workers set it. */
  quiet?: boolean;
  /** Where load-time warnings go; default `console.warn`. Not serialisable: dropped for workers. */
  warn?: (msg: string) => void;
  /**
   * wgdet: check every image file (exists, PNG/JPEG header, size within `max_pixels`) when the
   * dataset loads. Default false for a dataset built directly; datasets built from a config
   * (`buildSplit`: train, test, eval, check-dataset) are checked unless this is false.
   */
  check_images?: boolean;
  /** wgdet: the decoded-size bound for the load-time check (default the pipeline's). */
  max_pixels?: number;
  /** Subclass options (e.g. XMLDataset's `min_size`). */
  [key: string]: unknown;
}

/** What each skip reason means, for the one warning per reason. */
const SKIP_REASONS: Record<string, string> = {
  outside_image: "box outside the image (mmdet: inter_w * inter_h == 0)",
  tiny_box: "area <= 0 or w < 1 or h < 1 (mmdet's filter)",
  zero_area_box: "zero-area or inverted box (xmax <= xmin or ymax <= ymin)",
  ignore_flag: '"ignore" set',
};

/** Options of `evaluate`. */
export interface EvaluateOptions {
  /** "mAP" (VOC-style, default for Custom/XML/VOC) or "bbox" (COCO-style). */
  metric?: string | string[];
  /** IoU threshold(s) for "mAP" (default 0.5); for "bbox", the COCO thresholds (default .50:.05:.95). */
  iou_thr?: number | number[];
  /** COCO IoU thresholds for "bbox" (default 0.50:0.05:0.95). */
  iou_thrs?: number[] | null;
  /** Box side ranges for "mAP". */
  scale_ranges?: [number, number][] | null;
  /** COCO max detections (mmdet: [100, 300, 1000]). */
  proposal_nums?: number[];
  /** Also report per-class AP ("bbox"). */
  classwise?: boolean;
  /** Receives the printed tables; default `console.log`. */
  logger?: (line: string) => void;
}

/** Path `p` under `root` unless absolute (mmdet's data_root handling). */
function underRoot(
  root: string | null | undefined,
  p: string | null | undefined,
): string | null | undefined {
  if (!root || p === null || p === undefined || p === "" || isAbsolute(p)) return p;
  return join(root, p);
}

/** Reads a text file with a clear error naming it. */
export function readTextFile(path: string, what: string): string {
  try {
    return platform().readTextFileSync(path);
  } catch (e) {
    if (platform().isNotFound(e)) {
      throw new DataError(`Cannot read ${what} "${path}": the file does not exist`);
    }
    throw new DataError(`Cannot read ${what} "${path}": ${(e as Error).message}`);
  }
}

/** Lines of a list file, trimmed, blank lines skipped (mmcv `list_from_file`). */
export function listFromFile(path: string, what = "list file"): string[] {
  return readTextFile(path, what).split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
}

function toF32Boxes(v: unknown, where: string): Float32Array {
  if (v === undefined || v === null) return new Float32Array(0);
  const flat: number[] = [];
  if (Array.isArray(v) && v.length > 0 && Array.isArray(v[0])) {
    for (const row of v as number[][]) {
      if (row.length !== 4) {
        throw new DataError(`${where}: box ${JSON.stringify(row)} does not have 4 values`);
      }
      flat.push(...row);
    }
  } else flat.push(...Array.from(v as ArrayLike<number>));
  if (flat.length % 4 !== 0 || flat.some((x) => !isF32Finite(x))) {
    throw new DataError(
      `${where}: boxes must be finite numbers in rows of 4, got ${flat.length} values`,
    );
  }
  return Float32Array.from(flat);
}

/** Normalises a middle-format `ann` (plain arrays or typed arrays) into {@link AnnInfo}. */
export function toAnnInfo(ann: DataInfo["ann"], where: string): AnnInfo {
  if (!ann || typeof ann !== "object") throw new DataError(`${where}: "ann" is missing`);
  const bboxes = toF32Boxes(ann.bboxes, `${where}: ann.bboxes`);
  const toLabels = (v: unknown, name: string): Int32Array => {
    const list = v === undefined || v === null ? [] : Array.from(v as ArrayLike<unknown>);
    const badL = list.find((l) => !Number.isSafeInteger(l));
    if (badL !== undefined) {
      throw new DataError(`${where}: ${name} must be integers, got ${JSON.stringify(badL)}`);
    }
    return Int32Array.from(list as number[]);
  };
  const labels = toLabels(ann.labels, "ann.labels");
  const bboxesIgnore = toF32Boxes(ann.bboxes_ignore, `${where}: ann.bboxes_ignore`);
  const labelsIgnore = toLabels(ann.labels_ignore, "ann.labels_ignore");
  if (labels.length * 4 !== bboxes.length) {
    throw new DataError(`${where}: ${bboxes.length / 4} boxes but ${labels.length} labels`);
  }
  if (labelsIgnore.length * 4 !== bboxesIgnore.length && labelsIgnore.length > 0) {
    throw new DataError(
      `${where}: ${
        bboxesIgnore.length / 4
      } ignored boxes but ${labelsIgnore.length} ignored labels`,
    );
  }
  return { bboxes, labels, bboxes_ignore: bboxesIgnore, labels_ignore: labelsIgnore };
}

/**
 * mmdet's `CustomDataset`. Subclasses override `loadAnnotations`, `getAnnInfo`, `filterImgs`
 * and `evaluate`; they read their own options from `this.cfg` because `loadAnnotations` runs
 * inside this constructor.
 *
 * @example
 * ```ts ignore
 * const ds = new CustomDataset({
 *   classes: ["cat"],
 *   data_infos: [{ filename: "a.png", width: 64, height: 48, ann: { bboxes: [[1, 2, 30, 40]], labels: [0] } }],
 *   img_prefix: "data/",
 *   pipeline: [{ type: "LoadImageFromFile" }, { type: "LoadAnnotations" }],
 * });
 * const sample = ds.getItem(0);
 * ```
 */
export class CustomDataset {
  /** Default class names of this dataset type (null: must be given with `classes`). */
  static CLASSES: readonly string[] | null = null;

  /** The config this dataset was built from (used to rebuild it inside loader workers). */
  readonly cfg: DatasetCfg;
  /** Class names; label i is `CLASSES[i]`. */
  CLASSES: string[];
  /** `ann_file` joined with `data_root`. */
  readonly annFile: string | null;
  /** `data_root`, or null. */
  readonly dataRoot: string | null;
  /** `img_prefix` joined with `data_root`. */
  readonly imgPrefix: string | null;
  /** `seg_prefix` joined with `data_root`. */
  readonly segPrefix: string | null;
  /** Whether this is a test set (no filtering, test pipeline). */
  readonly testMode: boolean;
  /** Whether training drops images without ground truth. */
  readonly filterEmptyGt: boolean;
  /** One entry per image, annotations included (`ann`), after filtering. */
  dataInfos: DataInfo[];
  /** Aspect-ratio group per image: 1 if width / height > 1, else 0. */
  flag: Uint8Array;
  /** The composed pipeline. */
  pipeline: Compose;
  /** Every warning raised while loading (also printed unless `quiet`). */
  readonly warnings: string[] = [];
  /** Counts of skipped or dropped entries by reason. */
  readonly skipped: Record<string, number> = {};
  /** Up to 5 examples per skip reason (file, image, value), for the warning. */
  readonly #skipExamples: Record<string, string[]> = {};
  #rng: Rng;
  #quiet: boolean;
  #warnTo: (msg: string) => void;

  /** Loads the annotations, filters images (train) and builds the pipeline. */
  constructor(cfg: DatasetCfg = {}) {
    if (cfg === null || typeof cfg !== "object") {
      throw new TypeError(`dataset config must be an object, got ${JSON.stringify(cfg)}`);
    }
    this.cfg = cfg;
    this.#quiet = cfg.quiet ?? false;
    this.#warnTo = cfg.warn ?? console.warn;
    this.dataRoot = cfg.data_root ?? null;
    this.annFile = underRoot(this.dataRoot, cfg.ann_file) ?? null;
    this.imgPrefix = underRoot(this.dataRoot, cfg.img_prefix ?? "") ?? null;
    this.segPrefix = underRoot(this.dataRoot, cfg.seg_prefix) ?? null;
    if (cfg.proposal_file) {
      throw new RangeError("proposal_file is not supported (no two-stage detectors)");
    }
    this.testMode = cfg.test_mode ?? false;
    this.filterEmptyGt = cfg.filter_empty_gt ?? true;
    this.#rng = new Rng(cfg.seed ?? 0);
    this.CLASSES = this.getClasses(cfg.classes ?? null);
    if (cfg.max_pixels !== undefined) checkMaxPixels(cfg.max_pixels, this.constructor.name);
    this.dataInfos = this.loadAnnotations(this.annFile);
    const loaded = this.dataInfos.length;
    if (!this.testMode) {
      const valid = this.filterImgs();
      this.dataInfos = valid.map((i) => this.dataInfos[i]);
      this.afterFilter(valid);
    }
    this.#reportSkipped();
    if (!this.testMode && this.dataInfos.length === 0) this.#failEmpty(loaded);
    this.flag = this.setGroupFlag();
    this.pipeline = new Compose(cfg.pipeline ?? []);
    if (cfg.check_images === true) this.checkImages();
  }

  /**
   * Checks every image file without decoding it (exists, PNG/JPEG header with a size within
   * `max_pixels`); throws one error naming the missing or unreadable files (the first 5 and a
   * count), so that a bad image fails at load, not when training reaches it.
   *
   * @throws {DataError}
   */
  checkImages(): void {
    const load = this.pipeline.transforms.find((t) => t instanceof LoadImageFromFile) as
      | LoadImageFromFile
      | undefined;
    const maxPixels = this.cfg.max_pixels ?? load?.maxPixels;
    const colorType: ColorType = load?.colorType ?? "color";
    const bad: string[] = [];
    let nBad = 0;
    for (const info of this.dataInfos) {
      const path = joinPrefix(this.imgPrefix, info.filename);
      try {
        checkImageFile(path, { maxPixels, colorType });
      } catch (e) {
        if (!(e instanceof DataError)) throw e;
        nBad++;
        if (bad.length < 5) bad.push(e.message);
      }
    }
    if (nBad > 0) {
      throw new DataError(
        `${this.constructor.name}${
          this.annFile ? ` "${this.annFile}"` : ""
        }: ${nBad} of ${this.dataInfos.length} images cannot be used:\n  ${bad.join("\n  ")}${
          nBad > bad.length ? `\n  ... and ${nBad - bad.length} more` : ""
        }\n(set check_images: false on the dataset to defer the check to loading time)`,
      );
    }
  }

  /** Class names found in the annotation files (for the empty-dataset error), or null. */
  protected classesFound(): Record<string, number> | null {
    return null;
  }

  #failEmpty(loaded: number): never {
    const found = this.classesFound();
    const skipped = Object.entries(this.skipped).map(([k, v]) => `${k} ${v}`).join(", ");
    let cause = "";
    if (found) {
      const names = Object.entries(found);
      const matching = names.filter(([k]) => this.CLASSES.includes(k));
      cause = matching.length === 0
        ? `; the classes ${JSON.stringify(this.CLASSES)} match no object in the files, which have ${
          names.length === 0
            ? "no objects at all"
            : names.slice(0, 20).map(([k, n]) => `"${k}" ×${n}`).join(", ")
        } (names are case-sensitive): set "classes" to names from the files`
        : `; objects of the classes exist (${
          matching.map(([k, n]) => `"${k}" ×${n}`).join(", ")
        }) but every image was filtered`;
    }
    throw new DataError(
      `${this.constructor.name}${
        this.annFile ? ` "${this.annFile}"` : ""
      }: no usable training images (${loaded} loaded${
        skipped ? `; skipped: ${skipped}` : ""
      })${cause}`,
    );
  }

  /** One warning per skip reason that recorded examples (count, meaning, first examples). */
  #reportSkipped(): void {
    for (const [reason, examples] of Object.entries(this.#skipExamples)) {
      const n = this.skipped[reason] ?? examples.length;
      this.warn(
        `skipped ${n} annotation(s): ${SKIP_REASONS[reason] ?? reason}: ${examples.join("; ")}${
          n > examples.length ? `; ... and ${n - examples.length} more` : ""
        }`,
      );
    }
  }

  /** The class names from `classes` (list, or a file with one per line) or the class default. */
  getClasses(classes: readonly string[] | string | null): string[] {
    if (classes === null) {
      const def = (this.constructor as typeof CustomDataset).CLASSES;
      if (!def) {
        throw new RangeError(`${this.constructor.name} needs "classes": a list of class names`);
      }
      return [...def];
    }
    if (typeof classes === "string") {
      return listFromFile(underRoot(this.dataRoot, classes)!, "classes file");
    }
    if (Array.isArray(classes) && classes.every((c) => typeof c === "string")) {
      if (new Set(classes).size !== classes.length) {
        throw new RangeError(`classes has duplicate names: ${JSON.stringify(classes)}`);
      }
      return [...classes];
    }
    throw new TypeError(
      `classes must be a list of names or a file path, got ${JSON.stringify(classes)}`,
    );
  }

  /** Records and prints (unless quiet) a load-time warning. */
  protected warn(msg: string): void {
    const text = `${this.constructor.name}: ${msg}`;
    this.warnings.push(text);
    if (!this.#quiet) this.#warnTo(text);
  }

  /**
   * Adds `n` to the skipped-entry counter `reason`; with `example` (file, image, value), the
   * reason gets one warning after loading listing the first examples.
   */
  protected countSkipped(reason: string, n = 1, example?: string): void {
    this.skipped[reason] = (this.skipped[reason] ?? 0) + n;
    if (example !== undefined) {
      const list = this.#skipExamples[reason] ??= [];
      if (list.length < 5) list.push(example);
    }
  }

  /** Loads the middle-format list: `data_infos` from the config or a JSON file. */
  loadAnnotations(annFile: string | null): DataInfo[] {
    let infos: unknown;
    let where: string;
    if (this.cfg.data_infos) {
      infos = this.cfg.data_infos;
      where = "data_infos";
    } else {
      if (!annFile) throw new RangeError(`${this.constructor.name} needs ann_file or data_infos`);
      const text = readTextFile(annFile, "annotation file");
      try {
        infos = JSON.parse(text);
      } catch (e) {
        throw new DataError(`Cannot parse annotation file "${annFile}": ${(e as Error).message}`);
      }
      where = `"${annFile}"`;
    }
    if (!Array.isArray(infos)) {
      throw new DataError(`Cannot load ${where}: expected a list of image entries`);
    }
    return infos.map((info, i) => {
      const w = `${where} entry ${i}`;
      if (typeof info?.filename !== "string") {
        throw new DataError(`Cannot load ${w}: "filename" is missing`);
      }
      if (!(info.width > 0 && info.height > 0)) {
        throw new DataError(
          `Cannot load ${w} ("${info.filename}"): width and height must be positive`,
        );
      }
      const ann = toAnnInfo(info.ann, `Cannot load ${w} ("${info.filename}")`);
      for (const l of [...ann.labels, ...ann.labels_ignore]) {
        if (l < 0 || l >= this.CLASSES.length) {
          throw new DataError(
            `Cannot load ${w} ("${info.filename}"): label ${l} is outside 0..${
              this.CLASSES.length - 1
            }`,
          );
        }
      }
      return { ...info, ann } as DataInfo;
    });
  }

  /** Annotations of image `idx`. */
  getAnnInfo(idx: number): AnnInfo {
    return this.dataInfos[idx].ann as AnnInfo;
  }

  /** Labels present in image `idx`. */
  getCatIds(idx: number): number[] {
    return [...this.getAnnInfo(idx).labels];
  }

  /** Indices of images to keep for training: `min(width, height) >= minSize`. */
  filterImgs(minSize = 32): number[] {
    if (this.filterEmptyGt) {
      this.warn("CustomDataset does not support filtering empty gt images");
    }
    const out: number[] = [];
    this.dataInfos.forEach((info, i) => {
      if (Math.min(info.width, info.height) >= minSize) out.push(i);
      else this.countSkipped("small_image");
    });
    return out;
  }

  /** Called with the kept indices after filtering (subclasses re-index per-image caches). */
  protected afterFilter(_valid: number[]): void {}

  /** Aspect-ratio groups (mmdet `_set_group_flag`). */
  setGroupFlag(): Uint8Array {
    return Uint8Array.from(this.dataInfos, (info) => (info.width / info.height > 1 ? 1 : 0));
  }

  /** Number of images. */
  get length(): number {
    return this.dataInfos.length;
  }

  /** Fills the common pipeline inputs (mmdet `pre_pipeline`). */
  prePipeline(results: Results): void {
    results.img_prefix = this.imgPrefix;
    results.seg_prefix = this.segPrefix;
    results.proposal_file = null;
    results.bbox_fields = [];
    results.mask_fields = [];
    results.seg_fields = [];
  }

  /** Runs the pipeline on image `idx` with its annotations. */
  prepareTrainImg(idx: number, rng: Rng = this.#rng): Results | null {
    this.#checkIndex(idx);
    const results: Results = { img_info: this.dataInfos[idx], ann_info: this.getAnnInfo(idx), rng };
    this.prePipeline(results);
    return this.pipeline.call(results);
  }

  /** Runs the pipeline on image `idx` without annotations. */
  prepareTestImg(idx: number, rng: Rng = this.#rng): Results | null {
    this.#checkIndex(idx);
    const results: Results = { img_info: this.dataInfos[idx], rng };
    this.prePipeline(results);
    return this.pipeline.call(results);
  }

  #checkIndex(idx: number): void {
    if (!Number.isInteger(idx) || idx < 0 || idx >= this.length) {
      throw new RangeError(`Cannot get item ${idx}: the dataset has ${this.length} images`);
    }
  }

  /**
   * mmdet's `__getitem__`: the test pipeline in test mode; otherwise the train pipeline, and
   * when it drops the sample (returns null) another image of the same aspect group is drawn.
   */
  getItem(idx: number, rng: Rng = this.#rng): Results {
    if (this.testMode) {
      const r = this.prepareTestImg(idx, rng);
      if (r === null) throw new RangeError(`The test pipeline dropped image ${idx}`);
      return r;
    }
    for (let tries = 0; tries < 1000; tries++) {
      const data = this.prepareTrainImg(idx, rng);
      if (data !== null) return data;
      idx = this.randAnother(idx, rng);
    }
    throw new RangeError("The train pipeline dropped 1000 samples in a row; check its transforms");
  }

  /** A random index of the same aspect group as `idx`. */
  randAnother(idx: number, rng: Rng = this.#rng): number {
    const pool: number[] = [];
    this.flag.forEach((f, i) => {
      if (f === this.flag[idx]) pool.push(i);
    });
    return rng.choice(pool);
  }

  /**
   * A serialisable config that rebuilds this dataset (for loader workers): the original config
   * with `type`, without functions, with `quiet` set.
   */
  toConfig(): DatasetCfg {
    const out: DatasetCfg = {};
    for (const [k, v] of Object.entries(this.cfg)) if (typeof v !== "function") out[k] = v;
    out.type ??= this.constructor.name;
    out.quiet = true;
    out.check_images = false; // checked once, in the main process
    return out;
  }

  /**
   * Ground truth as a COCO instances JSON (image ids 1.., category ids 1.. in class order,
   * ignored boxes as crowd regions, area = w·h), for COCO-style evaluation of any dataset.
   */
  toCocoGt(): CocoJson {
    const images: CocoJson["images"] = [], annotations: CocoJson["annotations"] = [];
    let aid = 1;
    for (let i = 0; i < this.length; i++) {
      const info = this.dataInfos[i];
      images.push({ id: i + 1, file_name: info.filename, width: info.width, height: info.height });
      const ann = this.getAnnInfo(i);
      const add = (b: Float32Array, l: Int32Array, crowd: number) => {
        for (let j = 0; j < l.length; j++) {
          const [x1, y1, x2, y2] = b.subarray(j * 4, j * 4 + 4);
          annotations.push({
            id: aid++,
            image_id: i + 1,
            category_id: l[j] + 1,
            bbox: [x1, y1, x2 - x1, y2 - y1],
            area: (x2 - x1) * (y2 - y1),
            iscrowd: crowd,
          });
        }
      };
      add(ann.bboxes, ann.labels, 0);
      add(ann.bboxes_ignore, ann.labels_ignore, 1);
    }
    return {
      images,
      annotations,
      categories: this.CLASSES.map((name, k) => ({ id: k + 1, name })),
    };
  }

  /**
   * Evaluates per-image, per-class detections: "mAP" with `eval_map` (area mode, v2
   * coordinates; keys `AP50`, …, `mAP`) or "bbox" with COCO metrics (keys `bbox_mAP`, …).
   */
  evaluate(results: BboxResult[], opts: EvaluateOptions = {}): Record<string, number | string> {
    this.checkResults(results);
    const metrics = Array.isArray(opts.metric) ? opts.metric : [opts.metric ?? "mAP"];
    const out: Record<string, number | string> = {};
    for (const metric of metrics) {
      if (metric === "mAP") Object.assign(out, this.evaluateMap(results, opts, "area", false));
      else if (metric === "bbox") {
        const gt = this.toCocoGt();
        Object.assign(
          out,
          this.evaluateCocoStyle(
            results,
            gt,
            gt.images.map((im) => im.id),
            this.CLASSES.map((_, k) => k + 1),
            opts,
          ),
        );
      } else if (metric === "recall") Object.assign(out, this.evaluateRecall(results, opts, false));
      else {
        throw new RangeError(`Cannot evaluate metric "${metric}": use "mAP", "bbox" or "recall"`);
      }
    }
    return out;
  }

  /**
   * mmdetection's `recall` metric of Custom/VOC datasets: `eval_recalls` of the results (proposals,
   * or every class's detections pooled) against each image's non-ignored gts at `iou_thr`(s):
   * `recall@{num}@{iou}` and, with several thresholds, `AR@{num}`.
   */
  protected evaluateRecall(
    results: BboxResult[],
    opts: EvaluateOptions,
    legacy: boolean,
  ): Record<string, number> {
    const gts = Array.from({ length: this.length }, (_, i) => this.getAnnInfo(i).bboxes);
    const thrs = Array.isArray(opts.iou_thr) ? opts.iou_thr : [opts.iou_thr ?? 0.5];
    const r = evalRecalls(gts, results.map(proposalRows), 5, {
      proposalNums: opts.proposal_nums ?? [100, 300, 1000],
      iouThrs: thrs,
      useLegacyCoordinate: legacy,
    });
    (opts.logger ?? console.log)(formatRecallSummary(r));
    const out: Record<string, number> = {};
    r.proposalNums.forEach((n, i) =>
      r.iouThrs.forEach((t, j) => (out[`recall@${n}@${t}`] = r.recalls[i][j]))
    );
    if (r.iouThrs.length > 1) r.proposalNums.forEach((n, i) => (out[`AR@${n}`] = r.ar[i]));
    return out;
  }

  /** Throws unless there is one result per image. */
  protected checkResults(results: BboxResult[]): void {
    if (!Array.isArray(results) || results.length !== this.length) {
      throw new RangeError(
        `Cannot evaluate: ${results?.length} results for ${this.length} images; pass one result per image`,
      );
    }
  }

  /** VOC-style mAP over `iou_thr`(s): `AP50`, … and their mean `mAP`. */
  protected evaluateMap(
    results: BboxResult[],
    opts: EvaluateOptions,
    mode: "area" | "11points",
    legacy: boolean,
  ): Record<string, number> {
    const annotations = Array.from({ length: this.length }, (_, i) => this.getAnnInfo(i));
    const thrs = Array.isArray(opts.iou_thr) ? opts.iou_thr : [opts.iou_thr ?? 0.5];
    const log = opts.logger ?? console.log;
    const out: Record<string, number> = {};
    const means: number[] = [];
    for (const thr of thrs) {
      const res = evalMap(results, annotations, {
        iou_thr: thr,
        scale_ranges: opts.scale_ranges ?? undefined,
        mode,
        use_legacy_coordinate: legacy,
      });
      log(`${"-".repeat(15)}iou_thr: ${thr}${"-".repeat(15)}`);
      log(formatMapSummary(res, this.CLASSES));
      means.push(res.mean_ap[0]);
      out[`AP${String(Math.trunc(thr * 100)).padStart(2, "0")}`] =
        Math.round(res.mean_ap[0] * 1000) / 1000;
    }
    out.mAP = means.reduce((s, v) => s + v, 0) / means.length;
    return out;
  }

  /** COCO-style metrics of `results` against `gt` (mmdet `CocoDataset.evaluate`, metric "bbox"). */
  protected evaluateCocoStyle(
    results: BboxResult[],
    gt: CocoJson,
    imgIds: number[],
    catIds: number[],
    opts: EvaluateOptions,
  ): Record<string, number | string> {
    const dets = resultsToCocoJson(results, imgIds, catIds);
    const res = evaluateCoco(gt, dets, {
      catIds,
      imgIds,
      maxDets: opts.proposal_nums ?? [100, 300, 1000],
      iouThrs: opts.iou_thrs ?? undefined,
      classwise: opts.classwise,
    });
    const log = opts.logger ?? console.log;
    log(res.lines.join("\n"));
    if (opts.classwise && res.perCategory) {
      for (const c of res.perCategory) {
        log(`${c.name.padEnd(20)} ${Number.isNaN(c.ap) ? "nan" : c.ap.toFixed(3)}`);
      }
    }
    return mmdetCocoMetrics(res.stats, "bbox");
  }
}

/**
 * The `[k, 5]` rows of one image's result for recall: an RPN's proposals (one array), or the
 * detections of every class concatenated.
 */
export function proposalRows(result: BboxResult): Float32Array {
  if (result.length === 1) return Float32Array.from(result[0]);
  const n = result.reduce((s, c) => s + c.length, 0);
  const out = new Float32Array(n);
  let o = 0;
  for (const c of result) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** The per-sample generator the loader uses: independent of worker count and draw order. */
export function sampleRng(seed: number, epoch: number, position: number): Rng {
  return new Rng(hashSeed(seed, epoch, position));
}

DATASETS.register("CustomDataset", CustomDataset);
