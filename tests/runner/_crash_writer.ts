// Helper for checkpoint_test.ts: writes checkpoint epoch_1, then dies while writing epoch_2.
// Usage: deno run -A _crash_writer.ts DIR STAGE   (STAGE: tmp | weights | optimizer | loop)
import { join } from "node:path";
import { saveCheckpoint, updateLatest } from "../../lib/runner/checkpoint.ts";

const [dir, stage] = Deno.args;
const ckpt = (epoch: number, n = 4) => ({
  stateDict: {
    "backbone.w": { dtype: "F32" as const, shape: [n], data: new Float32Array(n).fill(epoch) },
  },
  optimizer: {
    state: {
      "backbone.w.momentum_buffer": {
        dtype: "F32" as const,
        shape: [n],
        data: new Float32Array(n).fill(-epoch),
      },
    },
    param_groups: [{ lr: 0.01, initial_lr: 0.01 }],
  },
  meta: { epoch, iter: 10 * epoch },
});

if (stage === "loop") {
  // keep saving large checkpoints until killed; report each completed one
  for (let epoch = 1;; epoch++) {
    const path = join(dir, `epoch_${epoch}.safetensors`);
    await saveCheckpoint(path, ckpt(epoch, 1 << 20));
    await updateLatest(dir, path);
    console.log(`saved ${epoch}`);
  }
}
await saveCheckpoint(join(dir, "epoch_1.safetensors"), ckpt(1));
await updateLatest(dir, join(dir, "epoch_1.safetensors"));
if (stage === "tmp") {
  // killed in the middle of writing the first file: a truncated temp file remains
  await Deno.writeFile(join(dir, `.epoch_2.safetensors.tmp-${Deno.pid}-0`), new Uint8Array(100));
  Deno.exit(137);
}
await saveCheckpoint(join(dir, "epoch_2.safetensors"), ckpt(2), {
  onStage: (s) => {
    if (s === stage) Deno.exit(137);
  },
});
await updateLatest(dir, join(dir, "epoch_2.safetensors"));
