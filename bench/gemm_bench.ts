/**
 * GEMM throughput: `gemm` of `lib/ops/conv2d.ts` (the convolution kernels as a 1×1 convolution)
 * and the generic `matmul` of `lib/ops/matmul.ts` against `@tensorflow/tfjs-backend-webgpu`'s
 * `matMul`, on the same adapter in the same run, in GFLOP/s. Sizes are scaled down on a fallback
 * adapter.
 *
 * @module
 */
// deno-lint-ignore-file no-explicit-any
// deno-lint-ignore no-import-prefix
import * as tf from "npm:@tensorflow/tfjs-core@4.22.0";
// deno-lint-ignore no-import-prefix
import "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";
import { getGpu, initGpu } from "../lib/gpu/runtime.ts";
import { gemm, tuneConv2d } from "../lib/ops/conv2d.ts";
import { matmul } from "../lib/ops/matmul.ts";
import type { BenchRecord } from "./_types.ts";
import { rand, timeIt } from "./conv_bench.ts";
import { parseCli } from "../tools/_args.ts";

/** Runs the benchmark: [M, K] · [K, N] at several sizes; ratios are ours / tfjs. */
export async function run(opts: { fallback: boolean; tune?: boolean }): Promise<BenchRecord[]> {
  const gpu = await initGpu();
  await tf.setBackend("webgpu");
  await tf.ready();
  const be = tf.backend() as any;
  const tfSync = async () => {
    if (be.commandEncoder) {
      be.endComputePassEncoder();
      be.submitQueue();
    }
    await be.device.queue.onSubmittedWorkDone();
  };
  const sizes: [number, number, number][] = opts.fallback
    ? [[64, 64, 64], [128, 128, 128], [256, 256, 256], [64, 1024, 256], [512, 128, 512]]
    : [[256, 256, 256], [1024, 1024, 1024], [2048, 2048, 2048], [4096, 4096, 4096], [
      256,
      2304,
      30400,
    ]];
  const minMs = opts.fallback ? 250 : 200;
  const out: BenchRecord[] = [];
  const logs: number[] = [];
  for (const [m, k, n] of sizes) {
    const a = gpu.upload(rand(m * k, 1), [m, k]), b = gpu.upload(rand(k * n, 2), [k, n]);
    if (opts.tune ?? true) await tuneConv2d([1, k, 1, n], [m, k, 1, 1], { modes: ["forward"] });
    const sync = () => getGpu().sync();
    const ours = await timeIt(() => gemm(a, b).release(), sync, minMs);
    const generic = await timeIt(() => matmul(a, b).release(), sync, minMs);
    const ta = tf.tensor2d(rand(m * k, 1), [m, k]), tb = tf.tensor2d(rand(k * n, 2), [k, n]);
    const theirs = await timeIt(() => tf.matMul(ta, tb).dispose(), tfSync, minMs);
    ta.dispose();
    tb.dispose();
    a.release();
    b.release();
    const fl = 2 * m * n * k / 1e6;
    logs.push(Math.log(theirs / ours));
    out.push({
      name: `gemm ${m}x${k}x${n}`,
      value: fl / ours,
      unit: "GFLOP/s",
      peer: "tfjs-webgpu matMul",
      peerValue: fl / theirs,
      ratio: theirs / ours,
      adapter: gpu.info.adapterName,
      notes: `${ours.toFixed(2)} ms vs ${theirs.toFixed(2)} ms; generic matmul.wgsl ${
        (fl / generic).toFixed(2)
      } GFLOP/s`,
    });
  }
  out.push({
    name: "gemm geomean ratio vs tfjs",
    value: Math.exp(logs.reduce((x, y) => x + y, 0) / logs.length),
    unit: "x",
    adapter: gpu.info.adapterName,
  });
  return out;
}

if (import.meta.main) {
  const { values } = await parseCli({
    usage: "Usage: deno run -A bench/gemm_bench.ts [--no-tune]",
    options: { "no-tune": { type: "boolean" } },
  });
  const gpu = await initGpu();
  for (
    const r of await run({
      fallback: gpu.info.isFallbackAdapter,
      tune: values["no-tune"] !== true,
    })
  ) {
    console.log(
      `${r.name.padEnd(32)} ${r.value.toFixed(3).padStart(9)} ${r.unit}${
        r.peerValue !== undefined
          ? `  tfjs ${r.peerValue.toFixed(3)}  ratio ${r.ratio!.toFixed(2)}  (${r.notes})`
          : ""
      }`,
    );
  }
}
