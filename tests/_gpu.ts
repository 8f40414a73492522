/**
 * GPU gating for tests: `gpuTest(name, fn)` runs `fn` with the runtime initialised, and is ignored
 * (reported as such) when no WebGPU adapter exists. `fallback` tells tests to keep shapes tiny.
 */
import { getGpu, type Gpu, hasGpu, initGpu } from "../lib/gpu/runtime.ts";

const adapter = await navigator.gpu?.requestAdapter().catch(() => null);
/** Whether a WebGPU adapter exists on this machine. */
export const hasAdapter = !!adapter;
/** Whether the adapter is a software one (Mesa lavapipe): keep shapes tiny. */
export const isFallback =
  !!(adapter?.info as unknown as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter;

/** Registers a test that needs the GPU runtime. */
export function gpuTest(
  name: string,
  fn: (gpu: Gpu) => Promise<void> | void,
  opts: { skipOnFallback?: boolean } = {},
): void {
  Deno.test({
    name,
    ignore: !hasAdapter || (opts.skipOnFallback === true && isFallback),
    // The device and its pooled buffers live for the whole test module (like a process-wide
    // runtime), so resource sanitizing per test does not apply to them.
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const gpu = await initGpu();
      await fn(gpu);
      await gpu.pipelines.checkErrors();
    },
  });
}

// Destroy the device before the process exits instead of leaving it to V8's exit finalizers
// (see `Gpu.shutdown`).
globalThis.addEventListener("unload", () => {
  if (hasGpu()) getGpu().destroy();
});
