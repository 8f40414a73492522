import { join } from "node:path";
import { assert } from "../_assert.ts";
import {
  EpochBasedRunner,
  EvalHook,
  inferRule,
  loadCheckpoint,
  RunnerLogger,
} from "../../lib/runner/mod.ts";
import { fakeLoader, FakeModel, FakeOptimizer } from "./_fakes.ts";

async function run(hook: EvalHook, epochs: number, workDir?: string, startEpoch = 0) {
  const model = new FakeModel();
  const runner = new EpochBasedRunner({
    model,
    optimizer: new FakeOptimizer(model),
    max_epochs: epochs,
    work_dir: workDir,
    logger: new RunnerLogger({ console: false }),
  });
  runner.epoch = startEpoch;
  runner.registerHook(hook);
  await runner.run([fakeLoader(2)], [["train", 1]]);
  return runner;
}

Deno.test("EvalHook evaluates every interval epochs, or from start on, and writes metrics into the log buffer", async () => {
  const seen: number[] = [];
  const evaluate = async (r: { epoch: number }) => (seen.push(r.epoch + 1), { bbox_mAP: 0.5 });
  await run(new EvalHook({ evaluate, interval: 2 }), 5);
  assert.deepEqual(seen, [2, 4]);
  seen.length = 0;
  await run(new EvalHook({ evaluate, interval: 2, start: 3 }), 6);
  assert.deepEqual(seen, [3, 5]);
  seen.length = 0;
  // resuming past `start` also evaluates once before training
  await run(new EvalHook({ evaluate, interval: 1, start: 1 }), 4, undefined, 2);
  assert.deepEqual(seen, [3, 3, 4]);
  const r = await run(
    new EvalHook({ evaluate: async () => ({ bbox_mAP: 0.5, n: "x" }), metric: "bbox" }),
    1,
  );
  assert.equal(r.logBuffer.output.bbox_mAP, 0.5);
});

Deno.test("EvalHook passes the other evaluation keys to evaluate()", async () => {
  let got: Record<string, unknown> = {};
  await run(
    new EvalHook({
      evaluate: async (_r, kw) => ((got = kw), {}),
      interval: 1,
      metric: ["mAP", "bbox"],
      iou_thr: 0.5,
    }),
    1,
  );
  assert.deepEqual(got, { metric: ["mAP", "bbox"], iou_thr: 0.5 });
});

Deno.test("EvalHook save_best auto keeps only the best checkpoint and records it in hook_msgs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-eval-" });
  try {
    const scores = [0.2, 0.5, 0.4, 0.6];
    let k = 0;
    const runner = await run(
      new EvalHook({
        evaluate: async () => ({ bbox_mAP: scores[k++], bbox_mAP_50: 0.9 }),
        save_best: "auto",
      }),
      4,
      dir,
    );
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("best_"))
      .sort();
    assert.deepEqual(files, [
      "best_bbox_mAP_epoch_4.json",
      "best_bbox_mAP_epoch_4.optim.safetensors",
      "best_bbox_mAP_epoch_4.safetensors",
    ]);
    const msgs = runner.meta.hook_msgs as Record<string, unknown>;
    assert.equal(msgs.best_score, 0.6);
    assert.equal(msgs.best_ckpt, join(dir, "best_bbox_mAP_epoch_4.safetensors"));
    assert.equal((await loadCheckpoint(msgs.best_ckpt as string)).meta.epoch, 4);
    assert.equal(
      await Deno.stat(join(dir, "latest")).then(() => true, () => false),
      false,
      "best checkpoints do not move latest",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("inferRule follows mmcv: mAP/AR/acc are greater-is-better, loss is less-is-better", () => {
  assert.equal(inferRule("bbox_mAP"), "greater");
  assert.equal(inferRule("mAP"), "greater");
  assert.equal(inferRule("AR@100"), "greater");
  assert.equal(inferRule("val_loss"), "less");
  assert.throws(() => inferRule("speed"), /Cannot infer the save_best rule for metric "speed"/);
  assert.throws(() => new EvalHook({ evaluate: async () => ({}), save_best: "speed" }), RangeError);
  assert.throws(() => new EvalHook({ evaluate: async () => ({}), interval: 0 }), RangeError);
});
