import { assert, assertClose, type FixtureArray, loadFixture } from "../../_assert.ts";
import {
  ANCHOR_GENERATORS,
  AnchorGenerator,
  type FeatmapSize,
  LegacyAnchorGenerator,
  roundHalfEven,
  SSDAnchorGenerator,
} from "../../../lib/core/mod.ts";

const RETINA = {
  type: "AnchorGenerator",
  octave_base_scale: 4,
  scales_per_octave: 3,
  ratios: [0.5, 1.0, 2.0],
  strides: [8, 16, 32, 64, 128],
};

interface AnchorCase {
  name: string;
  cfg: { type: string } & Record<string, unknown>;
  featmap_sizes: FeatmapSize[];
  pad_shape: [number, number];
  base_anchors: FixtureArray[];
  grid_anchors: FixtureArray[];
  valid_flags: FixtureArray[];
}

Deno.test("AnchorGenerator equals the float32 anchors of the PyTorch fixture bit for bit", async () => {
  const { cases } = await loadFixture<{ cases: AnchorCase[] }>("core/anchors.json");
  assert.equal(cases.length, 4);
  for (const c of cases) {
    const gen = ANCHOR_GENERATORS.build(c.cfg);
    gen.baseAnchors.forEach((b, l) =>
      assert.deepEqual(Array.from(b), c.base_anchors[l].data, `${c.name} base ${l}`)
    );
    gen.gridAnchors(c.featmap_sizes).forEach((g, l) =>
      assert.deepEqual(Array.from(g), c.grid_anchors[l].data, `${c.name} grid ${l}`)
    );
    gen.validFlags(c.featmap_sizes, c.pad_shape).forEach((v, l) =>
      assert.deepEqual(Array.from(v), c.valid_flags[l].data, `${c.name} valid ${l}`)
    );
  }
});

Deno.test("AnchorGenerator base anchors match the spec §2.3 table (half sizes, 4 decimals)", () => {
  const gen = new AnchorGenerator(RETINA);
  // rows a = 0..8 of the stride-8 column: [half-width, half-height]
  const half8 = [
    [22.6274, 11.3137],
    [28.5088, 14.2544],
    [35.9188, 17.9594],
    [16, 16],
    [20.1587, 20.1587],
    [25.3984, 25.3984],
    [11.3137, 22.6274],
    [14.2544, 28.5088],
    [17.9594, 35.9188],
  ];
  for (let l = 0; l < 5; l++) {
    const k = 2 ** l; // strides 16, 32, … are ×2, ×4, … of stride 8
    const expected = half8.flatMap(([hw, hh]) => [-hw * k, -hh * k, hw * k, hh * k]);
    assertClose(gen.baseAnchors[l], expected, {
      rtol: 0,
      atol: 5e-5 * k + 1e-9,
      msg: `level ${l}`,
    });
  }
  assert.deepEqual(Array.from(gen.scales), [
    4,
    Math.fround(4 * 2 ** (1 / 3)),
    Math.fround(4 * 2 ** (2 / 3)),
  ]);
  assert.deepEqual(gen.numBaseAnchors, [9, 9, 9, 9, 9]);
  assert.equal(gen.numLevels, 5);
});

Deno.test("AnchorGenerator reproduces mmdetection's unit-test values (test_retina_anchor, test_strides)", () => {
  const gen = new AnchorGenerator(RETINA);
  // mmdet tests/test_utils/test_anchor.py: level 3 (stride 64), rows 0, 4 and 8 (allclose)
  assertClose(gen.baseAnchors[3].subarray(0, 4), [-181.0193, -90.5097, 181.0193, 90.5097], {
    rtol: 1e-5,
  });
  assertClose(gen.baseAnchors[3].subarray(16, 20), [-161.2699, -161.2699, 161.2699, 161.2699], {
    rtol: 1e-5,
  });
  assertClose(gen.baseAnchors[4].subarray(32, 36), [-287.3503, -574.7006, 287.3503, 574.7006], {
    rtol: 1e-5,
  });
  const sizes: FeatmapSize[] = [[80, 80], [40, 40], [20, 20], [10, 10], [5, 5]];
  const valid = gen.validFlags(sizes, [640, 640]).map((v) => v.reduce((s, x) => s + x, 0));
  assert.deepEqual(valid, [57600, 14400, 3600, 900, 225]);
  // square and non-square strides
  const sq = new AnchorGenerator({ strides: [10], ratios: [1], scales: [1], base_sizes: [10] });
  assert.deepEqual(Array.from(sq.gridAnchors([[2, 2]])[0]), [
    -5,
    -5,
    5,
    5,
    5,
    -5,
    15,
    5,
    -5,
    5,
    5,
    15,
    5,
    5,
    15,
    15,
  ]);
  const rect = new AnchorGenerator({
    strides: [[10, 20]],
    ratios: [1],
    scales: [1],
    base_sizes: [10],
  });
  assert.deepEqual(Array.from(rect.gridAnchors([[2, 2]])[0]), [
    -5,
    -5,
    5,
    5,
    5,
    -5,
    15,
    5,
    -5,
    15,
    5,
    25,
    5,
    15,
    15,
    25,
  ]);
  // docstring example: base size 9, stride 16
  const doc = new AnchorGenerator({ strides: [16], ratios: [1], scales: [1], base_sizes: [9] });
  assert.deepEqual(
    Array.from(doc.gridAnchors([[2, 2]])[0]),
    [-4.5, -4.5, 4.5, 4.5, 11.5, -4.5, 20.5, 4.5, -4.5, 11.5, 4.5, 20.5, 11.5, 11.5, 20.5, 20.5],
  );
});

Deno.test("AnchorGenerator gives 201,600 anchors for an 800×1344 padded image", () => {
  const gen = new AnchorGenerator(RETINA);
  const sizes: FeatmapSize[] = [[100, 168], [50, 84], [25, 42], [13, 21], [7, 11]];
  const anchors = gen.gridAnchors(sizes);
  assert.equal(anchors.reduce((s, a) => s + a.length / 4, 0), 201600);
  // flattening order (y·W + x)·A + a: anchor 9·(168 + 1) + 3 is the square one of cell (1, 1)
  assert.deepEqual(Array.from(anchors[0].subarray((169 * 9 + 3) * 4, (169 * 9 + 4) * 4)), [
    -8,
    -8,
    24,
    24,
  ]);
  assert.equal(gen.gridAnchors(sizes)[0], anchors[0], "anchors are cached per feature-map size");
  const flags = gen.validFlags(sizes, [800, 1344]);
  assert.equal(flags.reduce((s, f) => s + f.reduce((a, b) => a + b, 0), 0), 201600);
});

Deno.test("AnchorGenerator.validFlags() marks cells beyond ceil(pad / stride) invalid for all A anchors", () => {
  const gen = new AnchorGenerator({ strides: [8], ratios: [0.5, 1, 2], scales: [4] });
  const [flags] = gen.validFlags([[4, 5]], [17, 24]); // valid 3 × 3 of 4 × 5
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 5; x++) {
      for (let a = 0; a < 3; a++) assert.equal(flags[(y * 5 + x) * 3 + a], y < 3 && x < 3 ? 1 : 0);
    }
  }
  // a pad shape larger than the feature map is capped at the feature map
  assert.equal(gen.validFlags([[2, 2]], [100, 100])[0].reduce((s, v) => s + v, 0), 12);
});

Deno.test("LegacyAnchorGenerator rounds v1 corners and centres at center_offset·(s − 1)", () => {
  const doc = new LegacyAnchorGenerator({
    strides: [16],
    ratios: [1],
    scales: [1],
    base_sizes: [9],
    center_offset: 0.5,
  });
  assert.deepEqual(Array.from(doc.gridAnchors([[2, 2]])[0]), [
    0,
    0,
    8,
    8,
    16,
    0,
    24,
    8,
    0,
    16,
    8,
    24,
    16,
    16,
    24,
    24,
  ]);
  assert.deepEqual([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.2].map(roundHalfEven), [
    -2,
    -2,
    -0,
    0,
    2,
    2,
    3,
  ]);
});

Deno.test("SSDAnchorGenerator reproduces mmdetection's SSD300 unit-test values", () => {
  const gen = new SSDAnchorGenerator({
    scale_major: false,
    input_size: 300,
    basesize_ratio_range: [0.15, 0.9],
    strides: [8, 16, 32, 64, 100, 300],
    ratios: [[2], [2, 3], [2, 3], [2, 3], [2], [2]],
  });
  assert.deepEqual(gen.numBaseAnchors, [4, 6, 6, 6, 4, 4]);
  assertClose(gen.baseAnchors[0], [
    -6.5,
    -6.5,
    14.5,
    14.5,
    -11.3704,
    -11.3704,
    19.3704,
    19.3704,
    -10.8492,
    -3.4246,
    18.8492,
    11.4246,
    -3.4246,
    -10.8492,
    11.4246,
    18.8492,
  ], { rtol: 1e-5, atol: 1e-4 });
  assertClose(gen.baseAnchors[5], [
    19.5,
    19.5,
    280.5,
    280.5,
    6.6342,
    6.6342,
    293.3658,
    293.3658,
    -34.5549,
    57.7226,
    334.5549,
    242.2774,
    57.7226,
    -34.5549,
    242.2774,
    334.5549,
  ], { rtol: 1e-5, atol: 1e-4 });
  const sizes: FeatmapSize[] = [[38, 38], [19, 19], [10, 10], [5, 5], [3, 3], [1, 1]];
  const counts = gen.validFlags(sizes, [300, 300]).map((v) => v.reduce((s, x) => s + x, 0));
  assert.deepEqual(counts, [5776, 2166, 600, 150, 36, 4]);
});

Deno.test("AnchorGenerator rejects inconsistent configs with the key in the message", () => {
  assert.throws(
    () => new AnchorGenerator({ strides: [8], ratios: [1] }),
    /"scales" or both "octave_base_scale"/,
  );
  assert.throws(
    () =>
      new AnchorGenerator({
        strides: [8],
        ratios: [1],
        scales: [1],
        octave_base_scale: 4,
        scales_per_octave: 3,
      }),
    RangeError,
  );
  assert.throws(
    () => new AnchorGenerator({ strides: [8], ratios: [1], scales: [1], center_offset: 2 }),
    /center_offset/,
  );
  assert.throws(
    () => new AnchorGenerator({ strides: [8, 16], ratios: [1], scales: [1], base_sizes: [8] }),
    /base_sizes/,
  );
  const gen = new AnchorGenerator({ strides: [8, 16], ratios: [1], scales: [1] });
  assert.throws(() => gen.gridAnchors([[2, 2]]), /expected 2 feature-map sizes, got 1/);
  assert.throws(
    () => ANCHOR_GENERATORS.build({ type: "AnchorGenerater" }),
    /did you mean "AnchorGenerator"/,
  );
});
