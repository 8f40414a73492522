/** `deno task check-dataset` and `deno task voc2coco` on a tiny VOC folder (subprocesses). */
import { join } from "node:path";
import { assert } from "../_assert.ts";
import { vocXml, writeSolidPng } from "../datasets/_data.ts";

const tool = (n: string) => new URL(`../../tools/${n}`, import.meta.url).pathname;

async function run(script: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-lock", tool(script), ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function vocRoot(fn: (root: string) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "wgdet-check-" });
  try {
    Deno.mkdirSync(join(root, "Annotations"));
    Deno.mkdirSync(join(root, "JPEGImages"));
    Deno.mkdirSync(join(root, "ImageSets/Main"), { recursive: true });
    Deno.writeTextFileSync(
      join(root, "Annotations/a.xml"),
      vocXml([{ name: "cat", box: [1, 1, 41, 31] }, { name: "dog", box: [5, 5, 5, 9] }]),
    );
    Deno.writeTextFileSync(
      join(root, "Annotations/b.xml"),
      vocXml([{ name: "cat", box: [2, 2, 12, 12] }]),
    );
    Deno.writeTextFileSync(join(root, "ImageSets/Main/train.txt"), "a\nb\n");
    writeSolidPng(join(root, "JPEGImages/a.jpg"), 64, 48);
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("check-dataset reports counts, skips, missing images and box sizes; exit 1 on a missing image", async () => {
  await vocRoot(async (root) => {
    const cfg = join(root, "cfg.ts");
    Deno.writeTextFileSync(
      cfg,
      `export const model = { bbox_head: { anchor_generator: { octave_base_scale: 4, scales_per_octave: 3, strides: [8, 16, 32, 64, 128] } } };
export const data = { train: { type: "XMLDataset", classes: ["cat", "dog"], img_prefix: ${
        JSON.stringify(root)
      }, ann_file: ${JSON.stringify(join(root, "ImageSets/Main/train.txt"))},
  pipeline: [{ type: "LoadImageFromFile" }, { type: "Resize", img_scale: [128, 96], keep_ratio: true }] } };
`,
    );
    const bad = await run("check_dataset.ts", cfg, "--splits", "train");
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stdout, /\[train\] 2 images, 2 objects/);
    assert.match(bad.stdout, /cat\s+2/);
    assert.match(bad.stdout, /skipped: .*zero_area_box 1/);
    assert.match(bad.stdout, /missing or unreadable images: 1/);
    assert.match(bad.stdout, /b\.jpg.*does not exist/);
    assert.match(bad.stdout, /anchors cover 32\.\.813 px/);
    writeSolidPng(join(root, "JPEGImages/b.jpg"), 64, 48);
    const good = await run("check_dataset.ts", cfg, "--splits", "train");
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /check-dataset: OK/);
    const help = await run("check_dataset.ts", "--help");
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: deno task check-dataset CONFIG/);
  });
});

Deno.test("voc2coco: --help, no stack traces, and exit 1 when a split writes 0 annotations", async () => {
  await vocRoot(async (root) => {
    const help = await run("voc2coco.ts", "--help");
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: deno task voc2coco/);
    const out = join(root, "out");
    const ok = await run(
      "voc2coco.ts",
      "--root",
      root,
      "--classes",
      "cat,dog",
      "--out",
      out,
      "--split",
      "train",
    );
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(
      JSON.parse(Deno.readTextFileSync(join(out, "instances_train.json"))).annotations.length,
      2,
    );
    const none = await run(
      "voc2coco.ts",
      "--root",
      root,
      "--classes",
      "Cat",
      "--out",
      out,
      "--split",
      "train",
    );
    assert.equal(none.code, 1);
    assert.match(none.stderr, /split "train" wrote 0 annotations/);
    const missing = await run(
      "voc2coco.ts",
      "--root",
      root,
      "--classes",
      "cat",
      "--out",
      out,
      "--split",
      "nope",
    );
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: .*nope\.txt/);
    assert.ok(!/\bat \w/.test(missing.stderr), missing.stderr);
    const usage = await run("voc2coco.ts", "--root", root);
    assert.equal(usage.code, 2);
  });
});
