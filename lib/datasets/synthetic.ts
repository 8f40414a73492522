/**
 * A deterministic synthetic "shapes" detection dataset: filled rectangles, ellipses, triangles
 * (and optionally diamonds and crosses) in random colours and sizes, overlapping and occluding
 * each other on textured, noisy backgrounds; written as PNG images plus COCO instances JSON.
 * The shape kind is the class, so a small detector can learn it quickly.
 *
 * @module
 */
import { join } from "../utils/path.ts";
import type { TypedCfg } from "../utils/registry.ts";
import { hashSeed, Rng } from "../utils/rng.ts";
import type { CocoJson } from "../evaluation/coco_eval.ts";
import { encodePng } from "./image_io.ts";
import { platform } from "../platform/mod.ts";

/** Every shape kind the generator can draw. */
export const SHAPE_KINDS: readonly string[] = [
  "rectangle",
  "ellipse",
  "triangle",
  "diamond",
  "cross",
];

/** Bumped whenever the generator's output changes, so cached datasets are regenerated. */
const GENERATOR_VERSION = 1;

/** Parameters of the shapes dataset; every one of them enters the cache key. */
export interface ShapesOptions {
  /** Training images (default 400). */
  numTrain?: number;
  /** Validation images (default 100). */
  numVal?: number;
  /** Image side, or `[width, height]` (default 128). */
  imgSize?: number | [number, number];
  /** Seed (default 0). */
  seed?: number;
  /** Shape kinds to draw, in label order (default rectangle, ellipse, triangle). */
  classes?: string[];
  /** Objects per image, inclusive range (default [1, 4]). */
  objectsPerImage?: [number, number];
  /** Object side length in pixels, inclusive range (default [16, 64]). */
  objectSize?: [number, number];
  /** An occluded object keeps at least this fraction of its pixels visible (default 0.6). */
  minVisible?: number;
}

/** Where a generated dataset lies and how to load it. */
export interface ShapesDatasetInfo {
  /** The dataset folder. */
  root: string;
  /** Cache key of the parameters. */
  hash: string;
  /** Class names in label order (category ids 1..). */
  classes: string[];
  /** Training instances JSON. */
  annTrain: string;
  /** Validation instances JSON. */
  annVal: string;
  /** Folder of the training PNGs. */
  imgPrefixTrain: string;
  /** Folder of the validation PNGs. */
  imgPrefixVal: string;
  /** Number of training images. */
  numTrain: number;
  /** Number of validation images. */
  numVal: number;
}

interface Resolved {
  numTrain: number;
  numVal: number;
  width: number;
  height: number;
  seed: number;
  classes: string[];
  objectsPerImage: [number, number];
  objectSize: [number, number];
  minVisible: number;
}

function resolve(opts: ShapesOptions): Resolved {
  const size = opts.imgSize ?? 128;
  const [width, height] = typeof size === "number" ? [size, size] : size;
  const r: Resolved = {
    numTrain: opts.numTrain ?? 400,
    numVal: opts.numVal ?? 100,
    width,
    height,
    seed: opts.seed ?? 0,
    classes: opts.classes ?? ["rectangle", "ellipse", "triangle"],
    objectsPerImage: opts.objectsPerImage ?? [1, 4],
    objectSize: opts.objectSize ?? [16, 64],
    minVisible: opts.minVisible ?? 0.6,
  };
  for (const c of r.classes) {
    if (!SHAPE_KINDS.includes(c)) {
      throw new RangeError(
        `Cannot generate shapes: class "${c}" is not one of ${SHAPE_KINDS.join(", ")}`,
      );
    }
  }
  if (r.classes.length === 0 || new Set(r.classes).size !== r.classes.length) {
    throw new RangeError(
      `Cannot generate shapes: classes must be a non-empty list without duplicates, got ${
        JSON.stringify(r.classes)
      }`,
    );
  }
  if (
    !(Number.isInteger(r.numTrain) && r.numTrain >= 0 && Number.isInteger(r.numVal) &&
      r.numVal >= 0)
  ) {
    throw new RangeError(
      `Cannot generate shapes: numTrain and numVal must be non-negative integers`,
    );
  }
  if (!(width >= 16 && height >= 16)) {
    throw new RangeError(`Cannot generate shapes: image size ${width}x${height} is below 16`);
  }
  const [lo, hi] = r.objectSize;
  if (!(lo >= 4 && hi >= lo && hi <= Math.min(width, height))) {
    throw new RangeError(
      `Cannot generate shapes: objectSize [${lo}, ${hi}] must lie in [4, ${
        Math.min(width, height)
      }]`,
    );
  }
  if (!(r.objectsPerImage[0] >= 0 && r.objectsPerImage[1] >= r.objectsPerImage[0])) {
    throw new RangeError(
      `Cannot generate shapes: objectsPerImage ${JSON.stringify(r.objectsPerImage)} is not a range`,
    );
  }
  return r;
}

/** The cache key of a parameter set (first 12 hex digits of a SHA-256). */
export async function shapesHash(opts: ShapesOptions = {}): Promise<string> {
  const r = resolve(opts);
  const text = JSON.stringify({ v: GENERATOR_VERSION, ...r });
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  return [...digest.subarray(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** HSV (h in [0, 1)) → RGB 0..255. */
function hsv(h: number, s: number, v: number): [number, number, number] {
  const i = Math.floor(h * 6), f = h * 6 - i;
  const p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
  const [r, g, b] = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][i % 6];
  return [r * 255, g * 255, b * 255];
}

interface Shape {
  kind: string;
  x0: number;
  y0: number;
  w: number;
  h: number;
  /** Orientation of triangles (0 up, 1 down, 2 left, 3 right). */
  dir: number;
}

/** Whether pixel centre (px, py) lies inside `s`. */
function inside(s: Shape, px: number, py: number): boolean {
  const u = (px - s.x0) / s.w, v = (py - s.y0) / s.h; // in [0, 1] inside the box
  if (u < 0 || u > 1 || v < 0 || v > 1) return false;
  switch (s.kind) {
    case "rectangle":
      return true;
    case "ellipse":
      return (u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25;
    case "diamond":
      return Math.abs(u - 0.5) + Math.abs(v - 0.5) <= 0.5;
    case "cross":
      return Math.abs(u - 0.5) <= 0.17 || Math.abs(v - 0.5) <= 0.17;
    case "triangle": {
      // apex at the middle of one side, base along the opposite side
      const [a, b] = s.dir === 0
        ? [u, v]
        : s.dir === 1
        ? [u, 1 - v]
        : s.dir === 2
        ? [v, u]
        : [v, 1 - u];
      return Math.abs(a - 0.5) <= b / 2;
    }
  }
  return false;
}

/** Renders one image and its annotations (visible-pixel boxes). */
function renderImage(
  r: Resolved,
  rng: Rng,
): { rgb: Uint8Array; objects: { label: number; bbox: number[]; area: number }[] } {
  const { width: W, height: H } = r;
  const n = W * H;
  // 1. background: muted base colour, linear gradient, one texture, pixel noise
  const base = hsv(rng.random(), rng.uniform(0, 0.25), rng.uniform(0.35, 0.75));
  const gdir = rng.uniform(0, 2 * Math.PI), gamp = rng.uniform(0, 40);
  const texture = rng.randint(3);
  const freq = rng.uniform(0.15, 0.6), tdir = rng.uniform(0, Math.PI), tamp = rng.uniform(6, 16);
  const blobs = Array.from(
    { length: 6 },
    () => [rng.uniform(0, W), rng.uniform(0, H), rng.uniform(6, 24), rng.uniform(-18, 18)],
  );
  const bg = new Float32Array(n * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let d = gamp * ((x / W - 0.5) * Math.cos(gdir) + (y / H - 0.5) * Math.sin(gdir));
      if (texture === 0) d += tamp * Math.sin(freq * (x * Math.cos(tdir) + y * Math.sin(tdir)));
      else if (texture === 1) {
        for (const [bx, by, br, ba] of blobs) {
          d += ba * Math.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * br * br));
        }
      } else d += ((Math.floor(x / 8) + Math.floor(y / 8)) % 2 === 0 ? 1 : -1) * tamp * 0.6;
      for (let c = 0; c < 3; c++) bg[(y * W + x) * 3 + c] = base[c] + d;
    }
  }
  const bgMean = [0, 1, 2].map((c) => {
    let s = 0;
    for (let i = c; i < bg.length; i += 3) s += bg[i];
    return s / n;
  });
  // 2. objects, painted in order into an id map; a placement is rejected if it would hide
  //    too much of an earlier object
  const idMap = new Int16Array(n).fill(-1);
  const shapes: { shape: Shape; label: number; color: [number, number, number] }[] = [];
  const visible: number[] = [], fullArea: number[] = [];
  const count = rng.randint(r.objectsPerImage[0], r.objectsPerImage[1] + 1);
  for (let k = 0; k < count; k++) {
    for (let attempt = 0; attempt < 30; attempt++) {
      const label = rng.randint(r.classes.length);
      const kind = r.classes[label];
      const side = Math.exp(rng.uniform(Math.log(r.objectSize[0]), Math.log(r.objectSize[1] + 1)));
      const aspect = kind === "rectangle" || kind === "ellipse"
        ? rng.uniform(0.6, 1.6)
        : rng.uniform(0.85, 1.2);
      const w = Math.min(W - 1, Math.max(r.objectSize[0], side * Math.sqrt(aspect)));
      const h = Math.min(H - 1, Math.max(r.objectSize[0], side / Math.sqrt(aspect)));
      const shape: Shape = {
        kind,
        x0: rng.uniform(0, W - w),
        y0: rng.uniform(0, H - h),
        w,
        h,
        dir: rng.randint(4),
      };
      let color: [number, number, number] = [0, 0, 0];
      for (let t = 0; t < 20; t++) {
        color = hsv(
          rng.random(),
          rng.uniform(0.55, 1),
          rng.random() < 0.75 ? rng.uniform(0.7, 1) : rng.uniform(0.05, 0.3),
        );
        if (
          Math.abs(color[0] - bgMean[0]) + Math.abs(color[1] - bgMean[1]) +
              Math.abs(color[2] - bgMean[2]) > 150
        ) break;
      }
      // rasterise the candidate and check the visibility of earlier objects
      const pixels: number[] = [];
      const xa = Math.floor(shape.x0), xb = Math.min(W - 1, Math.ceil(shape.x0 + w));
      const ya = Math.floor(shape.y0), yb = Math.min(H - 1, Math.ceil(shape.y0 + h));
      for (let y = ya; y <= yb; y++) {
        for (let x = xa; x <= xb; x++) {
          if (inside(shape, x + 0.5, y + 0.5)) pixels.push(y * W + x);
        }
      }
      if (pixels.length < 16) continue;
      const covered = new Map<number, number>();
      for (const p of pixels) {
        if (idMap[p] >= 0) covered.set(idMap[p], (covered.get(idMap[p]) ?? 0) + 1);
      }
      let ok = true;
      for (const [id, c] of covered) {
        if ((visible[id] - c) / fullArea[id] < r.minVisible) ok = false;
      }
      if (!ok) continue;
      for (const [id, c] of covered) visible[id] -= c;
      for (const p of pixels) idMap[p] = shapes.length;
      shapes.push({ shape, label, color });
      visible.push(pixels.length);
      fullArea.push(pixels.length);
      break;
    }
  }
  // 3. compose: object colours with mild shading noise over the background, then pixel noise
  const noise = rng.uniform(2, 9);
  const rgb = new Uint8Array(n * 3);
  const shade = shapes.map(() => [rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)]);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = y * W + x, id = idMap[p];
      for (let c = 0; c < 3; c++) {
        let v: number;
        if (id >= 0) {
          const s = shapes[id];
          const u = (x - s.shape.x0) / s.shape.w - 0.5, w = (y - s.shape.y0) / s.shape.h - 0.5;
          v = s.color[c] * (1 + 0.25 * (shade[id][0] * u + shade[id][1] * w));
        } else v = bg[p * 3 + c];
        v += rng.normal(0, noise);
        rgb[p * 3 + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
      }
    }
  }
  // 4. boxes of the visible pixels
  const objects = shapes.map((s, id) => {
    let x0 = W, y0 = H, x1 = -1, y1 = -1, area = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if (idMap[y * W + x] !== id) continue;
        area++;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
    return { label: s.label, bbox: [x0, y0, x1 + 1 - x0, y1 + 1 - y0], area };
  }).filter((o) => o.area > 0);
  return { rgb, objects };
}

/**
 * Writes the shapes dataset into `root`: `train/NNNNNN.png`, `val/NNNNNN.png`,
 * `annotations/instances_train.json`, `annotations/instances_val.json` and `meta.json`.
 * The output depends only on the options (same seed, same bytes).
 *
 * @example
 * ```ts ignore
 * const info = await generateShapesDataset({ root: "/tmp/shapes", numTrain: 8, numVal: 4, seed: 1 });
 * ```
 */
export async function generateShapesDataset(
  opts: ShapesOptions & { root: string },
): Promise<ShapesDatasetInfo> {
  const r = resolve(opts);
  const hash = await shapesHash(opts);
  const categories = r.classes.map((name, k) => ({ id: k + 1, name, supercategory: "shape" }));
  await platform().mkdir(join(opts.root, "annotations"), { recursive: true });
  for (const [split, num, splitId] of [["train", r.numTrain, 1], ["val", r.numVal, 2]] as const) {
    await platform().mkdir(join(opts.root, split), { recursive: true });
    const coco: CocoJson = { images: [], annotations: [], categories };
    let annId = 1;
    for (let i = 0; i < num; i++) {
      const { rgb, objects } = renderImage(r, new Rng(hashSeed(r.seed, splitId, i)));
      const fileName = `${String(i + 1).padStart(6, "0")}.png`;
      await platform().writeFile(
        join(opts.root, split, fileName),
        encodePng({ data: rgb, height: r.height, width: r.width, channels: 3 }, { bgr: false }),
      );
      coco.images.push({ id: i + 1, file_name: fileName, width: r.width, height: r.height });
      for (const o of objects) {
        coco.annotations.push({
          id: annId++,
          image_id: i + 1,
          category_id: o.label + 1,
          bbox: o.bbox,
          area: o.area,
          iscrowd: 0,
        });
      }
    }
    await platform().writeTextFile(
      join(opts.root, "annotations", `instances_${split}.json`),
      JSON.stringify(coco),
    );
  }
  const info: ShapesDatasetInfo = {
    root: opts.root,
    hash,
    classes: [...r.classes],
    annTrain: join(opts.root, "annotations", "instances_train.json"),
    annVal: join(opts.root, "annotations", "instances_val.json"),
    imgPrefixTrain: join(opts.root, "train"),
    imgPrefixVal: join(opts.root, "val"),
    numTrain: r.numTrain,
    numVal: r.numVal,
  };
  await platform().writeTextFile(
    join(opts.root, "meta.json"),
    JSON.stringify({ version: GENERATOR_VERSION, hash, options: r }, null, 2),
  );
  return info;
}

/**
 * Returns the shapes dataset for `opts` under `cacheDir/shapes-<hash>`, generating it first when
 * it is missing (atomically: into a temporary folder that is then renamed, so concurrent
 * callers never see a half-written dataset).
 *
 * @param cacheDir the cache folder (default `.cache/wgdet` under the working directory)
 */
export async function ensureShapesDataset(
  cacheDir = ".cache/wgdet",
  opts: ShapesOptions = {},
): Promise<ShapesDatasetInfo> {
  const hash = await shapesHash(opts);
  const root = join(cacheDir, `shapes-${hash}`);
  const r = resolve(opts);
  const info = (dir: string): ShapesDatasetInfo => ({
    root: dir,
    hash,
    classes: [...r.classes],
    annTrain: join(dir, "annotations", "instances_train.json"),
    annVal: join(dir, "annotations", "instances_val.json"),
    imgPrefixTrain: join(dir, "train"),
    imgPrefixVal: join(dir, "val"),
    numTrain: r.numTrain,
    numVal: r.numVal,
  });
  try {
    await platform().stat(join(root, "meta.json"));
    return info(root);
  } catch { /* not there yet */ }
  await platform().mkdir(cacheDir, { recursive: true });
  const tmp = await platform().makeTempDir({ dir: cacheDir, prefix: `.shapes-${hash}-` });
  try {
    await generateShapesDataset({ ...opts, root: tmp });
    try {
      await platform().rename(tmp, root);
    } catch (e) {
      // another process finished first: keep its copy
      try {
        await platform().stat(join(root, "meta.json"));
      } catch {
        throw e;
      }
      await platform().remove(tmp, { recursive: true });
    }
  } catch (e) {
    await platform().remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  return info(root);
}

/**
 * A `CocoDataset` config for one split of a generated shapes dataset.
 *
 * @example
 * ```ts ignore
 * const info = await ensureShapesDataset();
 * const train = buildDataset(shapesDatasetConfig(info, "train", trainPipeline));
 * ```
 */
export function shapesDatasetConfig(
  info: ShapesDatasetInfo,
  split: "train" | "val",
  pipeline: TypedCfg[] = [],
): {
  type: string;
  ann_file: string;
  img_prefix: string;
  classes: string[];
  pipeline: TypedCfg[];
  test_mode?: boolean;
} {
  return {
    type: "CocoDataset",
    ann_file: split === "train" ? info.annTrain : info.annVal,
    img_prefix: split === "train" ? info.imgPrefixTrain : info.imgPrefixVal,
    classes: info.classes,
    pipeline,
    ...(split === "val" ? { test_mode: true } : {}),
  };
}
