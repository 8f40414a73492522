import { assert } from "../_assert.ts";
import { CocoDataset, parseCocoJson } from "../../lib/datasets/coco.ts";
import type { BboxResult, CocoJson } from "../../lib/evaluation/coco_eval.ts";
import { DataError } from "../../lib/utils/errors.ts";
import { writeSolidPng } from "./_data.ts";

const quiet = () => {};

function sample(): CocoJson {
  return {
    images: [
      { id: 10, file_name: "a.png", width: 64, height: 48 },
      { id: 11, file_name: "b.png", width: 64, height: 48 },
      { id: 12, file_name: "small.png", width: 20, height: 48 },
      { id: 13, file_name: "other.png", width: 64, height: 48 },
    ],
    categories: [{ id: 7, name: "dog" }, { id: 3, name: "cat" }, { id: 9, name: "bird" }],
    annotations: [
      { id: 1, image_id: 10, category_id: 3, bbox: [1, 2, 10, 20], area: 200, iscrowd: 0 },
      { id: 2, image_id: 10, category_id: 7, bbox: [30, 5, 20, 20], area: 400, iscrowd: 1 },
      { id: 3, image_id: 10, category_id: 3, bbox: [5, 5, 0.5, 10], area: 5, iscrowd: 0 }, // w < 1: skipped
      { id: 4, image_id: 10, category_id: 3, bbox: [70, 5, 5, 5], area: 25, iscrowd: 0 }, // outside: skipped
      {
        id: 5,
        image_id: 11,
        category_id: 7,
        bbox: [0, 0, 30, 30],
        area: 900,
        iscrowd: 0,
        ignore: 1,
      },
      { id: 6, image_id: 12, category_id: 3, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0 },
      { id: 7, image_id: 13, category_id: 9, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0 },
    ],
  };
}

async function withCoco(
  json: unknown,
  fn: (dir: string, ann: string) => void | Promise<void>,
  raw = false,
) {
  const dir = await Deno.makeTempDir();
  try {
    const ann = `${dir}/instances.json`;
    Deno.writeTextFileSync(ann, raw ? (json as string) : JSON.stringify(json));
    await fn(dir, ann);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("CocoDataset maps class names to contiguous labels and sorts boxes into gt and ignore", async () => {
  await withCoco(sample(), (dir, ann) => {
    const warnings: string[] = [];
    const ds = new CocoDataset({
      ann_file: ann,
      img_prefix: dir,
      classes: ["cat", "dog"],
      warn: (m) => warnings.push(m),
    });
    assert.deepEqual(ds.catIds, [3, 7]);
    // 11: its only annotation has ignore set, but mmdet's filter counts raw annotations → kept;
    // 12: narrower than 32 px → dropped; 13: only a "bird" → no annotation of the classes → dropped
    assert.deepEqual(ds.imgIds, [10, 11]);
    assert.equal(ds.length, 2);
    const a = ds.getAnnInfo(0);
    assert.deepEqual([...a.bboxes], [1, 2, 11, 22]);
    assert.deepEqual([...a.labels], [0]);
    assert.deepEqual([...a.bboxes_ignore], [30, 5, 50, 25]);
    assert.deepEqual([...a.labels_ignore], [1]);
    assert.equal(ds.getAnnInfo(1).labels.length, 0);
    assert.deepEqual(ds.skipped, {
      tiny_box: 1,
      outside_image: 1,
      ignore_flag: 1,
      other_category: 1,
      small_image: 1,
      empty_image: 1,
    });
    // one warning per filter reason, each naming the file, image and annotation
    assert.equal(warnings.length, 2);
    const tiny = warnings.find((w) => w.includes("w < 1"))!,
      out = warnings.find((w) => w.includes("outside the image"))!;
    assert.ok(tiny.includes('"a.png"') && tiny.includes("annotation id 3"), warnings.join("\n"));
    assert.ok(out.includes('"a.png"') && out.includes("annotation id 4"), warnings.join("\n"));
  });
});

Deno.test("CocoDataset in test mode keeps every image", async () => {
  await withCoco(sample(), (dir, ann) => {
    const ds = new CocoDataset({
      ann_file: ann,
      img_prefix: dir,
      classes: ["cat", "dog"],
      test_mode: true,
      warn: quiet,
    });
    assert.equal(ds.length, 4);
    assert.deepEqual([...ds.flag], [1, 1, 0, 1]);
  });
});

Deno.test("CocoDataset.evaluate() of ground truth against itself gives bbox_mAP 1", async () => {
  const clean = sample();
  clean.annotations = clean.annotations.filter((a) => [1, 2, 6].includes(a.id));
  await withCoco(clean, (dir, ann) => {
    const ds = new CocoDataset({
      ann_file: ann,
      img_prefix: dir,
      classes: ["cat", "dog"],
      test_mode: true,
      warn: quiet,
    });
    const results: BboxResult[] = Array.from({ length: ds.length }, (_, i) => {
      const a = ds.getAnnInfo(i);
      return [0, 1].map((c) => {
        const rows: number[] = [];
        for (let j = 0; j < a.labels.length; j++) {
          if (a.labels[j] === c) rows.push(...a.bboxes.subarray(j * 4, j * 4 + 4), 0.9);
        }
        return Float32Array.from(rows);
      });
    });
    const lines: string[] = [];
    const m = ds.evaluate(results, { logger: (l) => lines.push(l), classwise: true });
    // cat has 2 gts, both found; dog has only a crowd region → no gt → left out of the mean
    assert.equal(m.bbox_mAP, 1);
    assert.equal(m.bbox_mAP_50, 1);
    assert.equal(m.bbox_mAP_copypaste, "1.000 1.000 1.000 1.000 -1.000 -1.000");
    const table = lines[0].split("\n");
    assert.equal(table.length, 12);
    assert.ok(
      table[0].startsWith(
        " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
      ),
      table[0],
    );
    assert.ok(table[1].includes("maxDets=1000"), table[1]);
    assert.ok(lines[1].startsWith("cat") && lines[1].endsWith("1.000"), lines[1]);
    assert.throws(() => ds.evaluate(results.slice(1), { logger: quiet }), RangeError);
  });
});

Deno.test("CocoDataset names the file for JSON that does not parse or lacks a key", async () => {
  await withCoco("{ not json", (dir, ann) => {
    assert.throws(
      () => new CocoDataset({ ann_file: ann, img_prefix: dir, classes: ["cat"], warn: quiet }),
      (e: Error) => e instanceof DataError && e.message.includes(ann) && /parse/.test(e.message),
    );
  }, true);
  for (const key of ["images", "annotations", "categories"]) {
    const j = sample() as unknown as Record<string, unknown>;
    delete j[key];
    await withCoco(j, (dir, ann) => {
      assert.throws(
        () => new CocoDataset({ ann_file: ann, img_prefix: dir, classes: ["cat"], warn: quiet }),
        (e: Error) =>
          e instanceof DataError && e.message.includes(ann) &&
          e.message.includes(`"${key}" is missing`),
      );
    });
  }
  assert.throws(
    () => new CocoDataset({ ann_file: "/nonexistent/instances.json", classes: ["cat"] }),
    (e: Error) => e instanceof DataError && /does not exist/.test(e.message),
  );
});

Deno.test("parseCocoJson() names annotations that point at unknown images or categories", () => {
  const j = sample();
  j.annotations[2].image_id = 99;
  assert.throws(
    () => parseCocoJson(JSON.stringify(j), "x.json"),
    (e: Error) =>
      e instanceof DataError && e.message.includes('"x.json": annotations[2] (id 3)') &&
      e.message.includes("image_id 99"),
  );
  const k = sample();
  k.annotations[0].category_id = 42;
  assert.throws(
    () => parseCocoJson(JSON.stringify(k), "x.json"),
    (e: Error) =>
      e instanceof DataError && e.message.includes("annotations[0] (id 1)") &&
      e.message.includes("category_id 42"),
  );
  const l = sample();
  l.annotations[1].id = 1;
  assert.throws(
    () => parseCocoJson(JSON.stringify(l), "x.json"),
    (e: Error) => e instanceof DataError && /not unique/.test(e.message),
  );
  const m = sample();
  m.annotations[0].bbox = [1, 2, 3];
  assert.throws(
    () => parseCocoJson(JSON.stringify(m), "x.json"),
    (e: Error) => e instanceof DataError && /bbox/.test(e.message),
  );
});

Deno.test("CocoDataset rejects a class name that is not a category", async () => {
  await withCoco(sample(), (dir, ann) => {
    assert.throws(
      () =>
        new CocoDataset({ ann_file: ann, img_prefix: dir, classes: ["cat", "zebra"], warn: quiet }),
      (e: Error) => e instanceof DataError && e.message.includes('"zebra"'),
    );
  });
});

Deno.test("CocoDataset.getItem() names a missing or undecodable image file", async () => {
  await withCoco(sample(), (dir, ann) => {
    const pipeline = [{ type: "LoadImageFromFile" }, { type: "LoadAnnotations" }];
    const ds = new CocoDataset({
      ann_file: ann,
      img_prefix: dir,
      classes: ["cat", "dog"],
      pipeline,
      warn: quiet,
    });
    assert.throws(
      () => ds.getItem(0),
      (e: Error) =>
        e instanceof DataError && e.message.includes(`${dir}/a.png`) &&
        /does not exist/.test(e.message),
    );
    Deno.writeTextFileSync(`${dir}/a.png`, "garbage");
    assert.throws(
      () => ds.getItem(0),
      (e: Error) =>
        e instanceof DataError && e.message.includes(`${dir}/a.png`) &&
        /not a PNG or JPEG/.test(e.message),
    );
    writeSolidPng(`${dir}/a.png`, 64, 48);
    const r = ds.getItem(0);
    assert.deepEqual(r.img_shape, [48, 64, 3]);
    assert.deepEqual([...r.gt_bboxes!], [1, 2, 11, 22]);
    assert.equal(r.ori_filename, "a.png");
  });
});
