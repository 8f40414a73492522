import { assert } from "../_assert.ts";
import { findDataset, mountFiles } from "../../lib/datasets/browser_sources.ts";
import { DataError } from "../../lib/utils/errors.ts";

function file(rel: string, body: string | Uint8Array): File {
  const f = new File([body as BlobPart], rel.split("/").pop()!);
  Object.defineProperty(f, "webkitRelativePath", { value: rel });
  return f;
}

Deno.test("mountFiles keeps a dropped folder's layout; findDataset finds its COCO JSON and images", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-sources-" });
  try {
    const coco = {
      images: [{ id: 1, file_name: "a.png", width: 4, height: 4 }],
      annotations: [],
      categories: [{ id: 2, name: "dog" }, { id: 1, name: "cat" }],
    };
    const paths = await mountFiles([
      file("shapes/annotations/train.json", JSON.stringify(coco)),
      file("shapes/train/a.png", new Uint8Array([0x89, 0x50, 0x4e, 0x47])),
      file("shapes/readme.json", "{not json"),
    ], `${dir}/up`);
    assert.deepEqual(paths.sort(), [
      `${dir}/up/shapes/annotations/train.json`,
      `${dir}/up/shapes/readme.json`,
      `${dir}/up/shapes/train/a.png`,
    ]);
    const found = await findDataset(`${dir}/up`);
    assert.deepEqual(found, {
      type: "CocoDataset",
      ann_file: `${dir}/up/shapes/annotations/train.json`,
      img_prefix: `${dir}/up/shapes/train/`,
      classes: ["cat", "dog"],
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findDataset finds a VOC folder, and names what is missing otherwise", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-sources-" });
  try {
    await mountFiles([
      file("VOC/Annotations/1.xml", "<annotation><object><name>WBC</name></object></annotation>"),
      file("VOC/Annotations/2.xml", "<annotation><object><name> RBC </name></object></annotation>"),
      file("VOC/JPEGImages/1.jpg", new Uint8Array([0xff, 0xd8])),
    ], `${dir}/voc`);
    await assert.rejects(
      () => findDataset(`${dir}/voc`),
      (e: Error) => e instanceof DataError && /ImageSets\/Main/.test(e.message),
    );
    await mountFiles([file("VOC/ImageSets/Main/trainval.txt", "1\n2\n")], `${dir}/voc`);
    assert.deepEqual(await findDataset(`${dir}/voc`), {
      type: "VOCDataset",
      ann_file: `${dir}/voc/VOC/ImageSets/Main/trainval.txt`,
      img_prefix: `${dir}/voc/VOC/`,
      classes: ["RBC", "WBC"],
    });
    await mountFiles([file("x/notes.txt", "hi")], `${dir}/none`);
    await assert.rejects(
      () => findDataset(`${dir}/none`),
      (e: Error) => e instanceof DataError && /No dataset under/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
