/**
 * WGSL kernels and the pipeline cache. A kernel is a `.wgsl` file in `kernels/` (text-imported by
 * its op module) plus a descriptor. A kernel names shared WGSL files with `//#include _name.wgsl`
 * lines ({@linkcode KERNEL_INCLUDES}); they are prepended, each once, when the kernel is loaded
 * ({@linkcode resolveKernelSource}). Shader modules are compiled once per source, pipelines once
 * per (source, override constants) — never per shape: shapes travel in the `Params` uniform.
 *
 * @module
 */
import commonSrc from "../../kernels/_common.wgsl" with { type: "text" };
import { platform } from "../platform/mod.ts";
import boxSrc from "../../kernels/_box.wgsl" with { type: "text" };
import batchNormApplySrc from "../../kernels/_batch_norm_apply.wgsl" with { type: "text" };
import conv2dGemmSrc from "../../kernels/_conv2d_gemm.wgsl" with { type: "text" };
import conv2dTiledStoreSrc from "../../kernels/_conv2d_tiled_store.wgsl" with { type: "text" };
import dimsSrc from "../../kernels/_dims.wgsl" with { type: "text" };
import divRnSrc from "../../kernels/_div_rn.wgsl" with { type: "text" };
import elementwiseMainSrc from "../../kernels/_elementwise_main.wgsl" with { type: "text" };
import fenceSrc from "../../kernels/_fence.wgsl" with { type: "text" };
import iouSrc from "../../kernels/_iou.wgsl" with { type: "text" };
import lossMainSrc from "../../kernels/_loss_main.wgsl" with { type: "text" };
import roiLevelSrc from "../../kernels/_roi_level.wgsl" with { type: "text" };
import sigmoidSrc from "../../kernels/_sigmoid.wgsl" with { type: "text" };
import sortKeySrc from "../../kernels/_sort_key.wgsl" with { type: "text" };

/**
 * The shared WGSL files a kernel can include with a line `//#include _name.wgsl` (an include may
 * include others). `_common.wgsl` is prepended to every kernel without being named.
 */
export const KERNEL_INCLUDES: Readonly<Record<string, string>> = {
  "_batch_norm_apply.wgsl": batchNormApplySrc,
  "_box.wgsl": boxSrc,
  "_conv2d_gemm.wgsl": conv2dGemmSrc,
  "_conv2d_tiled_store.wgsl": conv2dTiledStoreSrc,
  "_dims.wgsl": dimsSrc,
  "_div_rn.wgsl": divRnSrc,
  "_elementwise_main.wgsl": elementwiseMainSrc,
  "_fence.wgsl": fenceSrc,
  "_iou.wgsl": iouSrc,
  "_loss_main.wgsl": lossMainSrc,
  "_roi_level.wgsl": roiLevelSrc,
  "_sigmoid.wgsl": sigmoidSrc,
  "_sort_key.wgsl": sortKeySrc,
};

const INCLUDE_LINE = /^\/\/#include\s+(\S+)\s*$/gm;

/** A kernel source with its includes resolved. */
export interface ResolvedKernel {
  /** The code to compile: `_common.wgsl`, the included files (dependencies first), the kernel. */
  code: string;
  /** The included files in the order they were prepended (without `_common.wgsl`). */
  includes: string[];
  /** Lines before the kernel's own first line (to map compiler messages back to the file). */
  prefixLines: number;
  /** The line where each prepended part starts (1-based), for compiler messages inside one. */
  parts: { name: string; start: number }[];
}

const resolved = new Map<string, ResolvedKernel>();

/**
 * `source` with `_common.wgsl` and every file it names in `//#include` lines (recursively, each
 * once) prepended.
 *
 * @throws {KernelError} Naming the kernel and the file when an include is not in
 * {@linkcode KERNEL_INCLUDES}.
 */
export function resolveKernelSource(source: string, name = "kernel"): ResolvedKernel {
  const hit = resolved.get(source);
  if (hit) return hit;
  const order: string[] = [];
  const visit = (src: string, from: string, stack: string[]) => {
    for (const m of src.matchAll(INCLUDE_LINE)) {
      const inc = m[1];
      if (order.includes(inc)) continue;
      if (stack.includes(inc)) {
        throw new KernelError(
          `Kernel ${from} includes ${inc} in a cycle: ${[...stack, inc].join(" → ")}`,
        );
      }
      const text = KERNEL_INCLUDES[inc];
      if (text === undefined) {
        throw new KernelError(
          `Kernel ${from} includes "${inc}", which is not a shared kernel file: expected one of ${
            Object.keys(KERNEL_INCLUDES).join(", ")
          } (add new ones to KERNEL_INCLUDES in lib/gpu/kernel.ts)`,
        );
      }
      visit(text, inc, [...stack, inc]);
      order.push(inc);
    }
  };
  visit(source, `${name}.wgsl`, []);
  const pieces = [commonSrc, ...order.map((i) => KERNEL_INCLUDES[i])];
  const parts: { name: string; start: number }[] = [];
  let line = 1;
  for (const [i, text] of pieces.entries()) {
    parts.push({ name: i === 0 ? "_common.wgsl" : order[i - 1], start: line });
    line += text.split("\n").length;
  }
  const r: ResolvedKernel = {
    code: [...pieces, source].join("\n"),
    includes: order,
    prefixLines: line - 1,
    parts,
  };
  resolved.set(source, r);
  return r;
}

/** `file:line` of line `lineNum` of a resolved kernel's code. */
function whereIs(r: ResolvedKernel, label: string, lineNum: number): string {
  if (lineNum > r.prefixLines) return `${label} line ${lineNum - r.prefixLines}`;
  const part = r.parts.findLast((p) => p.start <= lineNum)!;
  return `${part.name} (included by ${label}) line ${lineNum - part.start + 1}`;
}

/** Describes one WGSL kernel: where it comes from and how its `Params` uniform is packed. */
export interface KernelSpec {
  /** The kernel's file stem, e.g. `"unary"` for `kernels/unary.wgsl`; used in every label. */
  name: string;
  /**
   * The WGSL source (without `_common.wgsl` and the `//#include` files, which are prepended when
   * it is loaded).
   */
  source: string;
  /**
   * Types of the `Params` fields in declaration order, one letter per 4-byte field: `u` (u32),
   * `i` (i32), `f` (f32). Arrays of `vec4<u32>` count as four letters each and must start at a
   * multiple of 4 fields. Omit for kernels without `Params`.
   */
  params?: string;
}

/** A compiled pipeline and the labels used for its bind groups. */
export interface CompiledKernel {
  /** The compute pipeline. */
  pipeline: GPUComputePipeline;
  /** Layout of bind group 0 (the kernel's bindings). */
  layout: GPUBindGroupLayout;
  /** The shader label, `{name}.wgsl`, given to its bind groups. */
  label: string;
}

/** An error found while compiling or validating a kernel; names the kernel file and line. */
export class KernelError extends Error {
  /** Creates the error with `message` (which names the kernel label and WGSL line). */
  constructor(message: string) {
    super(message);
    this.name = "KernelError";
  }
}

function overridesKey(o: Record<string, number> | undefined): string {
  if (!o) return "";
  return Object.keys(o).sort().map((k) => `${k}=${o[k]}`).join(",");
}

/** Only kernels named in `DET_PRINT_WGSL` (comma list, or `all`) are printed when compiled. */
function shouldPrint(name: string): boolean {
  const v = platform().env("DET_PRINT_WGSL");
  if (!v) return false;
  return v === "all" || v.split(",").includes(name);
}

/** Compiles and caches shader modules and pipelines; collects asynchronous validation errors. */
export class PipelineCache {
  #device: GPUDevice;
  /** Per kernel source: its shader module and its pipelines by override constants. */
  #bySource = new Map<
    string,
    { module: GPUShaderModule; resolved: ResolvedKernel; pipelines: Map<string, CompiledKernel> }
  >();
  #size = 0;
  #pendingErrors: Promise<string | null>[] = [];

  /** An empty cache for `device`. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Number of distinct pipelines compiled so far. */
  get size(): number {
    return this.#size;
  }

  /** Number of distinct shader modules (kernel sources) compiled so far. */
  get modules(): number {
    return this.#bySource.size;
  }

  /** The pipeline of `spec` with `overrides`, compiled on first use (its module once per source). */
  get(spec: KernelSpec, overrides?: Record<string, number>): CompiledKernel {
    let entry = this.#bySource.get(spec.source);
    const okey = overridesKey(overrides);
    let ck = entry?.pipelines.get(okey);
    if (ck) return ck;
    const label = `${spec.name}.wgsl`;
    const dev = this.#device;
    dev.pushErrorScope("validation");
    if (!entry) {
      const resolved = resolveKernelSource(spec.source, spec.name);
      if (shouldPrint(spec.name)) console.error(`// ${label}\n${resolved.code}`);
      const module = dev.createShaderModule({ label, code: resolved.code });
      entry = { module, resolved, pipelines: new Map() };
      this.#bySource.set(spec.source, entry);
    }
    const { module, resolved } = entry;
    const pipeline = dev.createComputePipeline({
      label: overrides ? `${label} {${okey}}` : label,
      layout: "auto",
      compute: { module, entryPoint: "main", constants: overrides },
    });
    const scope = dev.popErrorScope();
    this.#pendingErrors.push(
      scope.then(async (err) => {
        if (!err) return null;
        let where = "";
        try {
          const info = await module.getCompilationInfo();
          const m = info.messages.find((x) => x.type === "error");
          if (m) {
            where = ` at ${whereIs(resolved, label, m.lineNum)}, column ${m.linePos}: ${m.message}`;
          }
        } catch { /* compilation info is optional */ }
        return `Cannot compile kernel ${label}${where || `: ${err.message}`}`;
      }),
    );
    const layout = pipeline.getBindGroupLayout(0);
    ck = { pipeline, layout, label };
    entry.pipelines.set(okey, ck);
    this.#size++;
    return ck;
  }

  /** Throws a {@linkcode KernelError} for the first compile error seen since the last check. */
  async checkErrors(): Promise<void> {
    if (this.#pendingErrors.length === 0) return;
    const all = await Promise.all(this.#pendingErrors.splice(0));
    const msgs = all.filter((m): m is string => m !== null);
    if (msgs.length) throw new KernelError(msgs.join("\n"));
  }
}
