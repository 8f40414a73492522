/**
 * Converts Pascal VOC XML annotations to COCO JSON.
 *
 * Usage:
 *   deno run -A tools/voc2coco.ts --root ../shared/data/bccd/BCCD --split trainval --split test \
 *     --classes RBC,WBC,Platelets --out work_dirs/bccd_coco
 *
 * Writes `<out>/instances_<split>.json` per split; `file_name`s are relative to `--root`.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { vocToCoco } from "../lib/datasets/voc2coco.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    root: { type: "string" },
    split: { type: "string", multiple: true, default: ["trainval", "test"] },
    classes: { type: "string" },
    out: { type: "string" },
  },
});
if (!values.root || !values.classes || !values.out) {
  console.error(
    "Usage: voc2coco.ts --root VOC_ROOT --classes A,B,C --out DIR [--split trainval --split test]",
  );
  Deno.exit(1);
}
await Deno.mkdir(values.out, { recursive: true });
for (const split of values.split!) {
  const { coco, skipped } = vocToCoco(values.root, {
    annFiles: join(values.root, "ImageSets", "Main", `${split}.txt`),
    classes: values.classes.split(","),
  });
  const path = join(values.out, `instances_${split}.json`);
  await Deno.writeTextFile(path, JSON.stringify(coco));
  console.log(
    `${path}: ${coco.images.length} images, ${coco.annotations.length} annotations, skipped ${
      JSON.stringify(skipped)
    }`,
  );
}
