/**
 * `load_from` / `loadWeights`: missing and unexpected keys are reported as mmcv does, a
 * checkpoint of which no key matches is refused (it would leave the random init), F16 weights
 * load as their values, non-finite weights are refused unless allowed.
 */
import { join } from "node:path";
import { assert } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { loadConfig } from "../../lib/config/mod.ts";
import { buildModel, loadWeights } from "../../lib/apis/common.ts";
import { saveCheckpoint } from "../../lib/runner/checkpoint.ts";
import { toCpuStateDict } from "../../lib/apis/adapters.ts";
import { DataError } from "../../lib/utils/errors.ts";
import type { StateDict } from "../../lib/runner/types.ts";

const tiny = new URL("../../configs/retinanet/retinanet_tiny_shapes.ts", import.meta.url).pathname;

gpuTest("loadWeights reports, refuses and converts as mmcv's load_checkpoint", async () => {
  const cfg = await loadConfig(tiny);
  const det = buildModel(cfg, 0);
  const dir = await Deno.makeTempDir({ prefix: "wgdet-lw-" });
  try {
    const sd = toCpuStateDict(await det.stateDict()) as StateDict;
    const keys = Object.keys(sd);
    // every key prefixed "model.": nothing matches → refused with the prefix named
    const prefixed: StateDict = {};
    for (const k of keys) prefixed[`model.${k}`] = sd[k];
    await saveCheckpoint(join(dir, "p.safetensors"), { stateDict: prefixed });
    await assert.rejects(
      () => loadWeights(det, join(dir, "p.safetensors"), false),
      (e: Error) => e instanceof DataError && e.message.includes('prefix "model."'),
    );
    // one key dropped, one extra: loads, with mmcv's report
    const partial: StateDict = { ...sd, "extra.weight": sd[keys[0]] };
    delete partial[keys[1]];
    // F16 copy of a weight: loads as its value (1.0, not the bit pattern 15360)
    const k0 = keys.find((k) => k.endsWith("conv1.weight"))!;
    const n0 = (sd[k0].data as Float32Array).length;
    partial[k0] = {
      dtype: "F16",
      shape: sd[k0].shape,
      data: new Uint16Array(n0).fill(0x3c00),
    } as unknown as StateDict[string];
    await saveCheckpoint(join(dir, "q.safetensors"), { stateDict: partial });
    const warned: string[] = [];
    await loadWeights(det, join(dir, "q.safetensors"), false, { warn: (m) => warned.push(m) });
    assert.equal(warned.length, 1);
    assert.ok(warned[0].startsWith("The model and loaded state dict do not match exactly"));
    assert.ok(warned[0].includes(`unexpected key in source state_dict: extra.weight`));
    assert.ok(warned[0].includes(`missing keys in source state_dict: ${keys[1]}`));
    const after = toCpuStateDict(await det.stateDict()) as StateDict;
    assert.ok((after[k0].data as Float32Array).every((v) => v === 1));
    // NaN weights: refused naming the tensor, unless allowed
    const nan: StateDict = { ...sd };
    nan[k0] = { dtype: "F32", shape: sd[k0].shape, data: new Float32Array(n0).fill(NaN) };
    await saveCheckpoint(join(dir, "n.safetensors"), { stateDict: nan });
    await assert.rejects(
      () => loadWeights(det, join(dir, "n.safetensors"), false),
      (e: Error) => e instanceof DataError && e.message.includes(`"${k0}"`),
    );
    await loadWeights(det, join(dir, "n.safetensors"), true, { allowNonFinite: true });
  } finally {
    det.dispose?.();
    await Deno.remove(dir, { recursive: true });
  }
});
