/**
 * WGSL kernels and the pipeline cache. A kernel is a `.wgsl` file in `kernels/` (text-imported by
 * its op module) plus a descriptor; pipelines are compiled once per (kernel, override constants) —
 * never per shape: shapes travel in the `Params` uniform.
 *
 * @module
 */
import commonSrc from "../../kernels/_common.wgsl" with { type: "text" };
import { platform } from "../platform/mod.ts";

/** Describes one WGSL kernel: where it comes from and how its `Params` uniform is packed. */
export interface KernelSpec {
  /** The kernel's file stem, e.g. `"unary"` for `kernels/unary.wgsl`; used in every label. */
  name: string;
  /** The WGSL source (without `_common.wgsl`, which is prepended). */
  source: string;
  /**
   * Types of the `Params` fields in declaration order, one letter per 4-byte field: `u` (u32),
   * `i` (i32), `f` (f32). Arrays of `vec4<u32>` count as four letters each and must start at a
   * multiple of 4 fields. Omit for kernels without `Params`.
   */
  params?: string;
}

const COMMON_LINES = commonSrc.split("\n").length;

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

/** Compiles and caches pipelines; collects asynchronous validation errors. */
export class PipelineCache {
  #device: GPUDevice;
  #cache = new Map<string, CompiledKernel>();
  #pendingErrors: Promise<string | null>[] = [];

  /** An empty cache for `device`. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Number of distinct pipelines compiled so far. */
  get size(): number {
    return this.#cache.size;
  }

  /** The pipeline of `spec` with `overrides`, compiled on first use. */
  get(spec: KernelSpec, overrides?: Record<string, number>): CompiledKernel {
    const key = `${spec.name}|${overridesKey(overrides)}`;
    let ck = this.#cache.get(key);
    if (ck) return ck;
    const label = `${spec.name}.wgsl`;
    const code = `${commonSrc}\n${spec.source}`;
    if (shouldPrint(spec.name)) {
      console.error(`// ${label} ${overridesKey(overrides)}\n${spec.source}`);
    }
    const dev = this.#device;
    dev.pushErrorScope("validation");
    const module = dev.createShaderModule({ label, code });
    const pipeline = dev.createComputePipeline({
      label: overrides ? `${label} {${overridesKey(overrides)}}` : label,
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
          if (m) where = ` at line ${m.lineNum - COMMON_LINES}, column ${m.linePos}: ${m.message}`;
        } catch { /* compilation info is optional */ }
        return `Cannot compile kernel ${label}${where || `: ${err.message}`}`;
      }),
    );
    const layout = pipeline.getBindGroupLayout(0);
    ck = { pipeline, layout, label };
    this.#cache.set(key, ck);
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
