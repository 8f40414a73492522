import { assert } from "../_assert.ts";
import { hasAdapter } from "../_gpu.ts";

const script = `
import { initGpu } from ${
  JSON.stringify(new URL("../../lib/gpu/runtime.ts", import.meta.url).href)
};
try {
  const g = await initGpu();
  console.log(JSON.stringify({ ok: true, name: g.info.adapterName, fallback: g.info.isFallbackAdapter, backend: g.info.backend, limits: g.info.limits }));
  g.destroy();
} catch (e) {
  console.log(JSON.stringify({ ok: false, name: e.name, message: e.message }));
}
`;

async function runWith(env: Record<string, string>): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    env: { ...env, XDG_RUNTIME_DIR: "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").pop()!;
  return JSON.parse(line);
}

Deno.test("initGpu() without an adapter throws GpuUnavailableError that says how to get one", async () => {
  // No Vulkan driver can be found and the backend is pinned to Vulkan: there is no adapter.
  const r = await runWith({
    VK_ICD_FILENAMES: "/nonexistent/icd.json",
    DENO_WEBGPU_BACKEND: "vulkan",
  });
  assert.equal(r.ok, false);
  assert.equal(r.name, "GpuUnavailableError");
  assert.match(String(r.message), /mesa-vulkan-drivers libvulkan1/);
  assert.match(String(r.message), /GPU driver/);
});

Deno.test({
  name:
    "initGpu() requests the adapter's limits, not the spec minimums, and honours DENO_WEBGPU_BACKEND",
  ignore: !hasAdapter,
  fn: async () => {
    const r = await runWith({ DENO_WEBGPU_BACKEND: "vulkan" });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.backend, "vulkan");
    const l = r.limits as Record<string, number>;
    const a = await navigator.gpu.requestAdapter();
    assert.equal(l.maxStorageBuffersPerShaderStage, a!.limits.maxStorageBuffersPerShaderStage);
    assert.equal(l.maxComputeWorkgroupStorageSize, a!.limits.maxComputeWorkgroupStorageSize);
    assert.equal(l.maxComputeInvocationsPerWorkgroup, a!.limits.maxComputeInvocationsPerWorkgroup);
    assert.equal(l.maxStorageBufferBindingSize, a!.limits.maxStorageBufferBindingSize);
    assert.equal(typeof r.fallback, "boolean");
  },
});
