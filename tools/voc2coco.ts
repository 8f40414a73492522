/**
 * Converts Pascal VOC XML annotations to COCO JSON (`deno task voc2coco`).
 *
 * Usage:
 *   deno task voc2coco --root ../shared/data/bccd/BCCD --split trainval --split test \
 *     --classes RBC,WBC,Platelets --out work_dirs/bccd_coco
 *
 * Writes `<out>/instances_<split>.json` per split; `file_name`s are relative to `--root`. A split
 * that writes 0 annotations is an error (exit 1): its class names probably match nothing.
 */
import { join } from "node:path";
import { vocToCoco } from "../lib/datasets/voc2coco.ts";
import { parseCli, usageError } from "./_args.ts";

const HELP = `Usage: deno task voc2coco --root VOC_ROOT --classes A,B,C --out DIR [--split NAME ...]

Converts VOC XML annotations (VOC_ROOT/Annotations, ids in VOC_ROOT/ImageSets/Main/NAME.txt)
to COCO instances JSON: DIR/instances_NAME.json per split, boxes as XMLDataset loads them.

Options:
  --root DIR       the VOC folder (with Annotations/, JPEGImages/, ImageSets/Main/)
  --classes LIST   comma-separated class names; category ids are 1.. in this order
  --out DIR        output folder (created)
  --split NAME     a split to convert (repeatable; default trainval and test)
  -h, --help       print this help

Exit code: 0 done, 1 an input error or a split with 0 annotations, 2 bad usage.`;

const { values } = await parseCli({
  usage: HELP,
  options: {
    root: { type: "string" },
    split: { type: "string", multiple: true, default: ["trainval", "test"] as string[] },
    classes: { type: "string" },
    out: { type: "string" },
  },
});
if (!values.root || !values.classes || !values.out) {
  usageError("--root, --classes and --out are required");
}
try {
  await Deno.mkdir(values.out, { recursive: true });
  const classes = values.classes.split(",").map((s) => s.trim()).filter((s) => s !== "");
  let failed = false;
  for (const split of values.split!) {
    const { coco, skipped } = vocToCoco(values.root, {
      annFiles: join(values.root, "ImageSets", "Main", `${split}.txt`),
      classes,
    });
    const path = join(values.out, `instances_${split}.json`);
    await Deno.writeTextFile(path, JSON.stringify(coco));
    console.log(
      `${path}: ${coco.images.length} images, ${coco.annotations.length} annotations, skipped ${
        JSON.stringify(skipped)
      }`,
    );
    if (coco.annotations.length === 0) {
      console.error(
        `error: split "${split}" wrote 0 annotations: none of the objects is of the classes ${
          JSON.stringify(classes)
        } (names are case-sensitive; skipped: ${JSON.stringify(skipped)})`,
      );
      failed = true;
    }
  }
  Deno.exit(failed ? 1 : 0);
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  Deno.exit(1);
}
