/**
 * Convolution throughput on RetinaNet's shapes (ResNet-50 stem and stages, FPN lateral/output
 * convs, the head's 3×3 256→256 at P3–P7): forward, backward data and backward filter in GFLOP/s,
 * with `@tensorflow/tfjs-backend-webgpu` (NHWC, as it expects) measured in the same run on the same
 * adapter. Shapes are scaled down (batch 1, small maps, fewer channels) on a fallback adapter.
 *
 * GPU time is measured between two idle points (`flush` + `onSubmittedWorkDone`) around repeated
 * dispatches after a warm-up that compiles the pipelines.
 *
 * @module
 */
// deno-lint-ignore-file no-explicit-any
// deno-lint-ignore no-import-prefix
import * as tf from "npm:@tensorflow/tfjs-core@4.22.0";
// deno-lint-ignore no-import-prefix
import "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";
import { getGpu, initGpu, inPlaceWindowBytes } from "../lib/gpu/runtime.ts";
import type { RawTensor } from "../lib/gpu/raw_tensor.ts";
import * as cv from "../lib/ops/conv2d.ts";
import type { BenchRecord } from "./_types.ts";
import { runTorchPeer } from "./_peer.ts";
import { parseCli } from "../tools/_args.ts";

/** One benchmarked convolution: NCHW input, OIHW weight. */
export interface ConvShape {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride: number;
  padding: number;
}

/** RetinaNet R-50-FPN at 800×1216, batch 2 (full) — the shapes a training step runs. */
export function fullShapes(): ConvShape[] {
  const s = (
    name: string,
    n: number,
    c: number,
    h: number,
    w: number,
    o: number,
    k: number,
    stride: number,
  ): ConvShape => ({
    name,
    x: [n, c, h, w],
    w: [o, c, k, k],
    stride,
    padding: (k - 1) >> 1,
  });
  return [
    s("stem 7x7/2 3->64", 2, 3, 800, 1216, 64, 7, 2),
    s("layer1 3x3 64->64", 2, 64, 200, 304, 64, 3, 1),
    s("layer1 1x1 64->256", 2, 64, 200, 304, 256, 1, 1),
    s("layer2 3x3/2 128->128", 2, 128, 200, 304, 128, 3, 2),
    s("layer2 1x1 512->128", 2, 512, 100, 152, 128, 1, 1),
    s("layer3 3x3 256->256", 2, 256, 50, 76, 256, 3, 1),
    s("layer3 1x1/2 512->1024", 2, 512, 100, 152, 1024, 1, 2),
    s("layer4 3x3 512->512", 2, 512, 25, 38, 512, 3, 1),
    s("fpn lateral 1x1 2048->256", 2, 2048, 25, 38, 256, 1, 1),
    s("fpn output 3x3 256->256 P3", 2, 256, 100, 152, 256, 3, 1),
    s("head 3x3 256->256 P3", 2, 256, 100, 152, 256, 3, 1),
    s("head 3x3 256->256 P4", 2, 256, 50, 76, 256, 3, 1),
    s("head 3x3 256->256 P5", 2, 256, 25, 38, 256, 3, 1),
    s("head 3x3 256->256 P6", 2, 256, 13, 19, 256, 3, 1),
    s("head 3x3 256->256 P7", 2, 256, 7, 10, 256, 3, 1),
  ];
}

/** The same layers scaled down for a software adapter (~1 GFLOP/s): batch 1, maps /8–/16, channels /4. */
export function fallbackShapes(): ConvShape[] {
  const s = (
    name: string,
    c: number,
    h: number,
    w: number,
    o: number,
    k: number,
    stride: number,
  ): ConvShape => ({
    name,
    x: [1, c, h, w],
    w: [o, c, k, k],
    stride,
    padding: (k - 1) >> 1,
  });
  return [
    s("stem 7x7/2 3->16 (64x64)", 3, 64, 64, 16, 7, 2),
    s("layer1 3x3 16->16 (32x32)", 16, 32, 32, 16, 3, 1),
    s("layer1 1x1 16->64 (32x32)", 16, 32, 32, 64, 1, 1),
    s("layer2 3x3/2 32->32 (32x32)", 32, 32, 32, 32, 3, 2),
    s("layer3 3x3 64->64 (8x8)", 64, 8, 8, 64, 3, 1),
    s("layer3 1x1/2 128->256 (16x16)", 128, 16, 16, 256, 1, 2),
    s("fpn lateral 1x1 512->64 (4x4)", 512, 4, 4, 64, 1, 1),
    s("head 3x3 64->64 P3 (16x16)", 64, 16, 16, 64, 3, 1),
    s("head 3x3 64->64 P5 (4x4)", 64, 4, 4, 64, 3, 1),
    s("head 3x3 64->64 P7 (1x1)", 64, 1, 1, 64, 3, 1),
  ];
}

/** `n` pseudo-random values in [-0.5, 0.5) from a seeded LCG (the same data every run). */
export function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

function flopsOf(sh: ConvShape): number {
  const [n, , h, w] = sh.x;
  const [o, c, k] = sh.w;
  const oh = Math.floor((h + 2 * sh.padding - k) / sh.stride) + 1,
    ow = Math.floor((w + 2 * sh.padding - k) / sh.stride) + 1;
  return 2 * n * o * oh * ow * c * k * k;
}

/**
 * Ms per call of `fn` between two GPU idle points after a warm-up (pipeline compiles): the best of
 * three batches sized as in {@linkcode timeInterleaved} (shared machines are noisy).
 */
export async function timeIt(
  fn: () => void,
  sync: () => Promise<void>,
  minMs: number,
): Promise<number> {
  return (await timeInterleaved([{ fn, sync }], minMs, 2))[0];
}

/** A timed function and the wait for its GPU work. */
export interface Timed {
  fn: () => void;
  sync: () => Promise<void>;
}

/**
 * Ms per call of each of `items`, measured in alternation: after a warm-up and a batch size per
 * item (back-to-back calls between two idle points, grown until a batch lasts `minMs / 3` and has
 * at least 4 calls), the
 * items take turns for `rounds` rounds of one batch each and each keeps its best batch. On a
 * shared machine a burst of load then hits both sides of a comparison alike.
 */
export async function timeInterleaved(
  items: readonly Timed[],
  minMs: number,
  rounds = 3,
): Promise<number[]> {
  const reps: number[] = [], best: number[] = [];
  const batch = async (it: Timed, n: number) => {
    const t0 = performance.now();
    for (let r = 0; r < n; r++) it.fn();
    await it.sync();
    return performance.now() - t0;
  };
  for (const it of items) {
    it.fn();
    await it.sync();
    let n = 1;
    for (;;) {
      const t = await batch(it, n);
      // at least 4 calls: one slow first batch (a hiccup) must not fix the size at 1, where the
      // ~10 ms synchronisation would be counted once per call
      if ((t >= minMs / 3 && n >= 4) || n >= 4096) {
        best.push(t / n);
        break;
      }
      n = Math.min(4096, Math.max(n * 2, Math.ceil((n * minMs) / 3 / Math.max(t, 1e-3))));
    }
    reps.push(n);
  }
  for (let r = 0; r < rounds; r++) {
    for (const [i, it] of items.entries()) {
      best[i] = Math.min(best[i], (await batch(it, reps[i])) / reps[i]);
    }
  }
  return best;
}

type Pass = "forward" | "backwardData" | "backwardFilter";
const TF_NAME: Record<Pass, string> = {
  forward: "conv2d",
  backwardData: "conv2DBackpropInput",
  backwardFilter: "conv2DBackpropFilter",
};

/** Our three passes on one shape as timed closures, and a release of their inputs. */
export function oursTimed(
  sh: ConvShape,
  variant?: Record<Pass, string | undefined>,
): { passes: Record<Pass, Timed>; release: () => void } {
  const gpu = getGpu();
  const geo = { stride: sh.stride, padding: sh.padding };
  const g = cv.conv2dGeometry(sh.x, sh.w, geo);
  const x = gpu.upload(rand(sh.x.reduce((a, b) => a * b), 1), sh.x);
  // padded as Conv2d pads its weights (the direct kernels read them in place)
  const wn = sh.w.reduce((a, b) => a * b);
  const w = gpu.upload(rand(wn, 2), sh.w, "f32", "w", inPlaceWindowBytes(wn));
  const dyShape = [g.batch, g.cout, g.oh, g.ow];
  const dy = gpu.upload(rand(dyShape.reduce((a, b) => a * b), 3), dyShape);
  const sync = () => gpu.sync();
  const run = (f: () => RawTensor) => () => f().release();
  return {
    passes: {
      forward: {
        fn: run(() => cv.conv2dForward(x, w, null, { ...geo, variant: variant?.forward })),
        sync,
      },
      backwardData: {
        fn: run(() =>
          cv.conv2dBackwardData(dy, w, sh.x, { ...geo, variant: variant?.backwardData })
        ),
        sync,
      },
      backwardFilter: {
        fn: run(() =>
          cv.conv2dBackwardFilter(dy, x, sh.w, { ...geo, variant: variant?.backwardFilter })
        ),
        sync,
      },
    },
    release() {
      x.release();
      w.release();
      dy.release();
    },
  };
}

const PASSES: Pass[] = ["forward", "backwardData", "backwardFilter"];

let tfReady: Promise<void> | null = null;

async function tfInit(): Promise<void> {
  tfReady ??= (async () => {
    await tf.setBackend("webgpu");
    await tf.ready();
  })();
  await tfReady;
}

/** tfjs-backend-webgpu's three passes on the same shape in NHWC / HWIO, as timed closures. */
export async function tfjsTimed(
  sh: ConvShape,
): Promise<{ passes: Record<Pass, Timed>; release: () => void }> {
  await tfInit();
  const be = tf.backend() as any;
  const sync = async () => {
    if (be.commandEncoder) {
      be.endComputePassEncoder();
      be.submitQueue();
    }
    await be.device.queue.onSubmittedWorkDone();
  };
  const [n, c, h, w] = sh.x;
  const [o, , k] = sh.w;
  const g = cv.conv2dGeometry(sh.x, sh.w, { stride: sh.stride, padding: sh.padding });
  const x = tf.tensor4d(rand(n * h * w * c, 1), [n, h, w, c]);
  const f = tf.tensor4d(rand(k * k * c * o, 2), [k, k, c, o]);
  const dy = tf.tensor4d(rand(n * g.oh * g.ow * o, 3), [n, g.oh, g.ow, o]);
  return {
    passes: {
      forward: { fn: () => tf.conv2d(x, f, sh.stride, sh.padding).dispose(), sync },
      backwardData: {
        fn: () => tf.conv2dTranspose(dy, f, [n, h, w, c], sh.stride, sh.padding).dispose(),
        sync,
      },
      // conv2DBackpropFilter is not a public op: run the registered kernel, as tf.grad would.
      backwardFilter: {
        fn: () =>
          (tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
            strides: sh.stride,
            pad: sh.padding,
            dataFormat: "NHWC",
            filterShape: [k, k, c, o],
          } as any) as tf.Tensor).dispose(),
        sync,
      },
    },
    release() {
      x.dispose();
      f.dispose();
      dy.dispose();
    },
  };
}

/**
 * Runs the benchmark: GFLOP/s per shape and pass, tfjs beside ours, and geometric-mean ratios.
 * Our kernel variants are first tuned per shape class on this adapter (as `tuneConv2d` does for
 * a training run; its time is not counted), unless `tune` is false (then the size heuristic
 * chooses).
 */
export async function run(opts: { fallback: boolean; tune?: boolean }): Promise<BenchRecord[]> {
  const gpu = await initGpu();
  const shapes = opts.fallback ? fallbackShapes() : fullShapes();
  if (opts.tune ?? true) {
    for (const sh of shapes) {
      await cv.tuneConv2d(sh.x, sh.w, { stride: sh.stride, padding: sh.padding });
    }
  }
  const minMs = opts.fallback ? 250 : 200;
  const out: BenchRecord[] = [];
  const logs: Record<Pass, number[]> = { forward: [], backwardData: [], backwardFilter: [] };
  // on a real GPU, cuDNN (PyTorch, TF32 off) on the same machine in the same run
  const cudnn = opts.fallback ? null : await runTorchPeer([
    "conv",
    "--shapes",
    JSON.stringify(shapes.map((sh) => [...sh.x, sh.w[0], sh.w[2], sh.stride, sh.padding])),
  ]);
  for (const [i, sh] of shapes.entries()) {
    // ours and tfjs alternate batch by batch, pass by pass
    const mine = oursTimed(sh), tfp = await tfjsTimed(sh);
    const ours = {} as Record<Pass, number>, theirs = {} as Record<Pass, number>;
    for (const p of PASSES) {
      [ours[p], theirs[p]] = await timeInterleaved([mine.passes[p], tfp.passes[p]], minMs);
    }
    mine.release();
    tfp.release();
    const peer = cudnn?.convs?.[i];
    if (peer) {
      const label = `cuDNN (torch ${cudnn.torch}, ${cudnn.device})`;
      const oursFb = ours.forward + ours.backwardData + ours.backwardFilter;
      const pairs: [string, number, number][] = [
        ["forward", ours.forward, peer.forward_ms],
        ["backwardData", ours.backwardData, peer.backward_data_ms],
        ["backwardFilter", ours.backwardFilter, peer.backward_filter_ms],
        ["forward+backward", oursFb, peer.forward_backward_ms],
      ];
      for (const [pass, mine, theirs] of pairs) {
        out.push({
          name: `conv ${pass} ${sh.name} vs cuDNN`,
          value: mine,
          unit: "ms",
          peer: label,
          peerValue: theirs,
          ratio: theirs / mine,
          adapter: gpu.info.adapterName,
          notes: "ratio = share of cuDNN's throughput",
        });
      }
    }
    const fl = flopsOf(sh);
    for (const p of ["forward", "backwardData", "backwardFilter"] as Pass[]) {
      const v = fl / ours[p] / 1e6, pv = fl / theirs[p] / 1e6;
      logs[p].push(Math.log(v / pv));
      out.push({
        name: `conv ${p} ${sh.name}`,
        value: v,
        unit: "GFLOP/s",
        peer: `tfjs-webgpu ${TF_NAME[p]}`,
        peerValue: pv,
        ratio: v / pv,
        adapter: gpu.info.adapterName,
        notes: `${ours[p].toFixed(2)} ms vs ${theirs[p].toFixed(2)} ms`,
      });
    }
  }
  for (const p of ["forward", "backwardData", "backwardFilter"] as Pass[]) {
    const gm = Math.exp(logs[p].reduce((a, b) => a + b, 0) / logs[p].length);
    out.push({
      name: `conv ${p} geomean ratio vs tfjs`,
      value: gm,
      unit: "x",
      adapter: gpu.info.adapterName,
    });
  }
  return out;
}

if (import.meta.main) {
  const { values } = await parseCli({
    usage: "Usage: deno run -A bench/conv_bench.ts [--no-tune]",
    options: { "no-tune": { type: "boolean" } },
  });
  const gpu = await initGpu();
  const recs = await run({
    fallback: gpu.info.isFallbackAdapter,
    tune: values["no-tune"] !== true,
  });
  for (const r of recs) {
    console.log(
      `${r.name.padEnd(58)} ${r.value.toFixed(3).padStart(9)} ${r.unit}${
        r.peerValue !== undefined
          ? `  tfjs ${r.peerValue.toFixed(3)}  ratio ${r.ratio!.toFixed(2)}  (${r.notes})`
          : ""
      }`,
    );
  }
}
