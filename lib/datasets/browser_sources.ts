/**
 * Datasets from browser sources: a dropped folder (`File`/`FileList`, with `webkitRelativePath`)
 * or a list of URLs is mounted into the platform's file system (in a browser, the in-memory one
 * of `lib/platform/browser.ts`, which decodes PNGs with `createImageBitmap` as they arrive), and
 * {@linkcode findDataset} turns what was mounted into an mmdetection dataset config (COCO JSON or
 * VOC XML). The datasets themselves are the usual `CocoDataset`/`VOCDataset`, reading the
 * mounted paths, so training, evaluation and pipelines are the same code as in Deno.
 *
 * @module
 */
import { platform } from "../platform/mod.ts";
import { mountFile } from "../platform/browser.ts";
import { DataError } from "../utils/errors.ts";
import { join } from "../utils/path.ts";

/** A file as the browser hands it over (`File` has all of these). */
export interface FileLike {
  /** File name. */
  name: string;
  /** Path inside a dropped or picked folder (`webkitRelativePath`), when there is one. */
  webkitRelativePath?: string;
  /** The bytes. */
  arrayBuffer(): Promise<ArrayBuffer>;
}

async function put(path: string, bytes: Uint8Array): Promise<string> {
  if (platform().name === "browser") return await mountFile(path, bytes);
  const i = path.lastIndexOf("/");
  if (i > 0) await platform().mkdir(path.slice(0, i), { recursive: true });
  await platform().writeFile(path, bytes);
  return path;
}

/**
 * Mounts `files` under `root` (keeping their folder structure) and returns their paths. In the
 * browser the files live in memory; in Deno they are written to disk.
 */
export async function mountFiles(
  files: Iterable<FileLike> | ArrayLike<FileLike>,
  root = "/data",
): Promise<string[]> {
  const list = Array.from(files as ArrayLike<FileLike>);
  return await Promise.all(list.map(async (f) => {
    const rel = f.webkitRelativePath || f.name;
    return await put(join(root, rel), new Uint8Array(await f.arrayBuffer()));
  }));
}

/**
 * Fetches every URL and mounts it under `root` at its path relative to `base` (default: the
 * URL's last segment). Throws a {@linkcode DataError} naming the URL on an HTTP error.
 */
export async function mountUrls(
  urls: (string | URL)[],
  root = "/data",
  base?: string | URL,
): Promise<string[]> {
  const baseHref = base === undefined ? undefined : new URL(base, globalThis.location?.href).href;
  return await Promise.all(urls.map(async (u) => {
    const url = new URL(u, globalThis.location?.href);
    const r = await fetch(url);
    if (!r.ok) throw new DataError(`Cannot fetch ${url.href}: HTTP ${r.status} ${r.statusText}`);
    const rel = baseHref && url.href.startsWith(baseHref)
      ? decodeURIComponent(url.href.slice(baseHref.length))
      : decodeURIComponent(url.pathname.split("/").pop() ?? "file");
    return await put(join(root, rel), new Uint8Array(await r.arrayBuffer()));
  }));
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of platform().readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...await walk(p));
    else if (e.isFile) out.push(p);
  }
  return out.sort();
}

/** A dataset config found by {@linkcode findDataset}. */
export interface FoundDataset {
  /** `CocoDataset` or `VOCDataset`. */
  type: "CocoDataset" | "VOCDataset";
  /** The annotation file (COCO JSON, or VOC's image-set list). */
  ann_file: string;
  /** Where the images are (ends with `/`). */
  img_prefix: string;
  /** Class names (COCO: from `categories`; VOC: the names used in the XML files). */
  classes: string[];
}

/**
 * Looks under `root` for a COCO annotation file (JSON with `images`, `annotations` and
 * `categories`) whose first image is present, or a VOC layout (`Annotations/*.xml`,
 * `JPEGImages/`, `ImageSets/Main/*.txt`), and returns the dataset config for it.
 *
 * @throws {DataError} naming what was found and what is missing
 */
export async function findDataset(root = "/data"): Promise<FoundDataset> {
  const all = await walk(root);
  for (const f of all.filter((p) => p.endsWith(".json"))) {
    let j: { images?: { file_name: string }[]; categories?: { name: string; id: number }[] };
    try {
      j = JSON.parse(await platform().readTextFile(f));
    } catch {
      continue;
    }
    if (!Array.isArray(j.images) || !Array.isArray(j.categories) || !j.images.length) continue;
    const first = j.images[0].file_name;
    const img = all.find((p) => p.endsWith("/" + first));
    if (!img) {
      throw new DataError(
        `${f} is a COCO annotation file, but its first image "${first}" is not among the files ` +
          `under ${root}: add the image folder too`,
      );
    }
    return {
      type: "CocoDataset",
      ann_file: f,
      img_prefix: img.slice(0, img.length - first.length),
      classes: [...j.categories].sort((a, b) => a.id - b.id).map((c) => c.name),
    };
  }
  const xml = all.filter((p) => /\/Annotations\/[^/]+\.xml$/.test(p));
  if (xml.length) {
    const vocRoot = xml[0].slice(0, xml[0].indexOf("/Annotations/") + 1);
    const sets = all.filter((p) => p.startsWith(vocRoot + "ImageSets/Main/") && p.endsWith(".txt"));
    const set = sets.find((p) => /trainval\.txt$/.test(p)) ?? sets[0];
    if (!set) {
      throw new DataError(
        `${vocRoot}Annotations/ has VOC XML files but ${vocRoot}ImageSets/Main/ has no image-set ` +
          "list (e.g. trainval.txt with one image id per line)",
      );
    }
    const names = new Set<string>();
    for (const x of xml) {
      for (
        const m of (await platform().readTextFile(x)).matchAll(/<name>\s*([^<]+?)\s*<\/name>/g)
      ) {
        names.add(m[1]);
      }
    }
    return { type: "VOCDataset", ann_file: set, img_prefix: vocRoot, classes: [...names].sort() };
  }
  throw new DataError(
    `No dataset under ${root}: expected a COCO JSON (images, annotations, categories) with its ` +
      `images, or a VOC folder (Annotations/*.xml, JPEGImages/, ImageSets/Main/*.txt); found ${all.length} files`,
  );
}
