import { gpuTest } from "../_gpu.ts";
import { gradcheck } from "../_gradcheck.ts";
import {
  affineChannel,
  batchNorm2d,
  conv2d,
  groupNorm,
  interpolateNearest,
  maxPool2d,
} from "../../lib/autograd/cnn.ts";
import { Tensor } from "../../lib/autograd/tensor.ts";
import * as R from "../_reference/conv_ref.ts";

function size(s: number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

// Tiny cases only: finite differences run the float64 reference twice per input element.
const convCases: { xs: number[]; ws: number[]; o: R.RefConvOpts; bias: boolean }[] = [
  { xs: [2, 2, 5, 4], ws: [3, 2, 3, 3], o: { padding: [1, 1] }, bias: true },
  {
    xs: [1, 2, 6, 5],
    ws: [2, 2, 3, 3],
    o: { stride: [2, 2], padding: [2, 1], dilation: [2, 1] },
    bias: false,
  },
  { xs: [1, 4, 3, 3], ws: [4, 2, 1, 1], o: { groups: 2, stride: [2, 2] }, bias: true },
];

gpuTest(
  "conv2d() gradients for x, w and bias match finite differences of the float64 reference",
  async () => {
    for (const [i, c] of convCases.entries()) {
      await gradcheck(`conv2d case ${i}`, {
        inputs: [
          { shape: c.xs, data: R.randomF32(10 + i, size(c.xs)) },
          { shape: c.ws, data: R.randomF32(20 + i, size(c.ws)) },
          ...(c.bias ? [{ shape: [c.ws[0]], data: R.randomF32(30 + i, c.ws[0]) }] : []),
        ],
        gpu: ([x, w, b]) =>
          conv2d(x, w, b ?? null, {
            stride: c.o.stride,
            padding: c.o.padding,
            dilation: c.o.dilation,
            groups: c.o.groups,
          }),
        ref: ([x, w, b]) => R.conv2dRef(x, c.xs, w, c.ws, b ?? null, c.o).y,
      });
    }
  },
);

gpuTest("conv2d() with fused ReLU back-propagates through the activation", async () => {
  const xs = [1, 2, 4, 4], ws = [3, 2, 3, 3];
  // shift the bias so that no pre-activation sits near the kink at 0
  await gradcheck("conv2d relu", {
    inputs: [
      { shape: xs, data: R.randomF32(41, size(xs)) },
      { shape: ws, data: R.randomF32(42, size(ws)) },
      { shape: [3], data: Float32Array.from([0.3, -0.2, 0.1]) },
    ],
    gpu: ([x, w, b]) => conv2d(x, w, b, { padding: 1, act: "relu" }),
    ref: ([x, w, b]) =>
      R.conv2dRef(x, xs, w, ws, b, { padding: [1, 1] }).y.map((v) => Math.max(v, 0)),
    atol: 2e-4,
  });
});

gpuTest(
  "batchNorm2d() in training mode matches finite differences of the float64 reference",
  async () => {
    const xs = [3, 2, 2, 3];
    await gradcheck("batchNorm2d train", {
      inputs: [
        { shape: xs, data: R.randomF32(51, size(xs), -2, 2) },
        { shape: [2], data: Float32Array.from([0.7, 1.3]) },
        { shape: [2], data: Float32Array.from([0.1, -0.4]) },
      ],
      gpu: ([x, w, b]) =>
        batchNorm2d(x, Tensor.zeros([2]), Tensor.zeros([2]), w, b, { training: true }),
      ref: ([x, w, b]) => R.batchNormTrainRef(x, xs, w, b),
      rtol: 2e-3,
      atol: 5e-4,
    });
  },
);

gpuTest(
  "batchNorm2d() with a fused residual and ReLU matches finite differences, the residual included",
  async () => {
    const xs = [3, 2, 2, 3];
    await gradcheck("batchNorm2d residual relu", {
      inputs: [
        { shape: xs, data: R.randomF32(53, size(xs), -2, 2) },
        { shape: [2], data: Float32Array.from([0.7, 1.3]) },
        { shape: [2], data: Float32Array.from([0.1, -0.4]) },
        { shape: xs, data: R.randomF32(54, size(xs), -1, 1) },
      ],
      gpu: ([x, w, b, r]) =>
        batchNorm2d(x, Tensor.zeros([2]), Tensor.zeros([2]), w, b, {
          training: true,
          act: "relu",
          residual: r,
        }),
      ref: ([x, w, b, r]) => R.batchNormTrainRef(x, xs, w, b).map((v, i) => Math.max(v + r[i], 0)),
      rtol: 2e-3,
      atol: 5e-4,
    });
  },
);

gpuTest("groupNorm() matches finite differences of the float64 reference", async () => {
  const xs = [2, 4, 2, 2];
  await gradcheck("groupNorm", {
    inputs: [
      { shape: xs, data: R.randomF32(61, size(xs), -2, 2) },
      { shape: [4], data: Float32Array.from([0.7, 1.3, 1, 0.5]) },
      { shape: [4], data: Float32Array.from([0.1, -0.4, 0, 0.2]) },
    ],
    gpu: ([x, w, b]) => groupNorm(x, 2, w, b),
    ref: ([x, w, b]) => R.groupNormRef(x, xs, 2, w, b),
    rtol: 2e-3,
    atol: 5e-4,
  });
});

gpuTest(
  "maxPool2d() and interpolateNearest() match finite differences of the float64 references",
  async () => {
    const xs = [1, 2, 5, 5];
    await gradcheck("maxPool2d", {
      inputs: [{ shape: xs, data: R.randomF32(71, size(xs)) }],
      gpu: ([x]) => maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }),
      ref: ([x]) => R.maxPool2dRef(x, xs, 3, 2, 1).y,
    });
    const is = [1, 2, 3, 2];
    await gradcheck("interpolateNearest", {
      inputs: [{ shape: is, data: R.randomF32(72, size(is)) }],
      gpu: ([x]) => interpolateNearest(x, { size: [5, 4] }),
      ref: ([x]) => R.interpolateNearestRef(x, is, 5, 4),
    });
  },
);

gpuTest(
  "affineChannel() gradients for x, scale and shift match finite differences, with and without ReLU",
  async () => {
    const xs = [2, 3, 2, 2];
    for (const relu of [false, true]) {
      await gradcheck(`affineChannel relu=${relu}`, {
        inputs: [
          {
            shape: xs,
            data: R.randomF32(81, size(xs)).map((v) => (Math.abs(v) < 0.05 ? v + 0.1 : v)),
          },
          { shape: [3], data: Float32Array.from([0.5, -1.5, 2]) },
          { shape: [3], data: Float32Array.from([0.013, -0.021, 0.017]) },
        ],
        gpu: ([x, s, t]) => affineChannel(x, s, t, { act: relu ? "relu" : "none" }),
        ref: ([x, s, t]) => R.affineChannelRef(x, xs, s, t, relu),
      });
    }
  },
);
