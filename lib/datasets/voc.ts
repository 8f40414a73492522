/**
 * `VOCDataset`: Pascal VOC 2007/2012 with mmdet's evaluation (official VOC coordinates with
 * `+1` widths; 11-point AP for 2007, area AP otherwise).
 *
 * @module
 */
import type { BboxResult } from "../evaluation/coco_eval.ts";
import type { EvaluateOptions } from "./custom.ts";
import { DATASETS } from "./registry.ts";
import { XMLDataset, type XmlDatasetCfg } from "./xml_style.ts";

/** The 20 Pascal VOC class names in mmdet's order. */
export const VOC_CLASSES: readonly string[] = [
  "aeroplane",
  "bicycle",
  "bird",
  "boat",
  "bottle",
  "bus",
  "car",
  "cat",
  "chair",
  "cow",
  "diningtable",
  "dog",
  "horse",
  "motorbike",
  "person",
  "pottedplant",
  "sheep",
  "sofa",
  "train",
  "tvmonitor",
]; // deno-fmt-ignore

/**
 * mmdet's `VOCDataset`. The year comes from `year` (wgdet extension) or from "VOC2007" /
 * "VOC2012" in `img_prefix`, as mmdet infers it.
 */
export class VOCDataset extends XMLDataset {
  /** The 20 Pascal VOC class names. */
  static override CLASSES: readonly string[] | null = VOC_CLASSES;
  /** 2007 or 2012. */
  readonly year: number;

  /** Loads the dataset and settles the year. */
  constructor(cfg: XmlDatasetCfg & { year?: number }) {
    super(cfg);
    if (cfg.year !== undefined) {
      if (cfg.year !== 2007 && cfg.year !== 2012) throw new RangeError(`year ${cfg.year} is not 2007 or 2012`);
      this.year = cfg.year;
    } else if (this.imgPrefix?.includes("VOC2007")) this.year = 2007;
    else if (this.imgPrefix?.includes("VOC2012")) this.year = 2012;
    else {
      throw new RangeError(
        `Cannot infer the VOC year from img_prefix "${this.imgPrefix}": it contains neither "VOC2007" nor "VOC2012"; set year: 2007 or 2012, or use XMLDataset`,
      );
    }
  }

  /** "mAP" (default; 11-point for 2007, legacy `+1` coordinates), "recall" (legacy) or COCO-style "bbox". */
  override evaluate(results: BboxResult[], opts: EvaluateOptions = {}): Record<string, number | string> {
    this.checkResults(results);
    const metrics = Array.isArray(opts.metric) ? opts.metric : [opts.metric ?? "mAP"];
    const out: Record<string, number | string> = {};
    for (const m of metrics) {
      if (m === "mAP") Object.assign(out, this.evaluateMap(results, opts, this.year === 2007 ? "11points" : "area", true));
      else if (m === "recall") Object.assign(out, this.evaluateRecall(results, opts, true));
      else Object.assign(out, super.evaluate(results, { ...opts, metric: m }));
    }
    return out;
  }
}

DATASETS.register("VOCDataset", VOCDataset);
