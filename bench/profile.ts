/**
 * `deno task profile [CONFIG] [--batch N] [--size PX] [--steps K] [--top T] [--shapes]`: where one training
 * step's GPU time goes, per kernel family. Every dispatch runs in its own compute pass with
 * timestamp queries (the adapter's `timestamp-query` feature), so the figures include a pass's
 * fixed cost and add up to more than an unprofiled step; copies and clears are counted, not timed.
 * Without timestamp queries only the counts are printed. Defaults: the tiny config, batch 8,
 * 128×128, 2 profiled steps after 2 warm-up steps.
 */
import { backward } from "../lib/autograd/tape.ts";
import { Tensor, tidy } from "../lib/autograd/tensor.ts";
import { applyCfgOptions, loadConfig } from "../lib/config/mod.ts";
import { buildModel } from "../lib/apis/common.ts";
import { initGpu, type PassTimer } from "../lib/gpu/runtime.ts";
import { buildOptimizer } from "../lib/runner/optimizers/builder.ts";
import { skipInit } from "../lib/nn/init.ts";
import { fakeBatch } from "./train_bench.ts";
import { int, parseCli, usageError } from "../tools/_args.ts";

const HELP =
  `Usage: deno task profile [CONFIG] [--batch N] [--size PX] [--steps K] [--top T] [--shapes] [--json FILE]

Times every dispatch of K training steps (default 2, after 2 warm-up steps) of CONFIG (default
configs/retinanet/retinanet_tiny_shapes.ts) on a fake batch (default 8 images of 128×128) with
timestamp queries, one compute pass per dispatch, and prints the time per kernel family and the
T (default 15) costliest kernels (name + override constants); with --shapes also the T costliest
convolution dispatches grouped by geometry (N×Cin×H×W → Cout, kernel/stride, workgroups).`;

/** The family of a kernel, for the table. */
export function kernelFamily(name: string, o: Record<string, number> | undefined): string {
  // direct kernels are named by their per-thread block (conv2d_direct_backward_filter_8x8); the
  // tiled kernels run all three passes, told apart by their MODE override (0, 1, 2)
  const direct = /^conv2d_direct(?:_(backward_data|backward_filter))?(?:_\d+x\d+)?$/.exec(name);
  if (direct) {
    return direct[1] === "backward_filter"
      ? "conv backward-filter"
      : direct[1] === "backward_data"
      ? "conv backward-data"
      : "conv forward";
  }
  if (name.startsWith("conv2d_tiled") || name === "conv2d") {
    return o?.MODE === 2
      ? "conv backward-filter"
      : o?.MODE === 1
      ? "conv backward-data"
      : "conv forward";
  }
  if (name === "conv2d_pack" || name === "batch_transpose") return "conv staging";
  if (name === "conv2d_epilogue") return "conv epilogue / affine";
  if (name.startsWith("batch_norm")) return "batch norm";
  if (name.startsWith("group_norm")) return "group norm";
  if (name === "matmul") return "matmul";
  if (name.startsWith("sgd") || name.startsWith("adamw")) return "optimizer";
  if (["unary", "binary", "binary_vec4", "fill", "cast"].includes(name)) {
    return name.startsWith("binary") && o?.OP === 11 ? "relu gradient" : "elementwise";
  }
  if (name.startsWith("bn_fold")) return "batch norm";
  if (name.startsWith("roi_align")) return "RoIAlign";
  if (name.startsWith("nms") || name === "sort_rank") return "NMS / sort";
  // gradient-part sums (multi-tensor adds); the masked ones are a residual block's ReLU gradient
  if (name.startsWith("sum_multi_mask")) return "relu gradient";
  if (name.startsWith("sum_multi")) return "elementwise";
  if (
    name === "strided_copy" || name === "gather" || name === "scatter_add" ||
    name === "split_rows"
  ) {
    return "copy / gather";
  }
  if (name === "reduce") return "reduce";
  if (name.startsWith("max_pool") || name === "interpolate") return "pool / resize";
  if (/loss/.test(name)) return "losses";
  return "targets / other";
}

/**
 * A convolution dispatch's geometry from the first 15 values of its Params (batch, cin, h, w,
 * cout, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw): `N×Cin×H×W → Cout k3×3/s1`.
 */
export function convGeometry(p: ArrayLike<number>): string {
  const [n, cin, h, w, cout, , , kh, kw, sh] = Array.from(p).slice(0, 15);
  return `${n}×${cin}×${h}×${w} → ${cout} k${kh}×${kw}/s${sh}`;
}

async function parse(args: string[]) {
  const { values: v, positionals } = await parseCli({
    usage: HELP,
    args,
    positionals: true,
    options: {
      batch: { type: "string", default: "8" },
      size: { type: "string", default: "128" },
      steps: { type: "string", default: "2" },
      top: { type: "string", default: "15" },
      json: { type: "string", default: "" },
      shapes: { type: "boolean", default: false },
    },
  });
  const pos = (k: "batch" | "size" | "steps" | "top") => {
    const n = int(k, v[k]);
    if (n < 1) usageError(`--${k} needs a positive integer, got ${v[k]}`);
    return n;
  };
  if (positionals.length > 1) {
    usageError(`expected at most one CONFIG, got ${positionals.join(" ")}`);
  }
  return {
    config: positionals[0] ?? "",
    batch: pos("batch"),
    size: pos("size"),
    steps: pos("steps"),
    top: pos("top"),
    json: v.json,
    shapes: v.shapes,
  };
}

/** Query sets hold at most 4,096 queries: 2,048 timed passes each. */
const PER_SET = 2048;

/** Collects one timestamp pair per dispatch, in as many query sets as needed. */
class Timer implements PassTimer {
  readonly sets: GPUQuerySet[] = [];
  labels: [string, string][] = [];
  /** Per dispatch: the convolution's geometry (conv kernels only) and its workgroups. */
  shapes: (string | null)[] = [];
  constructor(readonly device: GPUDevice) {}
  next(
    kernel: string,
    o: Record<string, number> | undefined,
    params?: ArrayLike<number>,
    workgroups?: number,
  ) {
    const i = this.labels.length;
    if (i % PER_SET === 0) {
      this.sets.push(this.device.createQuerySet({ type: "timestamp", count: 2 * PER_SET }));
    }
    const key = o ? `${kernel} ${JSON.stringify(o)}` : kernel;
    const family = kernelFamily(kernel, o);
    this.labels.push([family, key]);
    this.shapes.push(
      family.startsWith("conv ") && params && params.length >= 15
        ? `${family} ${convGeometry(params)} [${workgroups} wg]`
        : null,
    );
    const j = i % PER_SET;
    return {
      querySet: this.sets[this.sets.length - 1],
      beginningOfPassWriteIndex: 2 * j,
      endOfPassWriteIndex: 2 * j + 1,
    };
  }
  /** Durations in ms, one per labelled dispatch. */
  async read(): Promise<number[]> {
    const out: number[] = [];
    for (let si = 0; si < this.sets.length; si++) {
      const n = Math.min(PER_SET, this.labels.length - si * PER_SET);
      const bytes = n * 16;
      const res = this.device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      const rd = this.device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      const enc = this.device.createCommandEncoder();
      enc.resolveQuerySet(this.sets[si], 0, 2 * n, res, 0);
      enc.copyBufferToBuffer(res, 0, rd, 0, bytes);
      this.device.queue.submit([enc.finish()]);
      await rd.mapAsync(GPUMapMode.READ);
      const t = new BigInt64Array(rd.getMappedRange().slice(0));
      rd.unmap();
      res.destroy();
      rd.destroy();
      for (let i = 0; i < n; i++) out.push(Number(t[2 * i + 1] - t[2 * i]) / 1e6);
    }
    for (const q of this.sets) q.destroy();
    return out;
  }
}

if (import.meta.main) {
  const o = await parse(Deno.args);
  const gpu = await initGpu();
  const cfgPath = o.config ||
    new URL("../configs/retinanet/retinanet_tiny_shapes.ts", import.meta.url).pathname;
  const cfg = await loadConfig(cfgPath);
  const model = cfg.dict.model as { backbone?: { init_cfg?: unknown } };
  if (model.backbone?.init_cfg) {
    applyCfgOptions(cfg, ["model.backbone.init_cfg=None"], { warn: () => {} });
  }
  const det = skipInit(() => buildModel(cfg, 0));
  const batch = fakeBatch(o.batch, o.size, o.size, 4);
  const opt = buildOptimizer(det, { type: "SGD", lr: 0.001, momentum: 0.9, weight_decay: 1e-4 });
  det.train();
  const step = () => {
    gpu.beginIteration();
    tidy(() => {
      const out = det.trainStep({
        img: Tensor.from(batch.img, batch.shape),
        img_metas: batch.metas,
        gt_bboxes: batch.boxes,
        gt_labels: batch.labels,
      });
      opt.zeroGrad();
      backward(out.loss);
      opt.step();
    });
  };
  for (let i = 0; i < 2; i++) step();
  await gpu.sync();
  const t0 = performance.now();
  step();
  await gpu.sync();
  const plain = performance.now() - t0;
  const s0 = gpu.stats();
  const timed = gpu.info.features.includes("timestamp-query");
  const timer = timed ? new Timer(gpu.device) : null;
  if (timer) gpu.setPassTimer(timer);
  const t1 = performance.now();
  for (let i = 0; i < o.steps; i++) step();
  await gpu.sync();
  const profiledWall = (performance.now() - t1) / o.steps;
  gpu.setPassTimer(null);
  const s1 = gpu.stats();
  const per = (k: "dispatches" | "copies" | "clears") => (s1[k] - s0[k]) / o.steps;
  const ms = timer ? await timer.read() : [];
  console.log(
    `adapter: ${gpu.info.adapterName}; config ${cfgPath}; batch ${o.batch}, ${o.size}×${o.size}`,
  );
  console.log(
    `unprofiled step ${plain.toFixed(1)} ms; profiled step ${
      profiledWall.toFixed(1)
    } ms (one pass per dispatch); per step: ${per("dispatches")} dispatches, ${
      per("copies")
    } copies, ${per("clears")} clears`,
  );
  const fam = new Map<string, { ms: number; n: number }>();
  const ker = new Map<string, { ms: number; n: number }>();
  let total = 0;
  if (timer) {
    timer.labels.forEach(([f, k], i) => {
      const a = fam.get(f) ?? { ms: 0, n: 0 }, b = ker.get(k) ?? { ms: 0, n: 0 };
      a.ms += ms[i] / o.steps;
      a.n += 1 / o.steps;
      b.ms += ms[i] / o.steps;
      b.n += 1 / o.steps;
      fam.set(f, a);
      ker.set(k, b);
      total += ms[i] / o.steps;
    });
    console.log(`\nGPU time per step by timestamp queries: ${total.toFixed(1)} ms\n`);
    console.log(
      `${"family".padEnd(26)} ${"ms".padStart(8)} ${"%".padStart(6)} ${"dispatches".padStart(10)} ${
        "µs each".padStart(9)
      }`,
    );
    for (const [f, a] of [...fam].sort((x, y) => y[1].ms - x[1].ms)) {
      console.log(
        `${f.padEnd(26)} ${a.ms.toFixed(2).padStart(8)} ${
          (100 * a.ms / total).toFixed(1).padStart(6)
        } ${a.n.toFixed(0).padStart(10)} ${(1000 * a.ms / a.n).toFixed(0).padStart(9)}`,
      );
    }
    console.log(`\ncostliest ${o.top} kernels:`);
    for (const [k, a] of [...ker].sort((x, y) => y[1].ms - x[1].ms).slice(0, o.top)) {
      console.log(`${a.ms.toFixed(2).padStart(8)} ms ${a.n.toFixed(0).padStart(5)}×  ${k}`);
    }
    if (o.shapes) {
      const shp = new Map<string, { ms: number; n: number }>();
      timer.shapes.forEach((k, i) => {
        if (!k) return;
        const a = shp.get(k) ?? { ms: 0, n: 0 };
        a.ms += ms[i] / o.steps;
        a.n += 1 / o.steps;
        shp.set(k, a);
      });
      console.log(`\ncostliest ${o.top} convolution dispatch shapes:`);
      for (const [k, a] of [...shp].sort((x, y) => y[1].ms - x[1].ms).slice(0, o.top)) {
        console.log(`${a.ms.toFixed(2).padStart(8)} ms ${a.n.toFixed(0).padStart(5)}×  ${k}`);
      }
    }
  } else {
    console.log("\nthis adapter has no timestamp-query feature: counts only, no per-kernel times");
  }
  if (o.json) {
    await Deno.writeTextFile(
      o.json,
      JSON.stringify(
        {
          adapter: gpu.info.adapterName,
          config: cfgPath,
          batch: o.batch,
          size: o.size,
          unprofiledStepMs: plain,
          profiledStepMs: profiledWall,
          dispatches: per("dispatches"),
          copies: per("copies"),
          timed,
          families: Object.fromEntries(fam),
          kernels: Object.fromEntries(ker),
        },
        null,
        2,
      ),
    );
  }
  opt.zeroGrad();
  (opt as { dispose?: () => void }).dispose?.();
  det.dispose();
  await gpu.shutdown();
}
