/**
 * Pipeline-compile time of the direct (CPU-adapter) convolution kernels: the specialised files of
 * `kernels/direct/` (one per TN × TM, what runs) against the generic maximal unroll with TN/TM as
 * override constants (what ran before, rendered by `kernels/gen/conv_direct.ts`), and the number
 * of distinct shader modules and pipelines a run of the conv benchmark's shapes creates each way.
 *
 * The pipelines are those the size heuristic picks for forward, input-gradient and
 * filter-gradient passes of `bench/conv_bench.ts`'s scaled-down shapes (recorded by running them),
 * then every one is compiled again both ways, alternating, in a child process with Mesa's shader
 * cache off (`MESA_SHADER_CACHE_DISABLE=true`), so that no compile is a cache hit. A compile is
 * timed as the first dispatch of one workgroup less a second one (lavapipe generates machine code
 * at the first dispatch, not when the pipeline is created).
 *
 * @module
 */
import { type Binding, type DispatchArgs, type Gpu, initGpu } from "../lib/gpu/runtime.ts";
import type { KernelSpec } from "../lib/gpu/kernel.ts";
import { RawTensor } from "../lib/gpu/raw_tensor.ts";
import { DIRECT_STEMS, type DirectKernel, renderDirect } from "../kernels/gen/mod.ts";
import * as cv from "../lib/ops/conv2d.ts";
import type { BenchRecord } from "./_types.ts";
import { fallbackShapes, rand } from "./conv_bench.ts";
import { parseCli } from "../tools/_args.ts";

/** One direct-kernel dispatch of the recorded run. */
interface Recorded {
  stem: string;
  spec: KernelSpec;
  args: DispatchArgs;
}

const KERNEL_OF: Record<string, DirectKernel> = Object.fromEntries(
  Object.entries(DIRECT_STEMS).map(([k, s]) => [s, k as DirectKernel]),
);

/** The first dispatch of each direct pipeline a forward + backward of every shape creates. */
async function recordDispatches(gpu: Gpu): Promise<Recorded[]> {
  const seen = new Map<string, Recorded>();
  const orig = gpu.dispatch.bind(gpu);
  gpu.dispatch = (spec: KernelSpec, args: DispatchArgs) => {
    if (spec.name.startsWith("conv2d_direct")) {
      const key = `${spec.name}|${JSON.stringify(args.overrides ?? {})}`;
      if (!seen.has(key)) {
        // fresh buffers of the same sizes: the run's own are reused or destroyed later
        const bindings: Binding[] = args.bindings.map((b) => {
          const size = b instanceof RawTensor ? Math.max(16, b.byteLength) : b.size;
          const offset = b instanceof RawTensor ? 0 : b.offset ?? 0;
          const buffer = gpu.device.createBuffer({
            size: offset + size,
            usage: GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
          });
          return { buffer, offset, size };
        });
        seen.set(key, {
          stem: spec.name,
          spec,
          args: { ...args, bindings, params: Array.from(args.params ?? []), workgroups: 1 },
        });
      }
    }
    orig(spec, args);
  };
  try {
    for (const sh of fallbackShapes()) {
      const x = gpu.upload(rand(sh.x.reduce((a, b) => a * b), 1), sh.x);
      const w = gpu.upload(rand(sh.w.reduce((a, b) => a * b), 2), sh.w);
      const o = { stride: sh.stride, padding: sh.padding };
      const y = cv.conv2dForward(x, w, null, o);
      cv.conv2dBackwardData(y, w, sh.x, o).release();
      cv.conv2dBackwardFilter(y, x, sh.w, o).release();
      for (const t of [x, w, y]) t.release();
    }
    await gpu.sync();
  } finally {
    gpu.dispatch = orig;
  }
  return [...seen.values()];
}

let fresh = 0;

/**
 * Milliseconds to compile `source` with `overrides` and run one workgroup of it (lavapipe
 * generates the machine code at the first dispatch), less the same dispatch once compiled.
 */
async function compileMs(
  gpu: Gpu,
  r: Recorded,
  source: string,
  overrides: Record<string, number>,
): Promise<number> {
  // a source of its own: modules are cached per source (the comment changes nothing compiled)
  const n = fresh++;
  const spec: KernelSpec = { ...r.spec, name: `${r.stem}_bench${n}`, source: `${source}// ${n}\n` };
  const args = { ...r.args, overrides };
  const t0 = performance.now();
  gpu.dispatch(spec, args);
  await gpu.sync();
  const t1 = performance.now();
  gpu.dispatch(spec, args);
  await gpu.sync();
  const t2 = performance.now();
  await gpu.pipelines.checkErrors();
  return (t1 - t0) - (t2 - t1);
}

/** In the child: records the dispatches, then compiles each pipeline both ways (alternating). */
async function child(): Promise<void> {
  const gpu = await initGpu();
  const recorded = await recordDispatches(gpu);
  // every module and pipeline the conv passes created (all kernels, not only the direct ones)
  const stats = gpu.stats();
  const rows = [];
  for (const r of recorded) {
    const [, base, tn, tm] = r.stem.match(/^(.*)_(\d+)x(\d+)$/)!;
    const generic = renderDirect(KERNEL_OF[base], {});
    const spec = r.spec.source;
    const ov = r.args.overrides ?? {};
    const s: number[] = [], g: number[] = [];
    for (let round = 0; round < 2; round++) {
      g.push(await compileMs(gpu, r, generic, { ...ov, TN: +tn, TM: +tm }));
      s.push(await compileMs(gpu, r, spec, ov));
    }
    rows.push({
      stem: r.stem,
      base,
      specialised: Math.min(...s),
      generic: Math.min(...g),
      specLines: spec.split("\n").length,
      genLines: generic.split("\n").length,
    });
  }
  // rendering at run time instead: what rendering one specialised kernel costs
  const t0 = performance.now();
  let rendered = 0;
  for (let rep = 0; rep < 5; rep++) {
    for (const r of recorded) {
      const [, base, tn, tm] = r.stem.match(/^(.*)_(\d+)x(\d+)$/)!;
      renderDirect(KERNEL_OF[base], { tn: +tn as 4 | 8 | 16, tm: +tm as 4 | 8 | 16 });
      rendered++;
    }
  }
  const renderMs = (performance.now() - t0) / rendered;
  console.log(JSON.stringify({
    rows,
    pipelines: recorded.length,
    renderMs,
    allModules: stats.shaderModules,
    allPipelines: stats.pipelines,
  }));
}

/** Runs the benchmark (in a child process with Mesa's shader cache off). */
export async function run(): Promise<BenchRecord[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--child"],
    env: { MESA_SHADER_CACHE_DISABLE: "true" },
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`kernel_compile_bench child exited with ${out.code}`);
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!;
  const { rows, pipelines, renderMs, allModules, allPipelines } = JSON.parse(text) as {
    rows: {
      stem: string;
      base: string;
      specialised: number;
      generic: number;
      specLines: number;
      genLines: number;
    }[];
    pipelines: number;
    renderMs: number;
    allModules: number;
    allPipelines: number;
  };
  const recs: BenchRecord[] = [];
  for (const r of rows) {
    recs.push({
      name: `compile ${r.stem}`,
      value: r.specialised,
      unit: "ms",
      peer: "generic maximal unroll",
      peerValue: r.generic,
      ratio: r.generic / r.specialised,
      notes: `${r.specLines} vs ${r.genLines} WGSL lines`,
    });
  }
  const sum = (f: (r: (typeof rows)[0]) => number) => rows.reduce((a, r) => a + f(r), 0);
  recs.push({
    name: "compile all direct pipelines of the conv shapes",
    value: sum((r) => r.specialised),
    unit: "ms",
    peer: "generic maximal unroll",
    peerValue: sum((r) => r.generic),
    ratio: sum((r) => r.generic) / Math.max(1e-9, sum((r) => r.specialised)),
    notes: `${pipelines} pipelines`,
  });
  recs.push({
    name: "direct shader modules (specialised files)",
    value: new Set(rows.map((r) => r.stem)).size,
    unit: "modules",
    peer: "generic",
    peerValue: new Set(rows.map((r) => r.base)).size,
    notes: `${pipelines} pipelines either way`,
  });
  recs.push({
    name: "shader modules of the conv passes (all kernels)",
    value: allModules,
    unit: "modules",
    notes: `${allPipelines} pipelines`,
  });
  recs.push({
    name: "render one specialised direct kernel in TypeScript",
    value: renderMs,
    unit: "ms",
    notes: "the cost run-time rendering would add per module",
  });
  return recs;
}

if (import.meta.main) {
  const { values } = await parseCli({
    usage: "Usage: deno run -A bench/kernel_compile_bench.ts --child\n" +
      "(the child process of the kernel_compile suite; run the suite with deno task bench kernel_compile)",
    options: { child: { type: "boolean" } },
  });
  if (values.child) await child();
}
