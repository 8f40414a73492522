import { assert, assertClose, type FixtureArray, loadFixture } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { Rng } from "../_reference/rng.ts";
import { iouRef } from "../_reference/iou_ref.ts";
import { generalizedBoxIouRef } from "../_reference/giou_ref.ts";
import { anchorFlags, bboxOverlaps, levelTable } from "../../lib/ops/bbox.ts";
import { packTargetInputs } from "../../lib/ops/targets.ts";
import { AnchorGenerator } from "../../lib/core/anchor/anchor_generator.ts";
import { anchorInsideFlags, concatArrays } from "../../lib/core/anchor/utils.ts";
import { bboxOverlaps as bboxOverlapsCpu } from "../../lib/core/bbox/iou.ts";
import type { Gpu } from "../../lib/gpu/runtime.ts";

type IouFixture = Record<string, FixtureArray>;

async function overlaps(
  gpu: Gpu,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  opts: Parameters<typeof bboxOverlaps>[2],
) {
  const ta = gpu.upload(a, [a.length / 4, 4]), tb = gpu.upload(b, [b.length / 4, 4]);
  const out = bboxOverlaps(ta, tb, opts);
  const host = await gpu.read(out);
  for (const t of [ta, tb, out]) t.release();
  return host as Float32Array;
}

gpuTest(
  "bboxOverlaps() equals torchvision box_iou and generalized_box_iou on the fixture boxes",
  async (gpu) => {
    const fx = await loadFixture<IouFixture>("core/iou.json");
    const iou = await overlaps(gpu, fx.a.data, fx.b.data, { mode: "iou", eps: 0 });
    const nan = (xs: (number | null)[]) => xs.map((v) => v ?? NaN); // JSON writes NaN as null
    assertClose(iou, nan(fx.box_iou.data), { rtol: 1e-6, atol: 1e-7, msg: "box_iou" });
    // torchvision's GIoU has no eps; boxes of zero area give NaN there
    const giou = await overlaps(gpu, fx.a.data, fx.b.data, { mode: "giou", eps: 0 });
    const ref = nan(fx.generalized_box_iou.data);
    const finite = ref.map((v, i) => (Number.isFinite(v) ? giou[i] : v));
    assertClose(finite, ref, { rtol: 1e-6, atol: 1e-7, msg: "generalized_box_iou" });
  },
);

gpuTest(
  "bboxOverlaps() equals mmdetection's bbox_overlaps (iou, iof, giou, aligned) bit for bit",
  async (gpu) => {
    const fx = await loadFixture<IouFixture>("core/iou.json");
    for (const mode of ["iou", "iof", "giou"] as const) {
      const got = await overlaps(gpu, fx.a.data, fx.b.data, { mode });
      assert.deepEqual(Array.from(got), fx[`mmdet_${mode}`].data, `mmdet_${mode}`);
    }
    for (const mode of ["iou", "giou"] as const) {
      const got = await overlaps(gpu, fx.aligned_a.data, fx.aligned_b.data, {
        mode,
        isAligned: true,
      });
      assert.deepEqual(Array.from(got), fx[`mmdet_aligned_${mode}`].data, `aligned ${mode}`);
    }
  },
);

gpuTest(
  "bboxOverlaps() equals the float32 CPU implementation exactly on grid boxes with ties",
  async (gpu) => {
    const r = new Rng(11);
    for (const grid of [0, 1, 4]) {
      const a = r.boxes(37, { grid }), b = r.boxes(29, { grid, minWh: 0, maxWh: 20 });
      for (const mode of ["iou", "iof", "giou"] as const) {
        const got = await overlaps(gpu, a, b, { mode });
        assert.deepEqual(
          Array.from(got),
          Array.from(bboxOverlapsCpu(a, b, { mode })),
          `${mode} grid ${grid}`,
        );
        assertClose(got, iouRef(a, b, { mode }), {
          rtol: 1e-5,
          atol: 1e-6,
          msg: `${mode} vs float64`,
        });
      }
      const ga = await overlaps(gpu, a.slice(0, 29 * 4), b, {
        mode: "giou",
        isAligned: true,
        eps: 0,
      });
      const full = generalizedBoxIouRef(a.slice(0, 29 * 4), b);
      assertClose(ga, Array.from({ length: 29 }, (_, i) => full[i * 29 + i]), {
        rtol: 1e-5,
        atol: 1e-6,
        msg: "aligned giou",
      });
    }
  },
);

gpuTest("bboxOverlaps() rejects wrong shapes and modes with clear errors", (gpu) => {
  const a = gpu.upload([0, 0, 1, 1], [1, 4]), b = gpu.upload([0, 0, 1, 1, 0, 0, 2, 2], [2, 4]);
  assert.throws(() => bboxOverlaps(a, b, { isAligned: true }), /1 boxes in "a" but 2 in "b"/);
  assert.throws(() => bboxOverlaps(a, gpu.upload([1, 2, 3], [3]), {}), TypeError);
  assert.throws(() => bboxOverlaps(a, b, { mode: "dice" as "iou" }), RangeError);
  for (const t of [a, b]) t.release();
});

const RETINA = {
  octave_base_scale: 4,
  scales_per_octave: 3,
  ratios: [0.5, 1.0, 2.0],
  strides: [8, 16, 32, 64, 128],
};

async function flagsOf(
  gpu: Gpu,
  gen: AnchorGenerator,
  sizes: [number, number][],
  images: { pad: [number, number]; img: [number, number]; ignore?: Float32Array }[],
  opts: Parameters<typeof anchorFlags>[3],
): Promise<{ flags: Uint32Array; anchors: Float32Array }> {
  const per = gen.gridAnchors(sizes);
  const anchors = concatArrays(per);
  const starts = per.map((_, i) => per.slice(0, i).reduce((s, a) => s + a.length / 4, 0));
  const levels = levelTable(
    sizes.map(([h, w], i) => ({
      start: starts[i],
      featH: h,
      featW: w,
      numBase: gen.numBaseAnchors[i],
    })),
  );
  const packed = packTargetInputs({
    gtBboxes: images.map(() => new Float32Array(0)),
    gtLabels: images.map(() => new Int32Array(0)),
    gtBboxesIgnore: images.map((im) => im.ignore ?? null),
    validSizes: images.map((im) =>
      sizes.map(([h, w], i) =>
        [
          Math.min(Math.ceil(im.pad[0] / gen.strides[i][1]), h),
          Math.min(Math.ceil(im.pad[1] / gen.strides[i][0]), w),
        ] as [number, number]
      )
    ),
    imgShapes: images.map((im) => im.img),
  });
  const ta = gpu.upload(anchors, [anchors.length / 4, 4]),
    tl = gpu.upload(levels, [sizes.length, 4], "u32");
  const tp = gpu.upload(packed.data, [packed.data.length], "u32");
  const f = anchorFlags(ta, tl, { data: tp, layout: packed.layout }, opts);
  const flags = await gpu.read(f) as Uint32Array;
  for (const t of [ta, tl, tp, f]) t.release();
  return { flags, anchors };
}

gpuTest(
  "anchorFlags() equals AnchorGenerator.validFlags for each image's pad_shape (spec §2.3)",
  async (gpu) => {
    const gen = new AnchorGenerator(RETINA);
    const sizes: [number, number][] = [[13, 17], [7, 9], [4, 5], [2, 3], [1, 2]];
    const images = [{ pad: [104, 136], img: [100, 130] }, { pad: [72, 128], img: [70, 120] }, {
      pad: [9, 8],
      img: [9, 8],
    }] as { pad: [number, number]; img: [number, number] }[];
    const { flags } = await flagsOf(gpu, gen, sizes, images, {});
    const A = flags.length / images.length;
    images.forEach((im, n) => {
      const expected = concatArrays(gen.validFlags(sizes, im.pad));
      assert.deepEqual(
        Array.from(flags.subarray(n * A, (n + 1) * A)),
        Array.from(expected),
        `image ${n}`,
      );
    });
  },
);

gpuTest(
  "anchorFlags() with allowed_border >= 0 equals anchor_inside_flags on img_shape",
  async (gpu) => {
    const gen = new AnchorGenerator({ ...RETINA, strides: [8, 16] });
    const sizes: [number, number][] = [[6, 8], [3, 4]];
    const images = [{ pad: [48, 64], img: [45, 60] }, { pad: [40, 64], img: [37, 50] }] as {
      pad: [number, number];
      img: [number, number];
    }[];
    for (const border of [0, 7]) {
      const { flags, anchors } = await flagsOf(gpu, gen, sizes, images, { allowedBorder: border });
      const A = anchors.length / 4;
      images.forEach((im, n) => {
        const valid = concatArrays(gen.validFlags(sizes, im.pad));
        const inside = anchorInsideFlags(anchors, valid, {
          imgShape: im.img,
          allowedBorder: border,
        });
        assert.deepEqual(
          Array.from(flags.subarray(n * A, (n + 1) * A)),
          Array.from(inside),
          `border ${border} image ${n}`,
        );
      });
    }
  },
);

gpuTest(
  "anchorFlags() marks anchors whose IoF with an ignore box exceeds ignore_iof_thr",
  async (gpu) => {
    const gen = new AnchorGenerator({ strides: [8], ratios: [1], scales: [2] });
    const sizes: [number, number][] = [[4, 4]];
    const ignore = Float32Array.of(0, 0, 12, 12, 20, 20, 40, 40);
    for (const wrt of [true, false]) {
      const { flags, anchors } = await flagsOf(gpu, gen, sizes, [{
        pad: [32, 32],
        img: [32, 32],
        ignore,
      }], { ignoreIofThr: 0.5, ignoreWrtCandidates: wrt });
      const iof = wrt
        ? iouRef(anchors, ignore, { mode: "iof", f32: true })
        : iouRef(ignore, anchors, { mode: "iof", f32: true });
      const n = anchors.length / 4;
      for (let j = 0; j < n; j++) {
        const best = Math.max(...[0, 1].map((t) => (wrt ? iof[j * 2 + t] : iof[t * n + j])));
        assert.equal(flags[j], best > 0.5 ? 2 : 1, `anchor ${j} wrt candidates ${wrt}`);
      }
      assert.ok(flags.includes(2) && flags.includes(1), "the case must contain both states");
    }
  },
);
