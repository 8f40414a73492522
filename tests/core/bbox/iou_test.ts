import { assert, assertClose, type FixtureArray, loadFixture } from "../../_assert.ts";
import { bboxOverlaps, IOU_CALCULATORS } from "../../../lib/core/mod.ts";
import { iouRef } from "../../_reference/iou_ref.ts";
import { generalizedBoxIouRef } from "../../_reference/giou_ref.ts";
import { Rng } from "../../_reference/rng.ts";

type F = Record<string, FixtureArray>;
const f32 = (a: FixtureArray) => Float32Array.from(a.data);

Deno.test("bboxOverlaps() equals mmdetection's float32 IoU/IoF/GIoU on the fixture exactly", async () => {
  const fx = await loadFixture<F>("core/iou.json");
  const a = f32(fx.a), b = f32(fx.b);
  assert.deepEqual(Array.from(bboxOverlaps(a, b)), fx.mmdet_iou.data);
  assert.deepEqual(Array.from(bboxOverlaps(a, b, { mode: "iof" })), fx.mmdet_iof.data);
  assert.deepEqual(Array.from(bboxOverlaps(a, b, { mode: "giou" })), fx.mmdet_giou.data);
  const aa = f32(fx.aligned_a), ab = f32(fx.aligned_b);
  assert.deepEqual(
    Array.from(bboxOverlaps(aa, ab, { isAligned: true })),
    fx.mmdet_aligned_iou.data,
  );
  assert.deepEqual(
    Array.from(bboxOverlaps(aa, ab, { mode: "giou", isAligned: true })),
    fx.mmdet_aligned_giou.data,
  );
});

Deno.test("bboxOverlaps() matches torchvision box_iou and generalized_box_iou where their unions are non-empty", async () => {
  const fx = await loadFixture<F>("core/iou.json");
  const a = f32(fx.a), b = f32(fx.b);
  const ours = bboxOverlaps(a, b), giou = bboxOverlaps(a, b, { mode: "giou" });
  let compared = 0;
  fx.box_iou.data.forEach((tv, k) => {
    if (tv === null || !Number.isFinite(tv)) return; // 0/0 in torchvision; eps gives 0 here
    assertClose(ours[k], tv, { rtol: 1e-6, atol: 1e-7, msg: `iou ${k}` });
    assertClose(giou[k], fx.generalized_box_iou.data[k], {
      rtol: 1e-5,
      atol: 1e-6,
      msg: `giou ${k}`,
    });
    compared++;
  });
  assert.ok(compared > 150, `compared ${compared} pairs`);
  assertClose(
    generalizedBoxIouRef(a, b).filter(Number.isFinite),
    fx.generalized_box_iou.data.filter(Number.isFinite),
    {
      rtol: 1e-5,
      atol: 1e-6,
    },
  );
});

Deno.test("bboxOverlaps() gives hand-derived values, handles empty inputs and degenerate boxes", () => {
  const a = Float32Array.of(0, 0, 10, 10),
    b = Float32Array.of(5, 0, 15, 10, 0, 0, 10, 10, 20, 20, 30, 30);
  assert.deepEqual(Array.from(bboxOverlaps(a, b)), [Math.fround(50 / 150), 1, 0]);
  assert.deepEqual(Array.from(bboxOverlaps(a, b, { mode: "iof" })), [0.5, 1, 0]);
  // two unit squares sharing a quarter: 0.25 / (2 − 0.25)
  const q = bboxOverlaps(Float32Array.of(0, 0, 1, 1), Float32Array.of(0.5, 0.5, 1.5, 1.5));
  assert.equal(q[0], Math.fround(0.25 / 1.75));
  // GIoU of disjoint boxes: 0 − (enclosing − union) / enclosing
  assert.equal(
    bboxOverlaps(a, Float32Array.of(20, 0, 30, 10), { mode: "giou" })[0],
    Math.fround(-100 / 300),
  );
  assert.equal(bboxOverlaps(new Float32Array(0), b).length, 0);
  assert.equal(bboxOverlaps(a, new Float32Array(0)).length, 0);
  const zero = Float32Array.of(3, 3, 3, 3);
  assert.deepEqual(
    Array.from(bboxOverlaps(zero, zero)),
    [0],
    "zero-area boxes: union clamped at eps, no NaN",
  );
  assert.throws(() => bboxOverlaps(a, b, { isAligned: true }), /1 boxes in "a" but 3 in "b"/);
  assert.throws(() => bboxOverlaps(a, b, { mode: "dice" as "iou" }), RangeError);
  assert.throws(() => bboxOverlaps(Float32Array.of(1, 2, 3), b), TypeError);
  const calc = IOU_CALCULATORS.build({ type: "BboxOverlaps2D" });
  assert.deepEqual(calc.call(a, b), bboxOverlaps(a, b));
});

Deno.test("bboxOverlaps() equals the float32 reference on random boxes of every mode", () => {
  const rng = new Rng(11);
  for (let t = 0; t < 50; t++) {
    const a = rng.boxes(rng.int(1, 12), { grid: t % 2 ? 2 : 0, minWh: 0 }),
      b = rng.boxes(rng.int(1, 12), { minWh: 0 });
    for (const mode of ["iou", "iof", "giou"] as const) {
      assert.deepEqual(
        Array.from(bboxOverlaps(a, b, { mode })),
        Array.from(iouRef(a, b, { mode, f32: true })),
      );
      assertClose(bboxOverlaps(a, b, { mode }), iouRef(a, b, { mode }), { rtol: 1e-5, atol: 1e-6 });
    }
  }
});
