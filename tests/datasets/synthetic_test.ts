import { assert } from "../_assert.ts";
import { CocoDataset } from "../../lib/datasets/coco.ts";
import { readImage } from "../../lib/datasets/image_io.ts";
import {
  ensureShapesDataset,
  generateShapesDataset,
  shapesDatasetConfig,
  shapesHash,
} from "../../lib/datasets/synthetic.ts";
import type { CocoJson } from "../../lib/evaluation/coco_eval.ts";

async function tmp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "wgdet_shapes_" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const small = { numTrain: 6, numVal: 2, imgSize: 64, objectSize: [12, 32] as [number, number] };

Deno.test("generateShapesDataset() is deterministic for a seed and differs across seeds", async () => {
  await tmp(async (dir) => {
    await generateShapesDataset({ ...small, seed: 4, root: `${dir}/a` });
    await generateShapesDataset({ ...small, seed: 4, root: `${dir}/b` });
    await generateShapesDataset({ ...small, seed: 5, root: `${dir}/c` });
    const ann = (r: string) =>
      Deno.readTextFileSync(`${dir}/${r}/annotations/instances_train.json`);
    assert.equal(ann("a"), ann("b"));
    assert.notEqual(ann("a"), ann("c"));
    assert.deepEqual(
      Deno.readFileSync(`${dir}/a/train/000003.png`),
      Deno.readFileSync(`${dir}/b/train/000003.png`),
    );
    assert.deepEqual(
      Deno.readFileSync(`${dir}/a/val/000002.png`),
      Deno.readFileSync(`${dir}/b/val/000002.png`),
    );
  });
});

Deno.test("generateShapesDataset() writes COCO JSON whose boxes lie inside the PNGs and cover drawn pixels", async () => {
  await tmp(async (dir) => {
    const info = await generateShapesDataset({ ...small, numTrain: 12, seed: 1, root: dir });
    const coco = JSON.parse(Deno.readTextFileSync(info.annTrain)) as CocoJson;
    assert.equal(coco.images.length, 12);
    assert.deepEqual(coco.categories.map((c) => c.name), ["rectangle", "ellipse", "triangle"]);
    assert.ok(coco.annotations.length >= 12, `${coco.annotations.length} objects`);
    const labels = new Set(coco.annotations.map((a) => a.category_id));
    assert.ok(labels.size >= 2);
    for (const a of coco.annotations) {
      const [x, y, w, h] = a.bbox;
      assert.ok(
        x >= 0 && y >= 0 && x + w <= 64 && y + h <= 64 && w >= 1 && h >= 1,
        JSON.stringify(a.bbox),
      );
      assert.ok(a.area > 0 && a.area <= w * h);
    }
    const img = readImage(`${info.imgPrefixTrain}/000001.png`);
    assert.deepEqual([img.height, img.width, img.channels], [64, 64, 3]);
    // loads as a CocoDataset
    const ds = new CocoDataset({ ...shapesDatasetConfig(info, "train"), warn: () => {} });
    assert.deepEqual(ds.CLASSES, ["rectangle", "ellipse", "triangle"]);
    assert.ok(ds.length > 0);
  });
});

Deno.test("ensureShapesDataset() generates once per parameter set, under shapes-<hash>", async () => {
  await tmp(async (dir) => {
    const a = await ensureShapesDataset(dir, { ...small, seed: 2 });
    assert.equal(a.root, `${dir}/shapes-${await shapesHash({ ...small, seed: 2 })}`);
    const mtime = Deno.statSync(`${a.root}/meta.json`).mtime;
    const b = await ensureShapesDataset(dir, { ...small, seed: 2 });
    assert.equal(b.root, a.root);
    assert.deepEqual(Deno.statSync(`${a.root}/meta.json`).mtime, mtime);
    const c = await ensureShapesDataset(dir, { ...small, seed: 3 });
    assert.notEqual(c.root, a.root);
    const entries = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.equal(entries.length, 2, entries.join(", ")); // no temporary folders left behind
  });
});

Deno.test("generateShapesDataset() rejects unknown classes and bad sizes", async () => {
  await tmp(async (dir) => {
    await assertRejects(
      () => generateShapesDataset({ root: dir, classes: ["hexagon"] }),
      /hexagon/,
    );
    await assertRejects(
      () => generateShapesDataset({ root: dir, imgSize: 64, objectSize: [8, 100] }),
      /objectSize/,
    );
  });
});

async function assertRejects(fn: () => Promise<unknown>, re: RegExp) {
  await assert.rejects(fn, (e: Error) => e instanceof RangeError && re.test(e.message));
}
