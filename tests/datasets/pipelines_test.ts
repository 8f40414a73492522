import { assert, assertClose, loadFixture } from "../_assert.ts";
import type { HwcImage } from "../../lib/datasets/image_io.ts";
import { Compose } from "../../lib/datasets/pipelines/compose.ts";
import "../../lib/datasets/pipelines/mod.ts";
import { Collect, DefaultFormatBundle } from "../../lib/datasets/pipelines/formatting.ts";
import { NormalizePadFormat } from "../../lib/datasets/pipelines/fused.ts";
import { MultiScaleFlipAug } from "../../lib/datasets/pipelines/test_time_aug.ts";
import {
  bboxFlip,
  Normalize,
  Pad,
  RandomFlip,
  Resize,
} from "../../lib/datasets/pipelines/transforms.ts";
import type { HostTensor, Results } from "../../lib/datasets/types.ts";
import { DataError } from "../../lib/utils/errors.ts";
import { Rng } from "../../lib/utils/rng.ts";
import { BCCD, hasBccd } from "./_data.ts";

const NORM = { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], to_rgb: true };

function image(w: number, h: number, seed = 0): HwcImage {
  const r = new Rng(seed);
  return {
    data: Uint8Array.from({ length: w * h * 3 }, () => r.randint(256)),
    height: h,
    width: w,
    channels: 3,
  };
}

function results(w: number, h: number, boxes: number[], rng = new Rng(0)): Results {
  return {
    img: image(w, h),
    img_shape: [h, w, 3],
    ori_shape: [h, w, 3],
    img_fields: ["img"],
    gt_bboxes: Float32Array.from(boxes),
    gt_labels: Int32Array.from({ length: boxes.length / 4 }, () => 0),
    bbox_fields: ["gt_bboxes"],
    filename: "x.jpg",
    ori_filename: "x.jpg",
    rng,
  };
}

Deno.test("Resize(1333, 800, keep_ratio) turns 640x480 into 1067x800 and scales and clips boxes", () => {
  const r = new Resize({ img_scale: [1333, 800], keep_ratio: true }).call(
    results(640, 480, [10, 20, 110, 220, 600, 400, 700, 500]),
  );
  assert.deepEqual(r.img_shape, [800, 1067, 3]);
  assert.deepEqual(r.pad_shape, [800, 1067, 3]);
  const sf = r.scale_factor as Float32Array;
  assert.deepEqual([...sf], [...new Float32Array([1067 / 640, 800 / 480, 1067 / 640, 800 / 480])]);
  const b = r.gt_bboxes!;
  assertClose(b.subarray(0, 4), [10 * sf[0], 20 * sf[1], 110 * sf[0], 220 * sf[1]], { rtol: 1e-7 });
  assert.deepEqual([b[6], b[7]], [1067, 800]); // 700·1.667 and 500·1.667 clipped to the image
  const img = r.img as HwcImage;
  assert.deepEqual([img.height, img.width], [800, 1067]);
});

Deno.test("Resize without keep_ratio uses the exact size and separate w/h scale factors", () => {
  const r = new Resize({ img_scale: [100, 50], keep_ratio: false }).call(
    results(64, 48, [0, 0, 64, 48]),
  );
  assert.deepEqual(r.img_shape, [50, 100, 3]);
  assert.deepEqual([...r.gt_bboxes!], [0, 0, 100, 50]);
});

Deno.test("Resize multiscale modes draw from the seeded generator", () => {
  const range = new Resize({ img_scale: [[1333, 640], [1333, 800]], multiscale_mode: "range" });
  const value = new Resize({ img_scale: [[1333, 640], [1333, 800]], multiscale_mode: "value" });
  const ratio = new Resize({ img_scale: [1000, 600], ratio_range: [0.5, 1.5] });
  const seen = new Set<number>();
  for (let s = 0; s < 40; s++) {
    const a = range.call(results(64, 48, [], new Rng(s)));
    assert.equal(a.scale![0], 1333);
    assert.ok(a.scale![1] >= 640 && a.scale![1] <= 800);
    const b = value.call(results(64, 48, [], new Rng(s)));
    seen.add(b.scale![1]);
    const c = ratio.call(results(64, 48, [], new Rng(s)));
    // scale = [int(1000·r), int(600·r)] with r in [0.5, 1.5)
    assert.ok(
      c.scale![0] >= 500 && c.scale![0] < 1500 && c.scale![1] >= 300 && c.scale![1] < 900,
      `${c.scale}`,
    );
    assert.ok(Math.abs(c.scale![1] / 600 - c.scale![0] / 1000) < 0.01);
  }
  assert.deepEqual([...seen].sort(), [640, 800]);
  assert.deepEqual(
    range.call(results(64, 48, [], new Rng(3))).scale,
    range.call(results(64, 48, [], new Rng(3))).scale,
  );
});

Deno.test("Pad(size_divisor=32) pads 1067x800 to 1088x800 with zeros after the image", () => {
  const r = new Resize({ img_scale: [1333, 800] }).call(results(640, 480, []));
  const p = new Pad({ size_divisor: 32 }).call(r);
  assert.deepEqual(p.pad_shape, [800, 1088, 3]);
  const img = p.img as HwcImage;
  assert.equal(img.width, 1088);
  assert.equal(img.data[(5 * 1088 + 1070) * 3], 0);
  const fixed = new Pad({ size: [900, 1100], pad_val: 7 }).call(results(64, 48, []));
  assert.deepEqual(fixed.pad_shape, [900, 1100, 3]);
  assert.equal((fixed.img as HwcImage).data[(899 * 1100 + 1099) * 3], 7);
  assert.throws(() => new Pad({ size: [10, 10] }).call(results(64, 48, [])), RangeError);
});

Deno.test("RandomFlip flips boxes as x1' = w - x2, x2' = w - x1 (and y for vertical)", () => {
  const b = Float32Array.from([10, 20, 110, 220]);
  assert.deepEqual([...bboxFlip(b, [800, 1067, 3], "horizontal")], [957, 20, 1057, 220]);
  assert.deepEqual([...bboxFlip(b, [800, 1067, 3], "vertical")], [10, 580, 110, 780]);
  assert.deepEqual([...bboxFlip(b, [800, 1067, 3], "diagonal")], [957, 580, 1057, 780]);
  const r = new RandomFlip({ flip_ratio: 1 }).call(results(4, 2, [0, 0, 1, 2]));
  assert.equal(r.flip, true);
  assert.equal(r.flip_direction, "horizontal");
  assert.deepEqual([...r.gt_bboxes!], [3, 0, 4, 2]);
  const src = results(4, 2, []).img as HwcImage;
  assert.deepEqual([...(r.img as HwcImage).data.subarray(0, 3)], [...src.data.subarray(9, 12)]);
});

Deno.test("RandomFlip(flip_ratio=0.5) flips about half of the samples, reproducibly per seed", () => {
  const t = new RandomFlip({ flip_ratio: 0.5, direction: ["horizontal", "vertical"] });
  let flips = 0;
  const dirs = new Set<string | null | undefined>();
  for (let s = 0; s < 400; s++) {
    const r = t.call(results(4, 2, [], new Rng(s)));
    if (r.flip) flips++;
    dirs.add(r.flip_direction);
  }
  assert.ok(flips > 160 && flips < 240, `${flips} flips of 400`);
  assert.deepEqual([...dirs].sort(), ["horizontal", "vertical", null].sort());
  assert.equal(
    t.call(results(4, 2, [], new Rng(9))).flip,
    t.call(results(4, 2, [], new Rng(9))).flip,
  );
});

interface NormFixture {
  shape: number[];
  mean: number[];
  std: number[];
  input: string;
  output: string;
}
const fx = await loadFixture<{ normalize: NormFixture }>("datasets/resize_cv2.json");
const bytes = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

Deno.test("Normalize equals mmcv's imnormalize with OpenCV (BGR→RGB, float32 subtract and multiply)", () => {
  const n = fx.normalize;
  const img: HwcImage = {
    data: bytes(n.input),
    height: n.shape[0],
    width: n.shape[1],
    channels: 3,
  };
  const r = new Normalize({ mean: n.mean, std: n.std, to_rgb: true }).call({
    img,
    img_fields: ["img"],
  });
  assert.deepEqual((r.img as HwcImage).data, new Float32Array(bytes(n.output).buffer));
  assert.deepEqual([...r.img_norm_cfg!.mean], [...new Float32Array(n.mean)]);
  assert.equal(r.img_norm_cfg!.to_rgb, true);
});

Deno.test("Compose fuses Normalize, Pad and DefaultFormatBundle with results identical to running them in turn", () => {
  const steps = [{ type: "Normalize", ...NORM }, { type: "Pad", size_divisor: 32 }, {
    type: "DefaultFormatBundle",
  }];
  const fused = new Compose(steps);
  assert.equal(fused.transforms.length, 1);
  assert.ok(fused.transforms[0] instanceof NormalizePadFormat);
  const a = fused.call(results(45, 37, [1, 2, 3, 4]))!;
  const b = new DefaultFormatBundle().call(
    new Pad({ size_divisor: 32 }).call(new Normalize(NORM).call(results(45, 37, [1, 2, 3, 4]))),
  );
  const ta = a.img as HostTensor, tb = b.img as HostTensor;
  assert.deepEqual(ta.shape, [3, 64, 64]);
  assert.deepEqual(ta.shape, tb.shape);
  assert.deepEqual(ta.data, tb.data);
  for (
    const k of ["pad_shape", "pad_size_divisor", "pad_fixed_size", "scale_factor", "img_norm_cfg"]
  ) assert.deepEqual(a[k], b[k], k);
});

Deno.test("DefaultFormatBundle makes CHW tensors and Collect gathers img_metas", () => {
  const r = new DefaultFormatBundle().call(results(3, 2, [0, 0, 1, 1]));
  const t = r.img as HostTensor;
  assert.deepEqual(t.shape, [3, 2, 3]);
  const src = results(3, 2, []).img as HwcImage;
  assert.equal(t.data[1 * 6 + 4], src.data[4 * 3 + 1]); // channel 1, pixel 4
  r.flip = false;
  r.flip_direction = null;
  const c = new Collect({ keys: ["img", "gt_bboxes", "gt_labels"] }).call(r);
  assert.deepEqual(Object.keys(c).sort(), ["gt_bboxes", "gt_labels", "img", "img_metas"]);
  assert.deepEqual(c.img_metas!.img_shape, [2, 3, 3]);
  assert.equal(c.img_metas!.scale_factor, 1);
  assert.throws(
    () => new Collect({ keys: ["img"], meta_keys: ["nope"] }).call(r),
    (e: Error) => e instanceof DataError && e.message.includes('"nope"'),
  );
});

Deno.test("MultiScaleFlipAug runs its transforms once per scale and flip", () => {
  const msfa = new MultiScaleFlipAug({
    img_scale: [1333, 800],
    flip: true,
    transforms: [
      { type: "Resize", keep_ratio: true },
      { type: "RandomFlip" },
      { type: "Normalize", ...NORM },
      { type: "Pad", size_divisor: 32 },
      { type: "ImageToTensor", keys: ["img"] },
      { type: "Collect", keys: ["img"] },
    ],
  });
  const r = msfa.call(results(640, 480, []));
  const imgs = r.img as unknown as HostTensor[];
  const metas = r.img_metas as unknown as Results[];
  assert.equal(imgs.length, 2);
  assert.deepEqual(imgs[0].shape, [3, 800, 1088]);
  assert.deepEqual(metas.map((m) => [m.flip, m.flip_direction]), [[false, null], [
    true,
    "horizontal",
  ]]);
  assert.deepEqual(metas[0].img_shape, [800, 1067, 3]);
  assert.deepEqual(metas[0].pad_shape, [800, 1088, 3]);
});

Deno.test({
  name: "the RetinaNet train pipeline turns a BCCD image into a 3x800x1088 tensor",
  ignore: !hasBccd,
  fn() {
    const pipeline = new Compose([
      { type: "LoadImageFromFile" },
      { type: "LoadAnnotations", with_bbox: true },
      { type: "Resize", img_scale: [1333, 800], keep_ratio: true },
      { type: "RandomFlip", flip_ratio: 0.5 },
      { type: "Normalize", ...NORM },
      { type: "Pad", size_divisor: 32 },
      { type: "DefaultFormatBundle" },
      { type: "Collect", keys: ["img", "gt_bboxes", "gt_labels"] },
    ]);
    const out = pipeline.call({
      img_info: { filename: "JPEGImages/BloodImage_00000.jpg", width: 640, height: 480 },
      ann_info: {
        bboxes: Float32Array.from([0, 0, 640, 480]),
        labels: Int32Array.from([1]),
        bboxes_ignore: new Float32Array(0),
        labels_ignore: new Int32Array(0),
      },
      img_prefix: BCCD,
      bbox_fields: [],
      rng: new Rng(1),
    })!;
    assert.deepEqual((out.img as HostTensor).shape, [3, 800, 1088]);
    assert.deepEqual(out.img_metas!.ori_shape, [480, 640, 3]);
    assert.deepEqual(out.img_metas!.img_shape, [800, 1067, 3]);
    assert.deepEqual(out.img_metas!.pad_shape, [800, 1088, 3]);
    assert.deepEqual([...out.gt_bboxes!], [0, 0, 1067, 800]);
    assert.ok(out.img_metas!.filename!.endsWith("BloodImage_00000.jpg"));
  },
});
