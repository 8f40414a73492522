import { assert } from "../_assert.ts";
import { jpegJs } from "../../lib/deps.ts";
import { PNG } from "../../lib/deps_deno.ts";
import { decodeImage, encodePng, readImage, readImageSize } from "../../lib/datasets/image_io.ts";
import { DataError } from "../../lib/utils/errors.ts";

const BCCD = Deno.env.get("WGDET_BCCD") ??
  new URL("../../../shared/data/bccd/BCCD/", import.meta.url).pathname;
const hasBccd = (() => {
  try {
    return Deno.statSync(BCCD).isDirectory;
  } catch {
    return false;
  }
})();

/** A PNG of the given pngjs color type from RGBA pixels. */
function png(w: number, h: number, rgba: number[], colorType: 0 | 2 | 4 | 6): Uint8Array {
  const p = new PNG({ width: w, height: h });
  p.data.set(rgba);
  const buf = PNG.sync.write(p, { colorType, inputHasAlpha: true });
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

Deno.test("decodeImage() returns BGR channel order for an RGB PNG", () => {
  const img = decodeImage(png(2, 1, [10, 20, 30, 255, 200, 100, 50, 255], 2));
  assert.deepEqual([img.height, img.width, img.channels], [1, 2, 3]);
  assert.deepEqual([...img.data], [30, 20, 10, 50, 100, 200]);
});

Deno.test("decodeImage() replicates gray PNGs and drops alpha of RGBA PNGs", () => {
  const gray = decodeImage(png(2, 1, [7, 7, 7, 255, 99, 99, 99, 255], 0));
  assert.deepEqual([...gray.data], [7, 7, 7, 99, 99, 99]);
  const grayAlpha = decodeImage(png(1, 1, [5, 5, 5, 17], 4));
  assert.deepEqual([...grayAlpha.data], [5, 5, 5]);
  const rgba = decodeImage(png(1, 1, [1, 2, 3, 4], 6));
  assert.deepEqual([...rgba.data], [3, 2, 1]);
});

Deno.test("decodeImage() converts to one gray channel with OpenCV's weights", () => {
  const img = decodeImage(png(1, 1, [255, 0, 0, 255], 2), { colorType: "grayscale" });
  assert.equal(img.channels, 1);
  assert.equal(img.data[0], 76); // round(0.299 · 255) with fixed-point weights
});

Deno.test("encodePng() round-trips a BGR image exactly", () => {
  const data = Uint8Array.from({ length: 5 * 3 * 3 }, (_, i) => (i * 37) % 256);
  const back = decodeImage(encodePng({ data, height: 3, width: 5, channels: 3 }));
  assert.deepEqual(back.data, data);
});

Deno.test("decodeImage() decodes a JPEG close to its source", () => {
  const w = 16, h = 8;
  const rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) rgba.set([200, 120, 40, 255], i * 4);
  const jpg = jpegJs.encode({ data: rgba, width: w, height: h }, 95).data;
  const img = decodeImage(new Uint8Array(jpg));
  assert.deepEqual([img.height, img.width, img.channels], [h, w, 3]);
  assert.ok(
    Math.abs(img.data[0] - 40) <= 3 && Math.abs(img.data[2] - 200) <= 3,
    `got ${img.data.subarray(0, 3)}`,
  );
  assert.deepEqual(readImageSize(new Uint8Array(jpg)), { width: w, height: h });
});

Deno.test({
  name: "readImage() decodes a real BCCD JPEG at 640x480",
  ignore: !hasBccd,
  fn() {
    const img = readImage(`${BCCD}/JPEGImages/BloodImage_00000.jpg`);
    assert.deepEqual([img.height, img.width, img.channels], [480, 640, 3]);
    let mean = 0;
    for (const v of img.data) mean += v;
    mean /= img.data.length;
    assert.ok(mean > 100 && mean < 250, `mean ${mean}`);
    assert.deepEqual(readImageSize(Deno.readFileSync(`${BCCD}/JPEGImages/BloodImage_00000.jpg`)), {
      width: 640,
      height: 480,
    });
  },
});

Deno.test("readImage() names the file when it is missing or not an image", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.throws(
      () => readImage(`${dir}/nope.png`),
      (e: Error) =>
        e instanceof DataError && e.message.includes(`${dir}/nope.png`) &&
        /does not exist/.test(e.message),
    );
    await Deno.writeTextFile(`${dir}/text.jpg`, "not an image at all");
    assert.throws(
      () => readImage(`${dir}/text.jpg`),
      (e: Error) =>
        e instanceof DataError && e.message.includes("text.jpg") &&
        /not a PNG or JPEG/.test(e.message),
    );
    const broken = png(4, 4, new Array(64).fill(9), 2).slice(0, 40);
    await Deno.writeFile(`${dir}/broken.png`, broken);
    assert.throws(
      () => readImage(`${dir}/broken.png`),
      (e: Error) => e instanceof DataError && e.message.includes("broken.png"),
    );
    const jpgHead = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]);
    await Deno.writeFile(`${dir}/broken.jpg`, jpgHead);
    assert.throws(
      () => readImage(`${dir}/broken.jpg`),
      (e: Error) => e instanceof DataError && e.message.includes("broken.jpg"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
