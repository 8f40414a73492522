import { assert, assertClose } from "../_assert.ts";
import { Rng } from "../../lib/utils/rng.ts";
import "../../lib/datasets/mod.ts";
import {
  bgrToHsv,
  Expand,
  hsvToBgr,
  MinIoURandomCrop,
  PhotoMetricDistortion,
} from "../../lib/datasets/pipelines/ssd_transforms.ts";
import { PIPELINES } from "../../lib/datasets/registry.ts";
import type { HwcImage } from "../../lib/datasets/image_io.ts";
import type { Results } from "../../lib/datasets/types.ts";

/** A float image whose channel 0 is x, channel 1 is y, channel 2 is 7 (pixel provenance). */
function coordImage(h: number, w: number): HwcImage {
  const data = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) data.set([x, y, 7], (y * w + x) * 3);
  }
  return { data, height: h, width: w, channels: 3 };
}

function sample(img: HwcImage, boxes: number[][], seed: number): Results {
  return {
    img,
    img_shape: [img.height, img.width, 3],
    gt_bboxes: Float32Array.from(boxes.flat()),
    gt_labels: Int32Array.from(boxes.map((_, i) => i)),
    bbox_fields: ["gt_bboxes"],
    img_fields: ["img"],
    rng: new Rng(seed),
  } as Results;
}

function iou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const iw = Math.max(Math.min(a[2], b[2]) - Math.max(a[0], b[0]), 0);
  const ih = Math.max(Math.min(a[3], b[3]) - Math.max(a[1], b[1]), 0);
  const u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih;
  return (iw * ih) / Math.max(u, 1e-6);
}

Deno.test("the SSD transforms are registered in PIPELINES under mmdetection's names", () => {
  for (const t of ["PhotoMetricDistortion", "Expand", "MinIoURandomCrop"]) {
    assert.ok(PIPELINES.get(t), t);
  }
});

Deno.test("bgrToHsv / hsvToBgr follow OpenCV's float conversion (H degrees, S 0..1, V as input)", () => {
  const near = (a: number[], b: number[]) => assertClose(a, b, { rtol: 1e-5, atol: 1e-3 });
  near(bgrToHsv(0, 0, 255), [0, 1, 255]); // red
  near(bgrToHsv(0, 255, 0), [120, 1, 255]); // green
  near(bgrToHsv(255, 0, 0), [240, 1, 255]); // blue
  near(bgrToHsv(255, 0, 255), [300, 1, 255]); // magenta: (g − b)·60/d < 0 → + 360
  near(bgrToHsv(50, 50, 50), [0, 0, 50]); // gray: S 0, H 0
  near(bgrToHsv(64, 128, 192), [30, 2 / 3, 192]);
  near(hsvToBgr(30, 2 / 3, 192), [64, 128, 192]);
  near(hsvToBgr(360, 1, 100), hsvToBgr(0, 1, 100)); // wraps
  const rng = new Rng(3);
  for (let i = 0; i < 2000; i++) {
    const bgr = [rng.uniform(-40, 300), rng.uniform(-40, 300), rng.uniform(-40, 300)];
    if (Math.max(...bgr) <= 0) continue; // OpenCV's round trip needs V > 0
    const [h, s, v] = bgrToHsv(bgr[0], bgr[1], bgr[2]);
    assert.ok(h >= 0 && h < 360.001, `H ${h}`);
    assertClose(hsvToBgr(h, s, v), bgr, { rtol: 1e-4, atol: 2e-3 });
  }
});

Deno.test("PhotoMetricDistortion: needs float32; steps keep their ranges; seeded and reproducible", () => {
  const t = new PhotoMetricDistortion({
    brightness_delta: 32,
    contrast_range: [0.5, 1.5],
    saturation_range: [0.5, 1.5],
    hue_delta: 18,
  });
  const u8 = { data: new Uint8Array(12), height: 2, width: 2, channels: 3 };
  assert.throws(() => t.call(sample(u8, [], 0)), /to_float32/);
  // a gray image: saturation and hue do nothing, so each output pixel is
  // contrast·(gray + brightness) (some order), then a channel permutation
  const gray = { data: new Float32Array(4 * 4 * 3).fill(100), height: 4, width: 4, channels: 3 };
  let changed = 0;
  for (let seed = 0; seed < 300; seed++) {
    const r = t.call(sample({ ...gray, data: gray.data.slice() }, [], seed));
    const d = (r.img as HwcImage).data as Float32Array;
    assert.ok(d.every((v) => v === d[0]), "a gray image stays gray");
    // (100 − 32)·0.5 … (100 + 32)·1.5
    assert.ok(d[0] >= 68 * 0.5 - 1e-3 && d[0] <= 132 * 1.5 + 1e-3, `value ${d[0]}`);
    if (d[0] !== 100) changed++;
    const again = t.call(sample({ ...gray, data: gray.data.slice() }, [], seed));
    assert.deepEqual((again.img as HwcImage).data, d, "same seed, same output");
  }
  // brightness or contrast applies unless all three coins say no (1/8 on average)
  assert.ok(changed > 200 && changed < 290, `${changed} of 300 changed`);
  // colour pixels: the hue shift is at most 18°, saturation factor in [0.5, 1.5]
  const img = {
    data: Float32Array.from([30, 90, 200, 200, 40, 60]),
    height: 1,
    width: 2,
    channels: 3,
  };
  for (let seed = 0; seed < 200; seed++) {
    const r = t.call(sample({ ...img, data: img.data.slice() }, [], seed));
    const d = (r.img as HwcImage).data as Float32Array;
    assert.ok(d.every(Number.isFinite));
  }
});

Deno.test("Expand: canvas int(h·r)×int(w·r), r in ratio_range, mean fill (RGB reversed), image and boxes shifted by (left, top)", () => {
  const t = new Expand({ mean: [123.675, 116.28, 103.53], to_rgb: true, ratio_range: [1, 4] });
  let expanded = 0;
  for (let seed = 0; seed < 200; seed++) {
    const img = coordImage(10, 16);
    const r = t.call(sample(img, [[2, 3, 9, 8], [0, 0, 16, 10]], seed));
    const out = r.img as HwcImage;
    if (out === img) {
      assert.deepEqual(Array.from(r.gt_bboxes!), [2, 3, 9, 8, 0, 0, 16, 10]);
      continue;
    }
    expanded++;
    assert.ok(out.height >= 10 && out.height <= 40 && out.width >= 16 && out.width <= 64);
    assert.ok(Math.abs(out.height / 10 - out.width / 16) < 0.2, "one ratio for both sides");
    assert.deepEqual(r.img_shape, [out.height, out.width, 3]);
    const b = r.gt_bboxes!;
    const left = b[4], top = b[5];
    assert.ok(Number.isInteger(left) && Number.isInteger(top));
    assert.ok(left + 16 <= out.width && top + 10 <= out.height);
    assert.deepEqual(Array.from(b), [
      2 + left,
      3 + top,
      9 + left,
      8 + top,
      left,
      top,
      16 + left,
      10 + top,
    ]);
    // the image sits at (left, top); elsewhere the BGR mean
    const px = (x: number, y: number) =>
      Array.from(out.data.subarray((y * out.width + x) * 3, (y * out.width + x) * 3 + 3));
    assert.deepEqual(px(left + 5, top + 4), [5, 4, 7]);
    if (left > 0) assertClose(px(left - 1, top), [103.53, 116.28, 123.675]);
    if (top + 10 < out.height) assertClose(px(left, top + 10), [103.53, 116.28, 123.675]);
  }
  assert.ok(expanded > 70 && expanded < 130, `prob 0.5: ${expanded} of 200 expanded`);
  // uint8 images: the mean is truncated as numpy's full(dtype=uint8) does
  const u8 = new Expand({
    mean: [123.675, 116.28, 103.53],
    to_rgb: true,
    ratio_range: [2, 2],
    prob: 1,
  });
  const r = u8.call(
    sample({ data: new Uint8Array(2 * 2 * 3).fill(9), height: 2, width: 2, channels: 3 }, [], 1),
  );
  const o = r.img as HwcImage;
  assert.equal(o.height, 4);
  assert.ok(o.data instanceof Uint8Array);
  const b0 = r.gt_bboxes!; // empty
  assert.equal(b0.length, 0);
  const cells = Array.from(
    { length: 16 },
    (_, p) => Array.from(o.data.subarray(3 * p, 3 * p + 3)).join(","),
  );
  assert.equal(cells.filter((c) => c === "103,116,123").length, 12);
  assert.equal(cells.filter((c) => c === "9,9,9").length, 4);
});

/** An Rng whose `choice` always returns `mode` (the rest is a real seeded stream). */
class ForcedMode extends Rng {
  constructor(seed: number, readonly mode: number) {
    super(seed);
  }
  calls = 0;
  override choice<T>(items: readonly T[]): T {
    assert.ok((items as unknown[]).includes(this.mode));
    // mmdetection redraws the mode after 50 failed crops; a forced mode that cannot be met
    // would loop forever
    if (++this.calls > 200) throw new Error(`no crop meets IoU ${this.mode} in 10,000 trials`);
    return this.mode as T;
  }
}

Deno.test("MinIoURandomCrop: crop IoU ≥ the drawn threshold, kept boxes are those with centres inside, clipped and shifted, labels follow", () => {
  const W = 80, H = 64;
  for (
    const [mode, boxes] of [
      [0.1, [[10, 10, 40, 30], [35, 20, 70, 60], [60, 5, 78, 18]]],
      [0, [[10, 10, 40, 30], [35, 20, 70, 60], [60, 5, 78, 18]]],
      [0.3, [[20, 16, 60, 48]]],
      [0.5, [[20, 16, 60, 48], [30, 20, 50, 44]]],
      [0.7, [[20, 16, 60, 48]]],
      [0.9, [[2, 2, 78, 62]]],
    ] as [number, number[][]][]
  ) {
    let cropped = 0;
    for (let seed = 0; seed < 60; seed++) {
      const t = new MinIoURandomCrop({ min_ious: [0.1, 0.3, 0.5, 0.7, 0.9], min_crop_size: 0.3 });
      const s = sample(coordImage(H, W), boxes, seed);
      s.rng = new ForcedMode(seed, mode);
      const r = t.call(s);
      const out = r.img as HwcImage;
      cropped++;
      // the crop's origin from the coordinate image
      const x1 = out.data[0], y1 = out.data[1];
      const patch = [x1, y1, x1 + out.width, y1 + out.height];
      assert.deepEqual(r.img_shape, [out.height, out.width, 3]);
      assert.ok(patch[0] >= 0 && patch[1] >= 0 && patch[2] <= W && patch[3] <= H);
      assert.ok(out.width >= Math.floor(0.3 * W) - 1 && out.height >= Math.floor(0.3 * H) - 1);
      const ar = out.height / out.width;
      assert.ok(ar >= 0.45 && ar <= 2.2, `aspect ${ar}`);
      for (const b of boxes) {
        assert.ok(iou(patch, b) >= mode - 1e-6, `IoU ${iou(patch, b)} < ${mode}`);
      }
      const inside = boxes.map((b, i) => [b, i] as const).filter(([b]) => {
        const cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2;
        return cx > patch[0] && cy > patch[1] && cx < patch[2] && cy < patch[3];
      });
      assert.ok(inside.length > 0, "at least one centre inside");
      assert.deepEqual(Array.from(r.gt_labels!), inside.map(([, i]) => i));
      const want = inside.flatMap(([b]) => [
        Math.max(b[0], patch[0]) - patch[0],
        Math.max(b[1], patch[1]) - patch[1],
        Math.min(b[2], patch[2]) - patch[0],
        Math.min(b[3], patch[3]) - patch[1],
      ]);
      assert.deepEqual(Array.from(r.gt_bboxes!), want);
    }
    assert.equal(cropped, 60);
  }
  const boxes = [[10, 10, 40, 30], [35, 20, 70, 60], [60, 5, 78, 18]];
  // mode 1 keeps the sample; bbox_clip_border false keeps coordinates outside the crop
  const keep = new MinIoURandomCrop();
  const s1 = sample(coordImage(H, W), boxes, 0);
  s1.rng = new ForcedMode(0, 1);
  const img0 = s1.img;
  assert.equal(keep.call(s1).img, img0);
  const noclip = new MinIoURandomCrop({ bbox_clip_border: false });
  let outside = 0;
  for (let seed = 0; seed < 40; seed++) {
    const s = sample(coordImage(H, W), boxes, seed);
    s.rng = new ForcedMode(seed, 0.1);
    const r = noclip.call(s);
    const out = r.img as HwcImage;
    const b = r.gt_bboxes!;
    for (let i = 0; i < b.length; i += 4) {
      if (b[i] < 0 || b[i + 1] < 0 || b[i + 2] > out.width || b[i + 3] > out.height) outside++;
    }
  }
  assert.ok(outside > 0, "without clipping some kept boxes extend past the crop");
  // the seeded stream reproduces the same crop
  const a = new MinIoURandomCrop().call(sample(coordImage(H, W), boxes, 11));
  const b = new MinIoURandomCrop().call(sample(coordImage(H, W), boxes, 11));
  assert.deepEqual(a.img_shape, b.img_shape);
  assert.deepEqual(a.gt_bboxes, b.gt_bboxes);
});
