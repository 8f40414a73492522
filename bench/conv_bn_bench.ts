/**
 * Frozen BatchNorm folded into the conv epilogue (`lib/nn/conv_bn.ts`) against the unfused
 * conv → BN(eval) → affine path, same run, alternating step by step: ResNet backbones with
 * `norm_eval` (mmdet's R-50 setting: every BN in evaluation mode, γ and β still trained, stem and
 * stage 1 frozen), forward + backward of the sum of the stage outputs. Reports the median step
 * time and the dispatches and copies per step of each path.
 */
import { backward } from "../lib/autograd/tape.ts";
import * as F from "../lib/autograd/functional.ts";
import { Tensor, tidy } from "../lib/autograd/tensor.ts";
import { getGpu } from "../lib/gpu/runtime.ts";
import { ResNet } from "../lib/models/backbones/resnet.ts";
import { setConvBnFusion } from "../lib/nn/conv_bn.ts";
import type { BenchRecord } from "./_types.ts";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function compare(
  name: string,
  net: ResNet,
  shape: [number, number, number, number],
  iters: number,
  records: BenchRecord[],
): Promise<void> {
  const gpu = getGpu();
  const n = shape.reduce((a, b) => a * b, 1);
  const img = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37));
  net.train(); // norm_eval puts every BN back in evaluation mode
  const step = (fused: boolean) => {
    const prev = setConvBnFusion(fused);
    try {
      gpu.beginIteration();
      tidy(() => {
        const outs = net.forward(Tensor.from(img, shape));
        backward(outs.map((o) => F.sum(o)).reduce((a, b) => F.add(a, b)));
      });
      for (const p of net.parameters()) {
        p.grad?.dispose();
        p.grad = null;
      }
    } finally {
      setConvBnFusion(prev);
    }
  };
  const res = new Map<boolean, { ms: number[]; d: number; c: number }>();
  for (const fused of [true, false]) {
    step(fused);
    step(fused);
    await gpu.sync();
    res.set(fused, { ms: [], d: 0, c: 0 });
  }
  for (let i = 0; i < iters; i++) {
    for (const fused of [true, false]) {
      const r = res.get(fused)!;
      const s0 = gpu.stats();
      const t0 = performance.now();
      step(fused);
      await gpu.sync();
      r.ms.push(performance.now() - t0);
      const s1 = gpu.stats();
      r.d = s1.dispatches - s0.dispatches;
      r.c = s1.copies - s0.copies;
    }
  }
  const f = res.get(true)!, u = res.get(false)!;
  const [mf, mu] = [median(f.ms), median(u.ms)];
  records.push({
    name: `${name} forward+backward, BN folded into the conv`,
    value: mf,
    unit: "ms",
    peer: "unfused conv → BN(eval) → affine",
    peerValue: mu,
    ratio: mf / mu,
    notes:
      `median of ${iters} alternating steps; dispatches ${f.d} vs ${u.d}, copies ${f.c} vs ${u.c}`,
  });
  records.push({ name: `${name} dispatches per step, folded`, value: f.d, unit: "count" });
  records.push({ name: `${name} dispatches per step, unfused`, value: u.d, unit: "count" });
}

export async function run(opts: { fallback: boolean }): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  const iters = opts.fallback ? 10 : 20;
  const size = opts.fallback ? 128 : 512;
  const nets: [string, ResNet][] = [
    ["ResNet-18/16 norm_eval", new ResNet({ depth: 18, base_channels: 16, init_cfg: null })],
    [
      "ResNet-50/16 norm_eval",
      new ResNet({ depth: 50, base_channels: 16, frozen_stages: 1, init_cfg: null }),
    ],
  ];
  for (const [name, net] of nets) {
    await compare(`${name} (batch 2, ${size}×${size})`, net, [2, 3, size, size], iters, records);
    net.dispose();
  }
  return records;
}
