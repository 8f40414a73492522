/**
 * Converts Pascal VOC XML annotations to a COCO instances JSON, with the same boxes the
 * `XMLDataset` loads (mmdet v2: 1-based VOC pixel indices shifted by −1), so that both formats
 * train and evaluate alike.
 *
 * @module
 */
import type { CocoJson } from "../evaluation/coco_eval.ts";
import { XMLDataset } from "./xml_style.ts";

/** Options of {@link vocToCoco}. */
export interface VocToCocoOptions {
  /** One or more image-id list files (e.g. `ImageSets/Main/trainval.txt`). */
  annFiles: string | string[];
  /** Class names; category ids are 1.. in this order. */
  classes: string[];
  /** Image folder under `root` (default JPEGImages). */
  imgSubdir?: string;
  /** Annotation folder under `root` (default Annotations). */
  annSubdir?: string;
  /** Where warnings go (default `console.warn`). */
  warn?: (msg: string) => void;
}

/**
 * Reads VOC annotations under `root` and returns a COCO instances JSON: image ids 1..N in list
 * order, `file_name` relative to `root` (`JPEGImages/<id>.jpg`), `bbox = [xmin − 1, ymin − 1,
 * xmax − xmin, ymax − ymin]`, `area = w · h`, `difficult` objects as `iscrowd: 1` (ignored by
 * both CocoDataset training and COCO evaluation). Objects of other classes are skipped and
 * zero-area boxes dropped; both are counted in `skipped` and reported in `warnings`.
 *
 * @example
 * ```ts ignore
 * const { coco } = vocToCoco("bccd/BCCD", { annFiles: "bccd/BCCD/ImageSets/Main/test.txt", classes: ["RBC", "WBC", "Platelets"] });
 * await Deno.writeTextFile("instances_test.json", JSON.stringify(coco));
 * ```
 */
export function vocToCoco(
  root: string,
  opts: VocToCocoOptions,
): { coco: CocoJson; warnings: string[]; skipped: Record<string, number> } {
  const files = Array.isArray(opts.annFiles) ? opts.annFiles : [opts.annFiles];
  const warnings: string[] = [];
  const skipped: Record<string, number> = {};
  const images: CocoJson["images"] = [], annotations: CocoJson["annotations"] = [];
  for (const annFile of files) {
    const ds = new XMLDataset({
      ann_file: annFile,
      img_prefix: root,
      classes: opts.classes,
      img_subdir: opts.imgSubdir,
      ann_subdir: opts.annSubdir,
      test_mode: true,
      warn: opts.warn,
    });
    warnings.push(...ds.warnings);
    for (const [k, v] of Object.entries(ds.skipped)) skipped[k] = (skipped[k] ?? 0) + v;
    const part = ds.toCocoGt();
    const imgOffset = images.length, annOffset = annotations.length;
    for (const im of part.images) images.push({ ...im, id: im.id + imgOffset });
    for (const a of part.annotations) {
      annotations.push({ ...a, id: a.id + annOffset, image_id: a.image_id + imgOffset });
    }
  }
  const categories = opts.classes.map((name, k) => ({ id: k + 1, name, supercategory: "none" }));
  return { coco: { images, annotations, categories }, warnings, skipped };
}
