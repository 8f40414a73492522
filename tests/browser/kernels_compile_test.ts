// Every WGSL kernel must be valid for Chromium's compiler (Tint) as well as Deno's (naga): Tint
// enforces rules naga does not, e.g. no NaN or infinity produced by a constant expression.
import { assert } from "../_assert.ts";
import { NO_CHROMIUM, openSession, ROOT } from "./_browser.ts";
import { resolveKernelSource } from "../../lib/gpu/kernel.ts";

async function kernelFiles(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir + rel)) {
    if (e.isDirectory) out.push(...await kernelFiles(dir, `${rel}${e.name}/`));
    else if (e.name.endsWith(".wgsl") && !e.name.startsWith("_")) out.push(rel + e.name); // _x: includes
  }
  return out.sort();
}

Deno.test({
  name: "browser: every kernel compiles in Chromium's WebGPU (Tint), as in Deno's",
  ignore: NO_CHROMIUM,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = `${ROOT}kernels/`;
    const kernels: { name: string; code: string; pipeline: boolean }[] = [];
    for (const f of await kernelFiles(dir)) {
      kernels.push({
        name: f,
        // `_common.wgsl` and the `//#include` files prepended, as lib/gpu/kernel.ts compiles it
        code: resolveKernelSource(await Deno.readTextFile(dir + f), f).code,
        // the register-blocked CPU-adapter kernels are valid WGSL (the module check below) but
        // SwiftShader's backend compiler does not finish them, so no pipeline is built for them
        pipeline: !/(^|\/)conv2d_direct/.test(f),
      });
    }
    assert.ok(kernels.length >= 40, `only ${kernels.length} kernels found in ${dir}`);
    const s = await openSession();
    try {
      const errors = await s.page.call<string[]>(async (ks: typeof kernels) => {
        const adapter = await navigator.gpu.requestAdapter();
        // the adapter's limits, as lib/gpu/device.ts asks for them
        const requiredLimits: Record<string, number> = {};
        for (
          const k of [
            "maxStorageBuffersPerShaderStage",
            "maxComputeWorkgroupStorageSize",
            "maxComputeInvocationsPerWorkgroup",
            "maxComputeWorkgroupSizeX",
            "maxStorageBufferBindingSize",
            "maxBufferSize",
            "maxUniformBufferBindingSize",
          ]
        ) {
          requiredLimits[k] = (adapter!.limits as unknown as Record<string, number>)[k];
        }
        const device = await adapter!.requestDevice({ requiredLimits });
        const errs: string[] = [];
        await Promise.all(ks.map(async (k) => {
          device.pushErrorScope("validation");
          const module = device.createShaderModule({ label: k.name, code: k.code });
          const info = await module.getCompilationInfo();
          for (const m of info.messages) {
            if (m.type === "error") errs.push(`${k.name}:${m.lineNum}:${m.linePos}: ${m.message}`);
          }
          const e = await device.popErrorScope();
          if (e && !info.messages.some((m) => m.type === "error")) {
            errs.push(`${k.name}: ${e.message}`);
          }
          if (!k.pipeline || e) return;
          try {
            await device.createComputePipelineAsync({
              label: k.name,
              layout: "auto",
              compute: { module, entryPoint: "main" },
            });
          } catch (err) {
            errs.push(`${k.name}: pipeline: ${(err as Error).message}`);
          }
        }));
        device.destroy();
        return errs.sort();
      }, kernels);
      // An adapter limit, not a validity problem: SwiftShader allows 10 storage buffers per stage
      // (Mesa lavapipe more). No kernel may exceed it: each one over a limit fails the test.
      const overLimit = errors.filter((e) => /exceeds the maximum per-stage limit/.test(e));
      const invalid = errors.filter((e) => !overLimit.includes(e));
      assert.deepEqual(
        invalid,
        [],
        `kernels Chromium rejects (${s.browser.version}):\n${invalid.join("\n")}`,
      );
      const over = overLimit.map((e) => e.split(":")[0]);
      assert.deepEqual(over, [], overLimit.join("\n"));
    } finally {
      await s.close();
    }
  },
});
