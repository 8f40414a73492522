import { assert } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { resolveKernelSource } from "../../lib/gpu/kernel.ts";

const KERNELS = new URL("../../kernels/", import.meta.url);

gpuTest(
  "every kernels/*.wgsl and kernels/direct/*.wgsl compiles with its default override constants",
  async (gpu) => {
    const names: string[] = [];
    for (const dir of ["", "direct/"]) {
      for await (const e of Deno.readDir(new URL(dir, KERNELS))) {
        if (e.isFile && e.name.endsWith(".wgsl") && !e.name.startsWith("_")) {
          names.push(dir + e.name);
        }
      }
    }
    names.sort();
    assert.ok(names.length > 0, "kernels/ holds no .wgsl files");
    const failures: string[] = [];
    for (const name of names) {
      // `//#include` lines resolved as lib/gpu/kernel.ts loads them
      const r = resolveKernelSource(await Deno.readTextFile(new URL(name, KERNELS)), name);
      const code = r.code;
      const commonLines = r.prefixLines;
      gpu.device.pushErrorScope("validation");
      const module = gpu.device.createShaderModule({ label: name, code });
      const info = await module.getCompilationInfo();
      const errs = info.messages.filter((m) => m.type === "error");
      gpu.device.createComputePipeline({
        label: name,
        layout: "auto",
        compute: { module, entryPoint: "main" },
      });
      const err = await gpu.device.popErrorScope();
      for (const m of errs) {
        failures.push(`${name}:${m.lineNum - commonLines}:${m.linePos}: ${m.message}`);
      }
      if (err && errs.length === 0) failures.push(`${name}: ${err.message}`);
    }
    assert.deepEqual(failures, [], `kernels that do not compile:\n${failures.join("\n")}`);
  },
);
