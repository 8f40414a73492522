/**
 * Load-time validation of annotation files and images: every value JavaScript would coerce
 * differently from mmdet's Python is refused with the file, entry, field and value named;
 * images are checked at load; decoded size is bounded; EXIF orientation is applied.
 */
import { assert } from "../_assert.ts";
import { CocoDataset, parseCocoJson } from "../../lib/datasets/coco.ts";
import { XMLDataset } from "../../lib/datasets/xml_style.ts";
import { CustomDataset } from "../../lib/datasets/custom.ts";
import {
  applyExifOrientation,
  checkImageFile,
  decodeImage,
  exifOrientation,
  readImageSize,
} from "../../lib/datasets/image_io.ts";
import { parseXml } from "../../lib/datasets/xml.ts";
import { jpegJs } from "../../lib/deps.ts";
import { DataError } from "../../lib/utils/errors.ts";
import { vocXml, writeSolidPng } from "./_data.ts";
import { crc32, deflateSync } from "node:zlib";

const quiet = () => {};

function cocoSample() {
  return {
    images: [{ id: 1, file_name: "a.png", width: 64, height: 48 }],
    categories: [{ id: 1, name: "cat" }, { id: 2, name: "dog" }],
    annotations: [
      { id: 1, image_id: 1, category_id: 1, bbox: [2, 2, 20, 20], area: 400, iscrowd: 0 },
    ] as Record<string, unknown>[],
  };
}

function cocoThrows(mut: (j: ReturnType<typeof cocoSample>) => void, ...parts: string[]) {
  const j = cocoSample();
  mut(j);
  assert.throws(
    () => parseCocoJson(JSON.stringify(j), "x.json"),
    (e: Error) => e instanceof DataError && parts.every((p) => e.message.includes(p)),
    parts.join(" "),
  );
}

Deno.test("parseCocoJson() refuses iscrowd/ignore values whose truth differs between JS and Python", () => {
  for (const v of [[], {}, "1", 0.5, "yes", 2]) {
    cocoThrows((j) => (j.annotations[0].iscrowd = v), '"x.json"', "annotations[0]", "iscrowd");
    cocoThrows((j) => (j.annotations[0].ignore = v), "annotations[0]", '"ignore"');
  }
  for (const v of [0, 1, true, false, null]) {
    const j = cocoSample();
    j.annotations[0].iscrowd = v;
    parseCocoJson(JSON.stringify(j), "x.json");
  }
});

Deno.test("parseCocoJson() refuses non-finite-in-float32 numbers, bad sizes and duplicate category names", () => {
  cocoThrows((j) => (j.annotations[0].bbox = [1e39, 2, 3, 4]), "bbox", "1e+39", "float32");
  cocoThrows((j) => (j.annotations[0].area = "400"), '"area"', '"400"');
  cocoThrows((j) => (j.images[0].width = 64.5), "images[0] (id 1)", '"width"', "64.5");
  cocoThrows((j) => (j.images[0].file_name = ""), '"file_name"');
  cocoThrows((j) => j.categories.push({ id: 3, name: "cat" }), 'category name "cat"', "id 1");
  cocoThrows(
    (j) => (j.annotations[0] = null as unknown as Record<string, unknown>),
    "annotations[0]",
  );
});

Deno.test("CocoDataset refuses a Latin-1 byte instead of replacing it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const text = JSON.stringify(cocoSample()).replace('"cat"', '"caX"');
    const bytes = new TextEncoder().encode(text);
    bytes[bytes.indexOf(0x58)] = 0xe9; // "é" in Latin-1
    Deno.writeFileSync(`${dir}/a.json`, bytes);
    assert.throws(
      () => new CocoDataset({ ann_file: `${dir}/a.json`, classes: ["dog"], warn: quiet }),
      (e: Error) =>
        e instanceof DataError && e.message.includes("a.json") && e.message.includes("UTF-8") &&
        e.message.includes("0xe9"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function withVoc(fn: (root: string, write: (xml: string) => void) => void) {
  const root = await Deno.makeTempDir();
  try {
    Deno.mkdirSync(`${root}/Annotations`);
    Deno.mkdirSync(`${root}/JPEGImages`);
    Deno.writeTextFileSync(`${root}/ids.txt`, "a\n");
    fn(root, (xml) => Deno.writeTextFileSync(`${root}/Annotations/a.xml`, xml));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const voc = (root: string, extra: Record<string, unknown> = {}) =>
  new XMLDataset({
    classes: ["cat"],
    img_prefix: root,
    ann_file: `${root}/ids.txt`,
    warn: quiet,
    ...extra,
  });

Deno.test("XMLDataset refuses <difficult> values mmdet's int() rejects and coordinates float() rejects", async () => {
  await withVoc((root, write) => {
    const base = vocXml([{ name: "cat", box: [1, 1, 11, 21] }]);
    for (const d of ["", "abc", "true", "NaN", "0.9"]) {
      write(base.replace("<difficult>0</difficult>", `<difficult>${d}</difficult>`));
      assert.throws(
        () => voc(root),
        (e: Error) =>
          e instanceof DataError && e.message.includes("a.xml") && e.message.includes("object 0") &&
          e.message.includes("<difficult>"),
        `difficult ${JSON.stringify(d)}`,
      );
    }
    write(base.replace("<difficult>0</difficult>", "<difficult/>"));
    assert.throws(
      () => voc(root),
      (e: Error) => e instanceof DataError && /difficult/.test(e.message),
    );
    write(base.replace("<difficult>0</difficult>", "<difficult> 1 </difficult>"));
    assert.equal(voc(root, { test_mode: true }).getAnnInfo(0).labels_ignore.length, 1);
    for (const c of ["0x10", "", "inf", "nan", "1e39", "1,5"]) {
      write(base.replace("<xmin>1</xmin>", `<xmin>${c}</xmin>`));
      assert.throws(
        () => voc(root),
        (e: Error) =>
          e instanceof DataError && e.message.includes("a.xml") && e.message.includes("<xmin>"),
        `xmin ${JSON.stringify(c)}`,
      );
    }
    write(base.replace("<xmin>1</xmin>", "<xmin> 2.9e0 </xmin>")); // int(float(" 2.9e0 ")) = 2
    assert.deepEqual([...voc(root).getAnnInfo(0).bboxes], [1, 0, 10, 20]);
    write(base.replace("<width>64</width>", "<width>64.5</width>"));
    assert.throws(
      () => voc(root),
      (e: Error) => e instanceof DataError && /<width>/.test(e.message),
    );
  });
});

Deno.test("parseXml() refuses character references outside XML's characters, naming the file", () => {
  for (const ref of ["&#x110000;", "&#-1;", "&#0;", "&#xD800;", "&#x;", "&#12a;"]) {
    assert.throws(
      () => parseXml(`<a><name>x${ref}</name></a>`, "f.xml"),
      (e: Error) => e instanceof DataError && e.message.includes('"f.xml"'),
      ref,
    );
  }
  assert.equal(parseXml("<a>&#x41;&#66;&amp;</a>").text, "AB&");
});

Deno.test("A training dataset with no usable image is an error naming the classes found", async () => {
  await withVoc((root, write) => {
    write(vocXml([{ name: "Cat", box: [1, 1, 11, 21] }, { name: "dog", box: [1, 1, 11, 21] }]));
    assert.throws(
      () => voc(root),
      (e: Error) =>
        e instanceof DataError && e.message.includes("no usable training images") &&
        e.message.includes('"Cat" ×1') && e.message.includes('"dog" ×1') &&
        e.message.includes('["cat"]'),
    );
    assert.equal(voc(root, { test_mode: true }).length, 1); // test sets keep every image
  });
});

Deno.test("check_images: a missing or non-image file fails at load, naming the file", async () => {
  await withVoc((root, write) => {
    write(vocXml([{ name: "cat", box: [1, 1, 11, 21] }]));
    assert.throws(
      () => voc(root, { check_images: true }),
      (e: Error) =>
        e instanceof DataError && e.message.includes("JPEGImages/a.jpg") &&
        e.message.includes("does not exist"),
    );
    Deno.writeTextFileSync(`${root}/JPEGImages/a.jpg`, "not an image");
    assert.throws(
      () => voc(root, { check_images: true }),
      (e: Error) => e instanceof DataError && e.message.includes("not a PNG or JPEG"),
    );
    writeSolidPng(`${root}/JPEGImages/a.jpg`, 64, 48);
    assert.equal(voc(root, { check_images: true }).length, 1);
    assert.throws(
      () => voc(root, { check_images: true, max_pixels: 1000 }),
      (e: Error) => e instanceof DataError && e.message.includes("max_pixels 1000"),
    );
  });
});

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)) >>> 0);
  return out;
}

/** A PNG whose IHDR says w×h (depth bits, colour type ct) and whose IDAT holds `rows` rows. */
function pngWith(w: number, h: number, rows: number, depth = 8, ct = 2): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w);
  dv.setUint32(4, h);
  ihdr[8] = depth;
  ihdr[9] = ct;
  const ch = ct === 2 ? 3 : 1;
  const raw = new Uint8Array((Math.ceil((w * ch * depth) / 8) + 1) * rows).fill(0);
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", new Uint8Array(deflateSync(raw))),
    chunk("IEND", new Uint8Array()),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

Deno.test("decodeImage() refuses huge declared sizes before allocating, and PNGs missing rows", () => {
  const bomb = pngWith(20000, 20000, 1, 1, 0); // 1-bit gray, a few bytes, 4e8 pixels declared
  const t0 = performance.now();
  assert.throws(
    () => decodeImage(bomb, { name: "bomb.png" }),
    (e: Error) =>
      e instanceof DataError && e.message.includes("bomb.png") &&
      e.message.includes("20000x20000") && e.message.includes("max_pixels"),
  );
  assert.ok(performance.now() - t0 < 1000);
  assert.throws(
    () => decodeImage(pngWith(8, 8, 4), { name: "half.png" }),
    (e: Error) =>
      e instanceof DataError && e.message.includes("half.png") && /truncated/.test(e.message),
  );
  assert.equal(decodeImage(pngWith(8, 8, 8)).height, 8);
  assert.throws(
    () => decodeImage(pngWith(8, 8, 8), { maxPixels: 63 }),
    (e: Error) => e instanceof DataError && /max_pixels 63/.test(e.message),
  );
});

/** A JPEG of `w`×`h` with an EXIF APP1 segment giving `orientation`. */
function jpegWithExif(rgba: Uint8Array, w: number, h: number, orientation: number): Uint8Array {
  const jpg = new Uint8Array(jpegJs.encode({ data: rgba, width: w, height: h }, 100).data);
  const tiff = new Uint8Array(26);
  const dv = new DataView(tiff.buffer);
  tiff.set([0x49, 0x49, 0x2a, 0x00]);
  dv.setUint32(4, 8, true);
  dv.setUint16(8, 1, true);
  dv.setUint16(10, 0x0112, true);
  dv.setUint16(12, 3, true);
  dv.setUint32(14, 1, true);
  dv.setUint16(18, orientation, true);
  const seg = new Uint8Array(4 + 6 + tiff.length);
  seg.set([0xff, 0xe1]);
  new DataView(seg.buffer).setUint16(2, 2 + 6 + tiff.length);
  seg.set([0x45, 0x78, 0x69, 0x66, 0, 0], 4);
  seg.set(tiff, 10);
  const out = new Uint8Array(jpg.length + seg.length);
  out.set(jpg.subarray(0, 2));
  out.set(seg, 2);
  out.set(jpg.subarray(2), 2 + seg.length);
  return out;
}

Deno.test("EXIF orientation is applied as mmcv's color_type 'color' and ignored on request", () => {
  const w = 32, h = 16;
  const rgba = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // a bright block in the top-left corner: its position tells the orientation
      const v = x < 8 && y < 4 ? 250 : 10;
      rgba.set([v, v, v, 255], (y * w + x) * 4);
    }
  }
  const plain = decodeImage(jpegWithExif(rgba, w, h, 1));
  for (let o = 1; o <= 8; o++) {
    const bytes = jpegWithExif(rgba, w, h, o);
    assert.equal(exifOrientation(bytes), o);
    const img = decodeImage(bytes);
    assert.deepEqual(readImageSize(bytes, { oriented: true }), {
      width: img.width,
      height: img.height,
    });
    assert.deepEqual([img.width, img.height], o >= 5 ? [h, w] : [w, h]);
    assert.deepEqual(img.data, applyExifOrientation(plain, o).data);
    const raw = decodeImage(bytes, { colorType: "color_ignore_orientation" });
    assert.deepEqual(raw.data, plain.data);
  }
  // orientation 6 (rotate 90° clockwise): the top-left block ends at the top-right
  const r6 = decodeImage(jpegWithExif(rgba, w, h, 6));
  const at = (img: typeof r6, x: number, y: number) => img.data[(y * img.width + x) * 3];
  assert.ok(at(r6, r6.width - 1, 0) > 200 && at(r6, 0, 0) < 60);
  // orientation 8 (rotate 90° counter-clockwise): it ends at the bottom-left
  const r8 = decodeImage(jpegWithExif(rgba, w, h, 8));
  assert.ok(at(r8, 0, r8.height - 1) > 200 && at(r8, 0, 0) < 60);
  // 3 (rotate 180°): bottom-right
  const r3 = decodeImage(jpegWithExif(rgba, w, h, 3));
  assert.ok(at(r3, w - 1, h - 1) > 200 && at(r3, 0, 0) < 60);
  const tmp = Deno.makeTempFileSync({ suffix: ".jpg" });
  try {
    Deno.writeFileSync(tmp, jpegWithExif(rgba, w, h, 6));
    assert.deepEqual(checkImageFile(tmp), { width: h, height: w });
    assert.deepEqual(checkImageFile(tmp, { colorType: "color_ignore_orientation" }), {
      width: w,
      height: h,
    });
  } finally {
    Deno.removeSync(tmp);
  }
});

Deno.test("A transform error names the image (extreme aspect ratio in Resize)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    writeSolidPng(`${dir}/thin.png`, 3000, 1);
    const ds = new CustomDataset({
      classes: ["a"],
      img_prefix: dir,
      test_mode: true,
      data_infos: [{
        filename: "thin.png",
        width: 3000,
        height: 1,
        ann: { bboxes: [], labels: [] },
      }],
      pipeline: [
        { type: "LoadImageFromFile" },
        { type: "Resize", img_scale: [128, 128], keep_ratio: true },
      ],
      warn: quiet,
    });
    assert.throws(() => ds.getItem(0), (e: Error) => e.message.includes("thin.png"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
