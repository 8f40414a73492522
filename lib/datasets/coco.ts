/**
 * `CocoDataset`: COCO instances JSON with mmdet v2 semantics (class subset, contiguous labels,
 * empty/small image filtering, crowd boxes to `gt_bboxes_ignore`, COCO box evaluation).
 *
 * @module
 */
import { DataError } from "../utils/errors.ts";
import { describe, flag01, isF32Finite, readUtf8File } from "./validate.ts";
import {
  type BboxResult,
  type CocoAnnotation,
  type CocoJson,
  evaluateCoco,
  formatFixed,
} from "../evaluation/coco_eval.ts";
import { evalRecalls, RECALL_IOU_THRS } from "../evaluation/recall.ts";
import { CustomDataset, type DatasetCfg, type EvaluateOptions, proposalRows } from "./custom.ts";
import { DATASETS } from "./registry.ts";
import type { AnnInfo, DataInfo } from "./types.ts";

/** The 80 COCO class names in mmdet's order (label i ↔ the i-th name). */
export const COCO_CLASSES: readonly string[] = [
  "person",
  "bicycle",
  "car",
  "motorcycle",
  "airplane",
  "bus",
  "train",
  "truck",
  "boat",
  "traffic light",
  "fire hydrant",
  "stop sign",
  "parking meter",
  "bench",
  "bird",
  "cat",
  "dog",
  "horse",
  "sheep",
  "cow",
  "elephant",
  "bear",
  "zebra",
  "giraffe",
  "backpack",
  "umbrella",
  "handbag",
  "tie",
  "suitcase",
  "frisbee",
  "skis",
  "snowboard",
  "sports ball",
  "kite",
  "baseball bat",
  "baseball glove",
  "skateboard",
  "surfboard",
  "tennis racket",
  "bottle",
  "wine glass",
  "cup",
  "fork",
  "knife",
  "spoon",
  "bowl",
  "banana",
  "apple",
  "sandwich",
  "orange",
  "broccoli",
  "carrot",
  "hot dog",
  "pizza",
  "donut",
  "cake",
  "chair",
  "couch",
  "potted plant",
  "bed",
  "dining table",
  "toilet",
  "tv",
  "laptop",
  "mouse",
  "remote",
  "keyboard",
  "cell phone",
  "microwave",
  "oven",
  "toaster",
  "sink",
  "refrigerator",
  "book",
  "clock",
  "vase",
  "scissors",
  "teddy bear",
  "hair drier",
  "toothbrush",
]; // deno-fmt-ignore

function isNum(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/**
 * Parses and validates a COCO instances JSON text: `images`, `annotations` and `categories`
 * lists; unique image, category and annotation ids and unique category names; every
 * annotation pointing at a known image and category; `bbox` of 4 numbers finite in float32;
 * `area` a finite number (filled with `w * h` when missing, counted in `filledArea`);
 * `iscrowd` / `ignore` 0, 1, true or false; image `width`/`height` positive integers and
 * `file_name` a non-empty string.
 *
 * @throws {DataError} naming `file`, the entry (index and id), the field and the value
 */
export function parseCocoJson(text: string, file: string): { coco: CocoJson; filledArea: number } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new DataError(`Cannot parse COCO annotation file "${file}": ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new DataError(
      `Cannot load COCO annotation file "${file}": the top level must be an object with images, annotations and categories`,
    );
  }
  const obj = raw as Record<string, unknown>;
  for (const key of ["images", "annotations", "categories"]) {
    if (!Array.isArray(obj[key])) {
      throw new DataError(
        `Cannot load COCO annotation file "${file}": key "${key}" is ${
          obj[key] === undefined ? "missing" : "not a list"
        }`,
      );
    }
  }
  const coco = obj as unknown as CocoJson;
  const entry = (list: string, i: number, e: unknown): Record<string, unknown> => {
    if (e === null || typeof e !== "object" || Array.isArray(e)) {
      throw new DataError(
        `Cannot load "${file}": ${list}[${i}] must be an object, got ${describe(e)}`,
      );
    }
    return e as Record<string, unknown>;
  };
  const bad = (where: string, field: string, v: unknown, want: string): never => {
    throw new DataError(`Cannot load ${where}: "${field}" must be ${want}, got ${describe(v)}`);
  };
  const imgIds = new Set<number>();
  coco.images.forEach((e, i) => {
    const im = entry("images", i, e);
    let where = `"${file}": images[${i}]`;
    if (!isNum(im.id)) bad(where, "id", im.id, "a number");
    where += ` (id ${im.id})`;
    if (typeof im.file_name !== "string" || im.file_name === "") {
      bad(where, "file_name", im.file_name, "a non-empty string");
    }
    for (const k of ["width", "height"]) {
      const v = im[k];
      if (!(Number.isSafeInteger(v) && (v as number) > 0)) bad(where, k, v, "a positive integer");
    }
    if (imgIds.has(im.id as number)) {
      throw new DataError(`Cannot load ${where}: image id ${im.id} is not unique`);
    }
    imgIds.add(im.id as number);
  });
  const catIds = new Set<number>();
  const catNames = new Map<string, unknown>();
  coco.categories.forEach((e, i) => {
    const c = entry("categories", i, e);
    let where = `"${file}": categories[${i}]`;
    if (!isNum(c.id)) bad(where, "id", c.id, "a number");
    where += ` (id ${c.id})`;
    if (typeof c.name !== "string" || c.name === "") {
      bad(where, "name", c.name, "a non-empty string");
    }
    if (catIds.has(c.id as number)) {
      throw new DataError(`Cannot load ${where}: category id ${c.id} is not unique`);
    }
    if (catNames.has(c.name as string)) {
      throw new DataError(
        `Cannot load ${where}: category name "${c.name}" is also category id ${
          catNames.get(c.name as string)
        }; annotations of one of them would be lost: merge them or rename one`,
      );
    }
    catIds.add(c.id as number);
    catNames.set(c.name as string, c.id);
  });
  const annIds = new Set<number>();
  let filledArea = 0;
  coco.annotations.forEach((e, i) => {
    const a = entry("annotations", i, e);
    let where = `"${file}": annotations[${i}]`;
    if (!isNum(a.id)) bad(where, "id", a.id, "a number");
    where += ` (id ${a.id}) of image_id ${describe(a.image_id)}`;
    if (annIds.has(a.id as number)) {
      throw new DataError(`Cannot load ${where}: annotation id ${a.id} is not unique`);
    }
    annIds.add(a.id as number);
    if (!imgIds.has(a.image_id as number)) {
      throw new DataError(
        `Cannot load ${where}: image_id ${describe(a.image_id)} is not in "images"`,
      );
    }
    if (!catIds.has(a.category_id as number)) {
      throw new DataError(
        `Cannot load ${where}: category_id ${describe(a.category_id)} is not in "categories"`,
      );
    }
    if (!Array.isArray(a.bbox) || a.bbox.length !== 4 || !a.bbox.every(isF32Finite)) {
      bad(where, "bbox", a.bbox, "[x, y, w, h]: 4 numbers finite in float32");
    }
    if (a.area === undefined) {
      const [, , w, h] = a.bbox as number[];
      a.area = w * h;
      filledArea++;
    } else if (!isF32Finite(a.area)) bad(where, "area", a.area, "a finite number");
    for (const k of ["iscrowd", "ignore"]) {
      flag01(a[k], false, (msg) => {
        throw new DataError(`Cannot load ${where}: "${k}" ${msg}`);
      });
    }
  });
  return { coco, filledArea };
}

/** Reads and validates a COCO instances JSON file (see {@link parseCocoJson}). */
export function loadCocoJson(file: string): CocoJson {
  return parseCocoJson(readUtf8File(file, "COCO annotation file"), file).coco;
}

/**
 * mmdet's `CocoDataset`. Label i is `CLASSES[i]`, matched to the category of that name
 * (mmdet takes JSON category order; the two agree when the order matches). Per annotation:
 * skipped when `ignore` is set, outside the image, `area <= 0`, `w < 1` or `h < 1` (counted
 * and warned once per image), or of a category not in `CLASSES` (counted); `iscrowd` → ignored
 * box. Training drops images without annotations of the classes and images smaller than 32 px.
 */
export class CocoDataset extends CustomDataset {
  /** The 80 COCO class names. */
  static override CLASSES: readonly string[] | null = COCO_CLASSES;

  /** The parsed instances JSON. */
  declare coco: CocoJson;
  /** COCO category id of each label. */
  declare catIds: number[];
  /** Category id → label. */
  declare cat2label: Map<number, number>;
  /** COCO image id of each dataset image (after filtering). */
  declare imgIds: number[];

  /** Loads `ann_file` (see {@link DatasetCfg}). */
  constructor(cfg: DatasetCfg) {
    super(cfg);
  }

  /** Parses and validates the instances JSON and every image's boxes. */
  override loadAnnotations(annFile: string | null): DataInfo[] {
    if (!annFile) throw new RangeError("CocoDataset needs ann_file");
    const { coco, filledArea } = parseCocoJson(
      readUtf8File(annFile, "COCO annotation file"),
      annFile,
    );
    this.coco = coco;
    if (filledArea > 0) {
      this.warn(`${filledArea} annotations in "${annFile}" have no "area"; using w * h`);
    }
    const byName = new Map<string, number>();
    for (const c of coco.categories) if (!byName.has(c.name)) byName.set(c.name, c.id);
    this.catIds = this.CLASSES.map((name) => {
      const id = byName.get(name);
      if (id === undefined) {
        throw new DataError(
          `Cannot load "${annFile}": class "${name}" is not a category name (have: ${
            [...byName.keys()].join(", ")
          }); set "classes" to names from the file`,
        );
      }
      return id;
    });
    this.cat2label = new Map(this.catIds.map((id, i) => [id, i]));
    const byImage = new Map<number, CocoAnnotation[]>();
    for (const a of coco.annotations) {
      const list = byImage.get(a.image_id) ?? [];
      list.push(a);
      byImage.set(a.image_id, list);
    }
    this.imgIds = coco.images.map((im) => im.id);
    return coco.images.map((im) => {
      const info: DataInfo = {
        ...im,
        id: im.id,
        filename: im.file_name,
        width: im.width,
        height: im.height,
      };
      info.ann = this.parseAnnInfo(info, byImage.get(im.id) ?? [], annFile);
      info.has_class_ann = (byImage.get(im.id) ?? []).some((a) =>
        this.cat2label.has(a.category_id)
      );
      return info;
    });
  }

  /** Box rules of one image (runs inside the base constructor, so it cannot be #private). */
  protected parseAnnInfo(info: DataInfo, anns: CocoAnnotation[], file: string): AnnInfo {
    const boxes: number[] = [],
      labels: number[] = [],
      ignore: number[] = [],
      ignoreLabels: number[] = [];
    for (const a of anns) {
      if (a.ignore) {
        this.countSkipped("ignore_flag");
        continue;
      }
      const [x, y, w, h] = a.bbox;
      const interW = Math.max(0, Math.min(x + w, info.width) - Math.max(x, 0));
      const interH = Math.max(0, Math.min(y + h, info.height) - Math.max(y, 0));
      const ex = () =>
        `"${file}" image ${info.id} "${info.filename}" annotation id ${a.id} bbox ${
          JSON.stringify(a.bbox)
        }`;
      if (interW * interH === 0) {
        this.countSkipped("outside_image", 1, ex());
        continue;
      }
      if (a.area <= 0 || w < 1 || h < 1) {
        this.countSkipped("tiny_box", 1, `${ex()} area ${a.area}`);
        continue;
      }
      const label = this.cat2label.get(a.category_id);
      if (label === undefined) {
        this.countSkipped("other_category");
        continue;
      }
      if (a.iscrowd) {
        ignore.push(x, y, x + w, y + h);
        ignoreLabels.push(label);
      } else {
        boxes.push(x, y, x + w, y + h);
        labels.push(label);
      }
    }
    return {
      bboxes: Float32Array.from(boxes),
      labels: Int32Array.from(labels),
      bboxes_ignore: Float32Array.from(ignore),
      labels_ignore: Int32Array.from(ignoreLabels),
    };
  }

  /** Category names with their annotation counts. */
  protected override classesFound(): Record<string, number> {
    const byId = new Map(this.coco.categories.map((c) => [c.id, c.name]));
    const out: Record<string, number> = {};
    for (const c of this.coco.categories) out[c.name] = 0;
    for (const a of this.coco.annotations) out[byId.get(a.category_id)!]++;
    return out;
  }

  /** Training filter: images with annotations of the classes and at least `minSize` px. */
  override filterImgs(minSize = 32): number[] {
    const out: number[] = [];
    this.dataInfos.forEach((info, i) => {
      if (this.filterEmptyGt && !info.has_class_ann) {
        this.countSkipped("empty_image");
        return;
      }
      if (Math.min(info.width, info.height) >= minSize) out.push(i);
      else this.countSkipped("small_image");
    });
    return out;
  }

  /** Keeps `imgIds` aligned with the filtered images. */
  protected override afterFilter(valid: number[]): void {
    this.imgIds = valid.map((i) => this.imgIds[i]);
  }

  /**
   * mmdetection's `proposal_fast`: `eval_recalls` against every non-crowd, non-ignored annotation
   * of each image (`[x, y, x + w, y + h]`), IoU 0.50:0.05:0.95 (or `iou_thrs`), `AR@{num}` the mean
   * recall over the thresholds for each of `proposal_nums` (default 100, 300, 1000).
   */
  fastEvalRecall(results: BboxResult[], opts: EvaluateOptions = {}): Record<string, number> {
    const byImage = new Map<number, number[]>();
    for (const a of this.coco.annotations) {
      if ((a as { ignore?: unknown }).ignore || a.iscrowd) continue;
      const [x, y, w, h] = a.bbox;
      const list = byImage.get(a.image_id) ?? [];
      list.push(x, y, x + w, y + h);
      byImage.set(a.image_id, list);
    }
    const gts = this.imgIds.map((id) => Float32Array.from(byImage.get(id) ?? []));
    const r = evalRecalls(gts, results.map(proposalRows), 5, {
      proposalNums: opts.proposal_nums ?? [100, 300, 1000],
      iouThrs: opts.iou_thrs ?? RECALL_IOU_THRS,
    });
    const out: Record<string, number> = {};
    const lines: string[] = [];
    r.proposalNums.forEach((n, i) => {
      out[`AR@${n}`] = r.ar[i];
      lines.push(`AR@${n}\t${r.ar[i].toFixed(4)}`);
    });
    (opts.logger ?? console.log)(lines.join("\n"));
    return out;
  }

  /**
   * mmdetection's `proposal`: pycocotools on the proposals (category 1, `useCats=0`, `maxDets` =
   * `proposal_nums`), reporting `AR@100`, `AR@300`, `AR@1000`, `AR_s@1000`, `AR_m@1000`,
   * `AR_l@1000` (the summary's recall entries, named after `proposal_nums`).
   */
  evaluateProposals(
    results: BboxResult[],
    opts: EvaluateOptions = {},
  ): Record<string, number> {
    const nums = opts.proposal_nums ?? [100, 300, 1000];
    if (nums.length !== 3) {
      throw new RangeError(
        `Cannot evaluate metric "proposal": proposal_nums must hold 3 counts (pycocotools' summary), got ${
          JSON.stringify(nums)
        }`,
      );
    }
    const cat = this.catIds[0];
    const dets = results.flatMap((res, i) => {
      const rows = proposalRows(res);
      const out = [];
      for (let j = 0; j + 5 <= rows.length; j += 5) {
        const [x1, y1, x2, y2, score] = rows.subarray(j, j + 5);
        out.push({
          image_id: this.imgIds[i],
          bbox: [x1, y1, x2 - x1, y2 - y1], // float64 differences, as mmdet's xyxy2xywh
          score,
          category_id: cat,
        });
      }
      return out;
    });
    const res = evaluateCoco(this.coco, dets, {
      imgIds: this.imgIds,
      catIds: this.catIds,
      maxDets: nums,
      iouThrs: opts.iou_thrs ?? undefined,
      useCats: false,
    });
    (opts.logger ?? console.log)(res.lines.join("\n"));
    const [a, b, c] = [...nums].sort((x, y) => x - y);
    const out: Record<string, number> = {};
    const items: [string, number][] = [
      [`AR@${a}`, 6],
      [`AR@${b}`, 7],
      [`AR@${c}`, 8],
      [`AR_s@${c}`, 9],
      [`AR_m@${c}`, 10],
      [`AR_l@${c}`, 11],
    ];
    for (const [k, i] of items) out[k] = Number(formatFixed(res.stats[i], 3));
    return out;
  }

  /** COCO box metrics (metric "bbox", default) or VOC-style "mAP". */
  override evaluate(
    results: BboxResult[],
    opts: EvaluateOptions = {},
  ): Record<string, number | string> {
    this.checkResults(results);
    const metrics = Array.isArray(opts.metric) ? opts.metric : [opts.metric ?? "bbox"];
    const out: Record<string, number | string> = {};
    for (const m of metrics) {
      if (m === "bbox") {
        Object.assign(
          out,
          this.evaluateCocoStyle(results, this.coco, this.imgIds, this.catIds, opts),
        );
      } else if (m === "mAP") Object.assign(out, this.evaluateMap(results, opts, "area", false));
      else if (m === "proposal_fast") Object.assign(out, this.fastEvalRecall(results, opts));
      else if (m === "proposal") Object.assign(out, this.evaluateProposals(results, opts));
      else {
        throw new RangeError(
          `Cannot evaluate metric "${m}": CocoDataset supports "bbox", "proposal", "proposal_fast" and "mAP"`,
        );
      }
    }
    return out;
  }
}

DATASETS.register("CocoDataset", CocoDataset);
