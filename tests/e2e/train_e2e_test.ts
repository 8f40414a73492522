import { assert } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { trainDetector } from "../../lib/apis/train.ts";
import { loadCheckpoint } from "../../lib/runner/checkpoint.ts";
import { NonFiniteLossError } from "../../lib/utils/errors.ts";
import { quietLogger, tinyConfig, trainLogs } from "./_tiny.ts";

async function train(
  extra: string[],
  workDir: string,
  opts: { validate?: boolean; timestamp?: string } = {},
) {
  const cfg = await tinyConfig(extra);
  const timestamp = opts.timestamp ?? "20260101_000000";
  const r = await trainDetector(cfg, {
    workDir,
    timestamp,
    validate: opts.validate ?? false,
    seed: 0,
    logger: quietLogger(workDir, timestamp),
  });
  r.model.dispose();
  return r;
}

gpuTest(
  "training the tiny RetinaNet on synthetic shapes lowers the loss by at least 10% in 40 iterations",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "wgdet-e2e-" });
    try {
      // 8 images, batch 4: 2 iterations per epoch, 20 epochs
      await train([
        "runner.max_epochs=20",
        "lr_config.step=[100]",
        "checkpoint_config.interval=100",
      ], dir);
      const logs = await trainLogs(dir);
      assert.equal(logs.length, 40);
      const first = (logs[0].loss + logs[1].loss) / 2;
      const last = (logs[38].loss + logs[39].loss) / 2;
      assert.ok(Number.isFinite(last), `final loss ${last}`);
      assert.ok(
        last < 0.9 * first,
        `loss fell from ${first.toFixed(4)} to ${last.toFixed(4)}, less than 10%`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

gpuTest(
  "resume_from continues exactly: iteration k+1 of a resumed run equals the uninterrupted run",
  async () => {
    const a = await Deno.makeTempDir({ prefix: "wgdet-e2e-a-" });
    const b = await Deno.makeTempDir({ prefix: "wgdet-e2e-b-" });
    try {
      await train(["runner.max_epochs=3"], a);
      const full = await trainLogs(a);
      // second run: resume from the epoch-2 checkpoint of the first and train epoch 3
      await train(["runner.max_epochs=3", `+resume_from=${a}/epoch_2.safetensors`], b, {
        timestamp: "20260101_000001",
      });
      const resumed = await trainLogs(b);
      assert.equal(resumed.length, 2, "only epoch 3 is trained after resuming");
      for (let i = 0; i < 2; i++) {
        const x = full[4 + i], y = resumed[i];
        assert.equal(y.epoch, 3);
        assert.equal(y.lr, x.lr);
        for (const k of ["loss_cls", "loss_bbox", "loss"]) {
          assert.ok(
            Math.abs(x[k] - y[k]) <= 1e-5 * Math.abs(x[k]),
            `${k} at epoch 3 iteration ${i + 1}: resumed ${y[k]} vs uninterrupted ${x[k]}`,
          );
        }
      }
      const wa = (await loadCheckpoint(`${a}/epoch_3.safetensors`)).stateDict;
      const wb = (await loadCheckpoint(`${b}/epoch_3.safetensors`)).stateDict;
      let maxDiff = 0;
      for (const k of Object.keys(wa)) {
        const da = wa[k].data, db = wb[k].data;
        for (let i = 0; i < da.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs(Number(da[i]) - Number(db[i])));
        }
      }
      assert.ok(maxDiff < 1e-5, `final weights differ by ${maxDiff}`);
    } finally {
      await Deno.remove(a, { recursive: true });
      await Deno.remove(b, { recursive: true });
    }
  },
);

gpuTest(
  "a non-finite loss stops training naming the iteration, and the last good checkpoint stays",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "wgdet-e2e-nan-" });
    try {
      // epoch 1 trains normally; from epoch 2 the learning rate is multiplied by 1e30
      await train(["runner.max_epochs=4", "lr_config.step=[1]", "+lr_config.gamma=1e30"], dir).then(
        () => assert.fail("training did not stop"),
        (e) => {
          assert.ok(e instanceof NonFiniteLossError, `expected NonFiniteLossError, got ${e}`);
          assert.match(e.message, /iter/i);
          assert.match(e.message, /loss/);
        },
      );
      const ck = await loadCheckpoint(`${dir}/epoch_1.safetensors`);
      for (const [k, t] of Object.entries(ck.stateDict)) {
        for (const v of t.data as Float32Array) {
          if (!Number.isFinite(v)) {
            assert.fail(`${k} holds a non-finite value`);
          }
        }
      }
      const names = [];
      for await (const e of Deno.readDir(dir)) names.push(e.name);
      assert.ok(!names.includes("epoch_2.safetensors"), "no checkpoint after the non-finite loss");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
