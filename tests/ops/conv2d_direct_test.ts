/**
 * The direct kernels' staging paths that the small PyTorch fixtures do not reach: several uniform
 * windows per dispatch and more windows than one dispatch reads, packed windows, more stride phases
 * than one dispatch runs, and phases no tap reaches. The oracle is a plain float64 convolution in
 * JavaScript, itself first checked against a PyTorch fixture case.
 */
import { assert, type FixtureArray, loadFixture } from "../_assert.ts";
import { closeTo } from "./_close.ts";
import { gpuTest } from "../_gpu.ts";
import * as cv from "../../lib/ops/conv2d.ts";
import { inPlaceWindowBytes } from "../../lib/gpu/runtime.ts";

interface Geo {
  x: number[];
  w: number[];
  stride: number;
  padding: number;
}

/** y, dL/dx and dL/dw of y = conv2d(x, w) (groups 1, dilation 1) for the upstream gradient gy. */
function reference(g: Geo, x: Float32Array, w: Float32Array, gy: Float32Array) {
  const [n, c, h, wd] = g.x, [o, , kh, kw] = g.w, s = g.stride, p = g.padding;
  const oh = Math.floor((h + 2 * p - kh) / s) + 1, ow = Math.floor((wd + 2 * p - kw) / s) + 1;
  const y = new Float64Array(n * o * oh * ow), gx = new Float64Array(x.length);
  const gw = new Float64Array(w.length);
  for (let b = 0; b < n; b++) {
    for (let oc = 0; oc < o; oc++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const yi = ((b * o + oc) * oh + oy) * ow + ox;
          let acc = 0;
          for (let ic = 0; ic < c; ic++) {
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * s - p + ky;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * s - p + kx;
                if (ix < 0 || ix >= wd) continue;
                const xi = ((b * c + ic) * h + iy) * wd + ix,
                  wi = ((oc * c + ic) * kh + ky) * kw + kx;
                acc += x[xi] * w[wi];
                gx[xi] += gy[yi] * w[wi];
                gw[wi] += gy[yi] * x[xi];
              }
            }
          }
          y[yi] = acc;
        }
      }
    }
  }
  return { y, gx, gw, yShape: [n, o, oh, ow] };
}

function random(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Random x, w and output gradient for `g` (seeds `seed`, +1, +2) and their float64 reference. */
function problem(g: Geo, seed: number) {
  const xh = random(size(g.x), seed), wh = random(size(g.w), seed + 1);
  const oh = Math.floor((g.x[2] + 2 * g.padding - g.w[2]) / g.stride) + 1;
  const ow = Math.floor((g.x[3] + 2 * g.padding - g.w[3]) / g.stride) + 1;
  const gyShape = [g.x[0], g.w[0], oh, ow];
  const gyh = random(size(gyShape), seed + 2);
  return { xh, wh, gyShape, gyh, r: reference(g, xh, wh, gyh) };
}

gpuTest("the float64 reference convolution agrees with PyTorch (fixture k3_s2_odd)", async () => {
  const fx = await loadFixture<
    {
      cases: {
        name: string;
        opts: { stride: number; padding: number };
        arrays: Record<string, FixtureArray>;
      }[];
    }
  >("ops/conv2d.json");
  const c = fx.cases.find((k) => k.name === "k3_s2_odd")!;
  const A = c.arrays;
  const r = reference(
    { x: A.x.shape, w: A.w.shape, stride: c.opts.stride, padding: c.opts.padding },
    Float32Array.from(A.x.data),
    Float32Array.from(A.w.data),
    Float32Array.from(A.gy.data),
  );
  // the case has a bias and a ReLU: the forward adds both; the gradients flow through the ReLU's
  // mask, as autograd applied it
  const yb = A.y.data;
  const hw = A.y.shape[2] * A.y.shape[3];
  const mask = Float32Array.from(A.gy.data, (v, i) => (yb[i] > 0 ? v : 0));
  const r2 = reference(
    { x: A.x.shape, w: A.w.shape, stride: c.opts.stride, padding: c.opts.padding },
    Float32Array.from(A.x.data),
    Float32Array.from(A.w.data),
    mask,
  );
  closeTo(r2.gw, A.gw, "reference grad w");
  closeTo(r2.gx, A.gx, "reference grad x");
  const withBias = r.y.map((v, i) => Math.max(v + A.b.data[Math.floor(i / hw) % A.b.shape[0]], 0));
  closeTo(withBias, A.y, "reference forward");
});

const CASES: { name: string; geo: Geo }[] = [
  // 360 weights per output channel: 45 channels per 64 KiB window, 2 windows in one dispatch;
  // the forward pass needs 2 channel groups
  {
    name: "two windows (3×3, 40→48)",
    geo: { x: [2, 40, 5, 6], w: [48, 40, 3, 3], stride: 1, padding: 1 },
  },
  // 4100 weights per output channel: 3 per window, 7 windows = 2 dispatches (4 + 3, accumulated);
  // the forward pass reads packed windows (K = 4100)
  {
    name: "seven windows (1×1, 4100→20)",
    geo: { x: [1, 4100, 2, 3], w: [20, 4100, 1, 1], stride: 1, padding: 0 },
  },
  // a row of A is larger than a window: packed windows in every pass
  {
    name: "packed windows (1×1, 16400→4)",
    geo: { x: [1, 16400, 1, 2], w: [4, 16400, 1, 1], stride: 1, padding: 0 },
  },
  // packed forward windows of 1024 channels × 16 taps: 2 channel groups of 132 K chunks each
  // (accumulated)
  {
    name: "packed windows, two channel groups (1×1, 2100→1040)",
    geo: { x: [1, 2100, 1, 2], w: [1040, 2100, 1, 1], stride: 1, padding: 0 },
  },
  // filter gradient: 3200 pixels × 40 channels = 8 windows of 408 pixels, 2 dispatches of 4
  // (accumulated); 6 input channels: a thread's columns are consecutive (not one tap of TN
  // channels) for TN = 8 and 16
  {
    name: "eight filter-gradient windows (3×3, 6→40)",
    geo: { x: [2, 6, 40, 40], w: [40, 6, 3, 3], stride: 1, padding: 1 },
  },
  // filter gradient with rows of 3 taps on 16 channels: 2 windows (1,152 pixels of 16 channels)
  // in one dispatch, and 6 windows (5,600 pixels) = a dispatch of 4 and one of 2 (accumulated)
  {
    name: "two filter-gradient windows (3×3, 16→16)",
    geo: { x: [2, 16, 24, 24], w: [16, 16, 3, 3], stride: 1, padding: 1 },
  },
  {
    name: "six filter-gradient windows (3×3, 16→16)",
    geo: { x: [2, 16, 40, 70], w: [16, 16, 3, 3], stride: 1, padding: 1 },
  },
  // stride 3: 9 phases = 3 dispatches of up to 4
  {
    name: "nine stride phases (3×3/3)",
    geo: { x: [2, 5, 10, 11], w: [6, 5, 3, 3], stride: 3, padding: 1 },
  },
  // stride 2 on a 1-row input: the odd-row phases are empty; 1×1/2: phases no tap reaches
  {
    name: "empty phases (3×3/2 on 1×5)",
    geo: { x: [1, 3, 1, 5], w: [4, 3, 3, 3], stride: 2, padding: 1 },
  },
  {
    name: "untouched phases (1×1/2)",
    geo: { x: [2, 6, 5, 7], w: [4, 6, 1, 1], stride: 2, padding: 0 },
  },
];

gpuTest(
  "direct conv2d variants match a float64 reference on multi-window, packed and multi-phase shapes",
  async (gpu) => {
    const variants = ["d8x8w32m", "d4x8w8ms", "d16x8w16m", "d8x16w32m", "d4x4w8us", "d8x8w8u"];
    for (const c of CASES) {
      const g = c.geo;
      const { xh, wh, gyShape, gyh, r } = problem(g, 1);
      assert.deepEqual(r.yShape, gyShape);
      for (const variant of variants) {
        gpu.beginScope();
        const x = gpu.upload(xh, g.x), w = gpu.upload(wh, g.w), gy = gpu.upload(gyh, gyShape);
        const o = { stride: g.stride, padding: g.padding, variant };
        const [y, gx, gw] = await gpu.readMany([
          cv.conv2dForward(x, w, null, o),
          cv.conv2dBackwardData(gy, w, g.x, o),
          cv.conv2dBackwardFilter(gy, x, g.w, o),
        ]);
        closeTo(y, { data: r.y }, `${c.name} ${variant} forward`);
        closeTo(gx, { data: r.gx }, `${c.name} ${variant} backward data`);
        closeTo(gw, { data: r.gw }, `${c.name} ${variant} backward filter`);
        gpu.endScope();
      }
    }
  },
);

// Weights with 64 KiB of room past every row (Conv2d's weights) are read in place: no staging
// copy, the same numbers as the staged windows. The shapes need several windows per pass, and
// rows whose floats do not keep a window start on the 256-byte offset alignment (K = 147, 144).
const IN_PLACE: { name: string; geo: Geo }[] = [
  {
    name: "3×3, 40→48 (forward 2 groups, backward-data 2 windows)",
    geo: { x: [2, 40, 5, 6], w: [48, 40, 3, 3], stride: 1, padding: 1 },
  },
  {
    name: "7×7/2, 3→120 (K = 147: 111 rows per window, 64 kept)",
    geo: { x: [1, 3, 9, 9], w: [120, 3, 7, 7], stride: 2, padding: 3 },
  },
  {
    name: "3×3, 16→130 (K = 144: 113 channels per backward-data window, 112 kept)",
    geo: { x: [1, 16, 4, 5], w: [130, 16, 3, 3], stride: 1, padding: 1 },
  },
  // K = 576: 24 channels per window, 6 channel groups
  {
    name: "3×3, 64→136 (forward 6 groups)",
    geo: { x: [1, 64, 3, 4], w: [136, 64, 3, 3], stride: 1, padding: 1 },
  },
  // 11.5 KB of weights: unpadded, its 16 KiB buffer cannot hold a window, so it is staged
  {
    name: "3×3, 16→20 (one window)",
    geo: { x: [2, 16, 6, 5], w: [20, 16, 3, 3], stride: 1, padding: 1 },
  },
];

gpuTest(
  "direct conv2d reads padded weights in place (no staging copies) with the staged results",
  async (gpu) => {
    for (const c of IN_PLACE) {
      const g = c.geo;
      const { xh, wh, gyShape, gyh, r } = problem(g, 4);
      for (const variant of ["d8x8w32m", "d4x8w8ms", "d16x8w16m"]) {
        for (const padded of [true, false]) {
          gpu.beginScope();
          const x = gpu.upload(xh, g.x), gy = gpu.upload(gyh, gyShape);
          // padded as Conv2d allocates it, or in a buffer of the weight's own size bucket (staged
          // where the bucket is shorter than a window)
          const w = gpu.upload(wh, g.w, "f32", "w", padded ? inPlaceWindowBytes(wh.length) : 0);
          const o = { stride: g.stride, padding: g.padding, variant };
          const before = gpu.stats().copies;
          const y = cv.conv2dForward(x, w, null, o);
          const gx = cv.conv2dBackwardData(gy, w, g.x, o);
          const copies = gpu.stats().copies - before;
          const [yh, gxh] = await gpu.readMany([y, gx]);
          const what = `${c.name} ${variant} ${padded ? "padded" : "unpadded"}`;
          if (padded) assert.equal(copies, 0, `${what}: staging copies`);
          // (the ssbo variants, "…s", read A from its storage buffer: never staged)
          else if (wh.length * 4 <= 32768 && !variant.endsWith("s")) {
            assert.ok(copies > 0, `${what}: staging copies`);
          }
          closeTo(yh, { data: r.y }, `${what} forward`);
          closeTo(gxh, { data: r.gx }, `${what} backward data`);
          gpu.endScope();
        }
      }
    }
  },
);
