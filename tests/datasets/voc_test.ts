import { assert, assertClose } from "../_assert.ts";
import { buildDataset, type ConcatDataset } from "../../lib/datasets/dataset_wrappers.ts";
import { VOCDataset } from "../../lib/datasets/voc.ts";
import { vocToCoco } from "../../lib/datasets/voc2coco.ts";
import { XMLDataset } from "../../lib/datasets/xml_style.ts";
import type { BboxResult } from "../../lib/evaluation/coco_eval.ts";
import { DataError } from "../../lib/utils/errors.ts";
import { BCCD, BCCD_CLASSES, hasBccd, vocXml, writeSolidPng } from "./_data.ts";

const quiet = () => {};

/** The ground truth of every image as detections with score 1. */
function gtAsResults(ds: XMLDataset): BboxResult[] {
  return Array.from({ length: ds.length }, (_, i) => {
    const ann = ds.getAnnInfo(i);
    return ds.CLASSES.map((_, c) => {
      const rows: number[] = [];
      for (let j = 0; j < ann.labels.length; j++) {
        if (ann.labels[j] === c) rows.push(...ann.bboxes.subarray(j * 4, j * 4 + 4), 1);
      }
      return Float32Array.from(rows);
    });
  });
}

Deno.test({
  name:
    "XMLDataset loads all of BCCD: 364 images, 3 classes, 4,888 boxes of which the 2 zero-area ones are dropped once",
  ignore: !hasBccd,
  fn() {
    const warnings: string[] = [];
    const ds = buildDataset({
      type: "XMLDataset",
      classes: BCCD_CLASSES,
      img_prefix: BCCD,
      ann_file: [`${BCCD}/ImageSets/Main/trainval.txt`, `${BCCD}/ImageSets/Main/test.txt`],
      test_mode: true,
      warn: (m: string) => warnings.push(m),
    }) as ConcatDataset;
    assert.equal(ds.length, 364);
    assert.deepEqual(ds.CLASSES, ["RBC", "WBC", "Platelets"]);
    let kept = 0, ignored = 0, dropped = 0;
    const perClass = [0, 0, 0];
    for (const d of ds.datasets as XMLDataset[]) {
      dropped += d.skipped.zero_area_box ?? 0;
      for (let i = 0; i < d.length; i++) {
        const a = d.getAnnInfo(i);
        kept += a.labels.length;
        ignored += a.labels_ignore.length;
        for (const l of a.labels) perClass[l]++;
        assert.deepEqual([d.dataInfos[i].width, d.dataInfos[i].height], [640, 480]);
      }
    }
    assert.equal(kept + ignored + dropped, 4888);
    assert.equal(dropped, 2);
    assert.deepEqual(perClass, [4155 - 2, 372, 361]);
    // reported in one warning per reason, naming each file; never kept as ground truth
    assert.equal(warnings.length, 1);
    assert.ok(
      warnings[0].includes("BloodImage_00338.xml") && warnings[0].includes("[504, 337, 504, 337]"),
      warnings[0],
    );
    assert.ok(warnings[0].includes("BloodImage_00343.xml"), warnings[0]);
    for (const d of ds.datasets as XMLDataset[]) {
      for (let i = 0; i < d.length; i++) {
        const b = d.getAnnInfo(i).bboxes;
        for (let j = 0; j < b.length; j += 4) assert.ok(b[j + 2] > b[j] && b[j + 3] > b[j + 1]);
      }
    }
  },
});

Deno.test({
  name: "XMLDataset shifts VOC's 1-based coordinates by -1 as mmdet v2",
  ignore: !hasBccd,
  fn() {
    const ds = new XMLDataset({
      classes: BCCD_CLASSES,
      img_prefix: BCCD,
      ann_file: `${BCCD}/ImageSets/Main/val.txt`,
      test_mode: true,
      warn: quiet,
    });
    const idx = ds.dataInfos.findIndex((d) => d.id === "BloodImage_00338");
    assert.ok(idx >= 0);
    assert.equal(ds.dataInfos[idx].filename, "JPEGImages/BloodImage_00338.jpg");
    // first object of BloodImage_00338.xml: xmin 453, ymin 81, xmax 555, ymax 182
    assert.ok(
      Deno.readTextFileSync(`${BCCD}/Annotations/BloodImage_00338.xml`).includes(
        "<xmin>453</xmin>",
      ),
    );
    assert.deepEqual([...ds.getAnnInfo(idx).bboxes.subarray(0, 4)], [452, 80, 554, 181]);
    assert.equal(ds.flag.every((f) => f === 1), true); // all 640x480: landscape
  },
});

Deno.test({
  name:
    "XMLDataset.evaluate() of BCCD ground truth against itself gives mAP 1 (VOC and COCO style)",
  ignore: !hasBccd,
  fn() {
    const ds = new XMLDataset({
      classes: BCCD_CLASSES,
      img_prefix: BCCD,
      ann_file: `${BCCD}/ImageSets/Main/test.txt`,
      test_mode: true,
      warn: quiet,
    });
    const res = gtAsResults(ds);
    const voc = ds.evaluate(res, { metric: "mAP", logger: quiet });
    assertClose(voc.mAP as number, 1, { atol: 1e-6 });
    assert.equal(voc.AP50, 1);
    const coco = ds.evaluate(res, { metric: "bbox", logger: quiet });
    assert.equal(coco.bbox_mAP, 1);
    assert.equal(coco.bbox_mAP_50, 1);
  },
});

Deno.test({
  name: "vocToCoco() converts BCCD with the dataset's boxes and reports the dropped boxes",
  ignore: !hasBccd,
  fn() {
    const { coco, skipped, warnings } = vocToCoco(BCCD, {
      annFiles: [`${BCCD}/ImageSets/Main/trainval.txt`, `${BCCD}/ImageSets/Main/test.txt`],
      classes: BCCD_CLASSES,
      warn: quiet,
    });
    assert.equal(coco.images.length, 364);
    assert.equal(coco.annotations.length, 4886);
    assert.equal(skipped.zero_area_box, 2);
    assert.equal(warnings.length, 1); // one per reason, both files named
    assert.ok(warnings[0].includes("00338.xml") && warnings[0].includes("00343.xml"), warnings[0]);
    assert.deepEqual(coco.categories.map((c) => c.name), BCCD_CLASSES);
    assert.equal(new Set(coco.images.map((i) => i.id)).size, 364);
    assert.equal(new Set(coco.annotations.map((a) => a.id)).size, 4886);
    const a = coco.annotations[0];
    assert.equal(a.area, a.bbox[2] * a.bbox[3]);
  },
});

async function withVocDir(fn: (root: string) => void | Promise<void>) {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${root}/Annotations`);
    await Deno.mkdir(`${root}/JPEGImages`);
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("XMLDataset puts difficult boxes in gt_bboxes_ignore, skips other classes and filters empty images", async () => {
  await withVocDir((root) => {
    Deno.writeTextFileSync(
      `${root}/Annotations/a.xml`,
      vocXml([{ name: "cat", box: [1, 1, 11, 21] }, {
        name: "dog",
        box: [5, 5, 30, 30],
        difficult: 1,
      }, { name: "cow", box: [2, 2, 9, 9] }]),
    );
    Deno.writeTextFileSync(
      `${root}/Annotations/b.xml`,
      vocXml([{ name: "cow", box: [2, 2, 9, 9] }]),
    );
    Deno.writeTextFileSync(`${root}/ids.txt`, "a\nb\n");
    const warnings: string[] = [];
    const ds = new XMLDataset({
      classes: ["cat", "dog"],
      img_prefix: root,
      ann_file: `${root}/ids.txt`,
      warn: (m) => warnings.push(m),
    });
    assert.equal(ds.length, 1); // b has no cat/dog → filtered in training
    const ann = ds.getAnnInfo(0);
    assert.deepEqual([...ann.bboxes], [0, 0, 10, 20]);
    assert.deepEqual([...ann.labels], [0]);
    assert.deepEqual([...ann.bboxes_ignore], [4, 4, 29, 29]);
    assert.deepEqual([...ann.labels_ignore], [1]);
    assert.equal(ds.skipped.other_class, 2);
    assert.equal(ds.skipped.empty_image, 1);
    assert.ok(warnings.some((w) => w.includes('"cow" ×2')), warnings.join("\n"));
  });
});

Deno.test("XMLDataset takes the image size when <size> is missing, and errors naming both files when it cannot", async () => {
  await withVocDir((root) => {
    Deno.writeTextFileSync(
      `${root}/Annotations/a.xml`,
      vocXml([{ name: "cat", box: [1, 1, 11, 21] }], null),
    );
    Deno.writeTextFileSync(`${root}/ids.txt`, "a\n");
    writeSolidPng(`${root}/JPEGImages/a.jpg`, 40, 30); // a PNG under a .jpg name: sniffed by content
    const ds = new XMLDataset({
      classes: ["cat"],
      img_prefix: root,
      ann_file: `${root}/ids.txt`,
      warn: quiet,
      test_mode: true,
    });
    assert.deepEqual([ds.dataInfos[0].width, ds.dataInfos[0].height], [40, 30]);
    Deno.removeSync(`${root}/JPEGImages/a.jpg`);
    assert.throws(
      () =>
        new XMLDataset({
          classes: ["cat"],
          img_prefix: root,
          ann_file: `${root}/ids.txt`,
          warn: quiet,
        }),
      (e: Error) =>
        e instanceof DataError && e.message.includes("a.xml") && e.message.includes("no <size>") &&
        e.message.includes("a.jpg"),
    );
  });
});

Deno.test("XMLDataset names the file and object for missing XML files and malformed objects", async () => {
  await withVocDir((root) => {
    Deno.writeTextFileSync(`${root}/ids.txt`, "ghost\n");
    assert.throws(
      () =>
        new XMLDataset({
          classes: ["cat"],
          img_prefix: root,
          ann_file: `${root}/ids.txt`,
          warn: quiet,
        }),
      (e: Error) =>
        e instanceof DataError && e.message.includes("ghost.xml") && e.message.includes("ids.txt"),
    );
    Deno.writeTextFileSync(`${root}/ids.txt`, "a\n");
    Deno.writeTextFileSync(
      `${root}/Annotations/a.xml`,
      "<annotation><size><width>9</width><height>9</height></size><object><name>cat</name></object></annotation>",
    );
    assert.throws(
      () =>
        new XMLDataset({
          classes: ["cat"],
          img_prefix: root,
          ann_file: `${root}/ids.txt`,
          warn: quiet,
        }),
      (e: Error) =>
        e instanceof DataError && e.message.includes("a.xml") && e.message.includes("object 0") &&
        e.message.includes("<bndbox>"),
    );
    Deno.writeTextFileSync(
      `${root}/Annotations/a.xml`,
      "<annotation><size><width>9</width></size></annotation>",
    );
    assert.throws(
      () =>
        new XMLDataset({
          classes: ["cat"],
          img_prefix: root,
          ann_file: `${root}/ids.txt`,
          warn: quiet,
        }),
      (e: Error) =>
        e instanceof DataError && e.message.includes("a.xml") && e.message.includes("<height>"),
    );
    assert.throws(
      () =>
        new XMLDataset({
          classes: ["cat"],
          img_prefix: root,
          ann_file: `${root}/missing.txt`,
          warn: quiet,
        }),
      (e: Error) => e instanceof DataError && e.message.includes("missing.txt"),
    );
  });
});

Deno.test("VOCDataset infers the year from img_prefix and uses 11-point AP for 2007", async () => {
  await withVocDir((root) => {
    Deno.writeTextFileSync(
      `${root}/Annotations/a.xml`,
      vocXml([{ name: "cat", box: [1, 1, 11, 21] }]),
    );
    Deno.writeTextFileSync(`${root}/ids.txt`, "a\n");
    assert.throws(
      () => new VOCDataset({ img_prefix: root, ann_file: `${root}/ids.txt`, warn: quiet }),
      (e: Error) => /VOC year/.test(e.message),
    );
    const ds = new VOCDataset({
      img_prefix: root,
      ann_file: `${root}/ids.txt`,
      year: 2007,
      warn: quiet,
    });
    assert.equal(ds.CLASSES.length, 20);
    assert.equal(ds.year, 2007);
    const res: BboxResult[] = [
      ds.CLASSES.map((
        c,
      ) => (c === "cat" ? Float32Array.from([0, 0, 10, 20, 0.9]) : new Float32Array(0))),
    ];
    const out = ds.evaluate(res, { logger: quiet });
    assertClose(out.mAP as number, 1, { atol: 1e-6 });
  });
});
