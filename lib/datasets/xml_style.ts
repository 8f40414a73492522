/**
 * `XMLDataset`: Pascal VOC-style XML annotations with mmdet v2 semantics — coordinates parsed
 * as `int(float(text))` and shifted by −1 (VOC pixel indices are 1-based), `difficult` and
 * boxes below `min_size` go to `gt_bboxes_ignore`, objects of other classes are skipped.
 * Zero-area or inverted boxes are dropped with one warning per image.
 *
 * @module
 */
import { join } from "../utils/path.ts";
import { DataError } from "../utils/errors.ts";
import { readImageSize } from "./image_io.ts";
import { CustomDataset, type DatasetCfg, listFromFile } from "./custom.ts";
import { isF32Finite, pyFloat, pyInt, readUtf8File } from "./validate.ts";
import { DATASETS } from "./registry.ts";
import type { DataInfo } from "./types.ts";
import { parseXml } from "./xml.ts";
import { platform } from "../platform/mod.ts";

/** One `<object>` of a VOC file: raw 1-based coordinates and mmdet's 0-based box. */
export interface VocObject {
  /** Position among the file's `<object>` elements, 0-based. */
  index: number;
  /** `<name>`. */
  name: string;
  /** `<difficult>` is set (missing means 0). */
  difficult: boolean;
  /** `[xmin, ymin, xmax, ymax]` as written (truncated to integers). */
  raw: [number, number, number, number];
  /** mmdet v2 box: `raw − 1`, xyxy. */
  bbox: [number, number, number, number];
}

/** A parsed VOC annotation file; width/height are null when the file has no `<size>`. */
export interface VocRecord {
  /** `<filename>`, or null. */
  filename: string | null;
  /** `<size><width>`, or null without `<size>`. */
  width: number | null;
  /** `<size><height>`, or null without `<size>`. */
  height: number | null;
  /** The `<object>`s in order. */
  objects: VocObject[];
}

/** mmdet's `int(float(text))`, finite in float32; undefined where Python would raise. */
function intOfFloat(text: string | undefined): number | undefined {
  const v = pyFloat(text);
  return v === undefined || !isF32Finite(v) ? undefined : Math.trunc(v);
}

/**
 * Parses one VOC XML annotation.
 *
 * @throws {DataError} naming `file` (and the object) for malformed XML, a `<size>` without
 *   positive integer `<width>`/`<height>`, an object without `<name>` or with a `<difficult>`
 *   that is not an integer (mmdet's `int(text)`: empty, `true`, `0.9` are refused), or a
 *   `<bndbox>` coordinate that Python's `float()` rejects (`0x10`, empty, `inf`, `nan`) or
 *   that overflows float32
 */
export function parseVocXml(text: string, file: string): VocRecord {
  const root = parseXml(text, file);
  if (root.name !== "annotation") {
    throw new DataError(
      `Cannot load "${file}": the root element is <${root.name}>, expected <annotation>`,
    );
  }
  const size = root.find("size");
  let width: number | null = null, height: number | null = null;
  if (size) {
    const w = pyInt(size.findText("width")), h = pyInt(size.findText("height"));
    if (!(w !== undefined && w > 0 && h !== undefined && h > 0)) {
      throw new DataError(
        `Cannot load "${file}": <size> needs positive integer <width> and <height>, got ${
          size.findText("width")
        } and ${size.findText("height")}`,
      );
    }
    [width, height] = [w, h];
  }
  const objects = root.findAll("object").map((obj, index): VocObject => {
    const name = obj.findText("name");
    if (!name) throw new DataError(`Cannot load "${file}": object ${index} has no <name>`);
    const diffText = obj.findText("difficult");
    let difficult = false;
    if (diffText !== undefined) {
      const d = pyInt(diffText);
      if (d === undefined) {
        throw new DataError(
          `Cannot load "${file}": object ${index} ("${name}") has <difficult>${diffText}</difficult>; it must be an integer (0 or 1), or be left out for 0`,
        );
      }
      difficult = d !== 0;
    }
    const box = obj.find("bndbox");
    if (!box) {
      throw new DataError(`Cannot load "${file}": object ${index} ("${name}") has no <bndbox>`);
    }
    const raw = (["xmin", "ymin", "xmax", "ymax"] as const).map((k) => {
      const v = intOfFloat(box.findText(k));
      if (v === undefined) {
        throw new DataError(
          `Cannot load "${file}": object ${index} ("${name}") has no numeric <${k}> (got ${
            JSON.stringify(box.findText(k))
          }; a decimal number finite in float32 is expected)`,
        );
      }
      return v;
    }) as [number, number, number, number];
    return {
      index,
      name,
      difficult,
      raw,
      bbox: raw.map((v) => v - 1) as [number, number, number, number],
    };
  });
  return { filename: root.findText("filename") ?? null, width, height, objects };
}

/** Options of XMLDataset beyond {@link DatasetCfg}. */
export interface XmlDatasetCfg extends DatasetCfg {
  /** Boxes with w or h below this go to the ignored boxes (train only). */
  min_size?: number | null;
  /** Image folder under `img_prefix` (default JPEGImages). */
  img_subdir?: string;
  /** Annotation folder under `img_prefix` (default Annotations). */
  ann_subdir?: string;
}

/**
 * mmdet's `XMLDataset` (v2): `ann_file` lists image ids; `img_prefix/ann_subdir/<id>.xml` holds
 * the annotations and `img_subdir/<id>.jpg` the image. Where `<size>` is missing the image
 * header gives the size (as mmdet reads the image).
 */
export class XMLDataset extends CustomDataset {
  /** Object names in the XML files with counts (filled inside the base constructor). */
  declare objectNames: Record<string, number>;

  /** Loads the id list and every XML file. */
  constructor(cfg: XmlDatasetCfg) {
    super(cfg);
  }

  /** Parses every listed XML file (see the class description). */
  override loadAnnotations(annFile: string | null): DataInfo[] {
    if (!annFile) {
      throw new RangeError(`${this.constructor.name} needs ann_file (a list of image ids)`);
    }
    const cfg = this.cfg as XmlDatasetCfg;
    const imgSubdir = cfg.img_subdir ?? "JPEGImages", annSubdir = cfg.ann_subdir ?? "Annotations";
    const minSize = cfg.min_size ?? null;
    if (minSize && this.testMode) throw new RangeError("min_size cannot be used in test mode");
    const classIndex = new Map(this.CLASSES.map((c, i) => [c, i]));
    const otherClasses: Record<string, number> = {};
    this.objectNames = {};
    const ids = listFromFile(annFile, "image id list");
    const infos = ids.map((id) => {
      const filename = `${imgSubdir}/${id}.jpg`;
      const xmlPath = join(this.imgPrefix ?? "", annSubdir, `${id}.xml`);
      let text: string;
      try {
        text = readUtf8File(xmlPath, "annotation file");
      } catch (e) {
        throw new DataError(`${(e as Error).message} (image id "${id}" listed in "${annFile}")`);
      }
      const rec = parseVocXml(text, xmlPath);
      let { width, height } = rec;
      if (width === null || height === null) {
        const imgPath = join(this.imgPrefix ?? "", filename);
        let size: { width: number; height: number } | undefined;
        try {
          size = readImageSize(platform().readFileSync(imgPath), { oriented: true });
        } catch { /* reported below */ }
        if (!size) {
          throw new DataError(
            `Cannot load "${xmlPath}": it has no <size> and the size of image "${imgPath}" cannot be read; add <size> or the image`,
          );
        }
        ({ width, height } = size);
      }
      const boxes: number[] = [],
        labels: number[] = [],
        ignore: number[] = [],
        ignoreLabels: number[] = [];
      let hasClassObj = false;
      for (const obj of rec.objects) {
        this.objectNames[obj.name] = (this.objectNames[obj.name] ?? 0) + 1;
        const label = classIndex.get(obj.name);
        if (label === undefined) {
          otherClasses[obj.name] = (otherClasses[obj.name] ?? 0) + 1;
          this.countSkipped("other_class");
          continue;
        }
        hasClassObj = true;
        const [x1, y1, x2, y2] = obj.bbox;
        if (x2 <= x1 || y2 <= y1) {
          this.countSkipped(
            "zero_area_box",
            1,
            `"${xmlPath}" object ${obj.index} "${obj.name}" [${obj.raw.join(", ")}]`,
          );
          continue;
        }
        let ign = obj.difficult;
        if (minSize && (x2 - x1 < minSize || y2 - y1 < minSize)) ign = true;
        if (ign) {
          ignore.push(x1, y1, x2, y2);
          ignoreLabels.push(label);
        } else {
          boxes.push(x1, y1, x2, y2);
          labels.push(label);
        }
      }
      const info: DataInfo = {
        id,
        filename,
        width,
        height,
        xml_path: xmlPath,
        has_class_ann: hasClassObj,
        ann: {
          bboxes: Float32Array.from(boxes),
          labels: Int32Array.from(labels),
          bboxes_ignore: Float32Array.from(ignore),
          labels_ignore: Int32Array.from(ignoreLabels),
        },
      };
      return info;
    });
    const others = Object.entries(otherClasses);
    if (others.length > 0) {
      this.warn(
        `skipped ${others.reduce((s, [, n]) => s + n, 0)} object(s) of classes not in CLASSES: ${
          others.map(([k, n]) => `"${k}" ×${n}`).join(", ")
        }`,
      );
    }
    return infos;
  }

  /** Object names found in the XML files, with counts. */
  protected override classesFound(): Record<string, number> {
    return this.objectNames;
  }

  /** Training filter: at least `minSize` px and (with `filter_empty_gt`) an object of the classes. */
  override filterImgs(minSize = 32): number[] {
    const out: number[] = [];
    this.dataInfos.forEach((info, i) => {
      if (Math.min(info.width, info.height) < minSize) {
        this.countSkipped("small_image");
        return;
      }
      if (this.filterEmptyGt && !info.has_class_ann) {
        this.countSkipped("empty_image");
        return;
      }
      out.push(i);
    });
    return out;
  }
}

DATASETS.register("XMLDataset", XMLDataset);
