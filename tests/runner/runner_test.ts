import { assert } from "../_assert.ts";
import {
  EpochBasedRunner,
  Hook,
  HOOK_STAGES,
  type HookStage,
  IterBasedRunner,
  RunnerLogger,
  RUNNERS,
} from "../../lib/runner/mod.ts";
import type { BaseRunner } from "../../lib/runner/mod.ts";
import { asyncLoader, fakeLoader, FakeModel, FakeOptimizer } from "./_fakes.ts";

const quiet = () => new RunnerLogger({ console: false });

/** Records `stage epoch/iter/innerIter mode` for every stage. */
class RecorderHook extends Hook {
  log: string[] = [];
  constructor() {
    super();
    for (const stage of [...HOOK_STAGES, "before_epoch", "after_epoch"] as HookStage[]) {
      const m = stage.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof Hook;
      (this as unknown as Record<string, unknown>)[m] = (r: BaseRunner) => {
        this.log.push(`${stage} e${r.epoch} i${r.iter} ii${r.innerIter} ${r.mode ?? "-"}`);
      };
    }
  }
}

Deno.test("EpochBasedRunner.run calls the stages in mmcv's order and advances epoch, iter and innerIter", async () => {
  const model = new FakeModel();
  const runner = new EpochBasedRunner({
    model,
    optimizer: new FakeOptimizer(model),
    max_epochs: 2,
    logger: quiet(),
  });
  const rec = new RecorderHook();
  runner.registerHook(rec);
  await runner.run([fakeLoader(2)], [["train", 1]]);
  assert.deepEqual(rec.log, [
    "before_run e0 i0 ii0 -",
    "before_train_epoch e0 i0 ii0 train",
    "before_train_iter e0 i0 ii0 train",
    "after_train_iter e0 i0 ii0 train",
    "before_train_iter e0 i1 ii1 train",
    "after_train_iter e0 i1 ii1 train",
    "after_train_epoch e0 i2 ii1 train",
    "before_train_epoch e1 i2 ii1 train",
    "before_train_iter e1 i2 ii0 train",
    "after_train_iter e1 i2 ii0 train",
    "before_train_iter e1 i3 ii1 train",
    "after_train_iter e1 i3 ii1 train",
    "after_train_epoch e1 i4 ii1 train",
    "after_run e2 i4 ii1 train",
  ]);
  assert.equal(runner.epoch, 2);
  assert.equal(runner.iter, 4);
  assert.equal(runner.maxIters, 4);
  assert.deepEqual(model.calls, ["trainStep:0", "trainStep:1", "trainStep:0", "trainStep:1"]);
  assert.equal(model.mode, "train");
  assert.deepEqual(Object.keys(runner.outputs!.log_vars), ["loss_cls", "loss_bbox", "loss"]);
  assert.deepEqual(runner.logBuffer.nHistory.get("loss"), [2, 2, 2, 2], "counts are num_samples");
});

Deno.test("EpochBasedRunner runs a [train, val] workflow with valStep in eval mode", async () => {
  const model = new FakeModel();
  const runner = new EpochBasedRunner({
    model,
    optimizer: new FakeOptimizer(model),
    max_epochs: 2,
    logger: quiet(),
  });
  const rec = new RecorderHook();
  runner.registerHook(rec);
  await runner.run([fakeLoader(1), asyncLoader(2)], [["train", 1], ["val", 1]]);
  assert.deepEqual(model.calls, [
    "trainStep:0",
    "valStep:0",
    "valStep:1",
    "trainStep:0",
    "valStep:0",
    "valStep:1",
  ]);
  assert.deepEqual(rec.log.filter((l) => l.includes("val_epoch")), [
    "before_val_epoch e1 i1 ii0 val",
    "after_val_epoch e1 i1 ii1 val",
    "before_val_epoch e2 i2 ii0 val",
    "after_val_epoch e2 i2 ii1 val",
  ]);
  assert.equal(model.mode, "eval");
  assert.equal(runner.iter, 2, "val iterations do not count");
});

Deno.test("EpochBasedRunner rejects a trainStep that does not return an object, and bad workflows", async () => {
  const model = new FakeModel();
  model.trainStep = (() => 3) as unknown as FakeModel["trainStep"];
  const runner = new EpochBasedRunner({ model, max_epochs: 1, logger: quiet() });
  await assert.rejects(
    runner.run([fakeLoader(1)], [["train", 1]]),
    /"model\.trainStep\(\)" must return an object/,
  );
  const r2 = new EpochBasedRunner({ model: new FakeModel(), max_epochs: 1, logger: quiet() });
  await assert.rejects(
    r2.run([fakeLoader(1)], [["train", 1], ["val", 1]]),
    /got 1 data loaders for a workflow of 2 entries/,
  );
  await assert.rejects(r2.run([fakeLoader(1)], [["test", 1]]), /Invalid workflow mode "test"/);
  assert.throws(
    () => new EpochBasedRunner({ model: new FakeModel(), max_epochs: 1, max_iters: 3 }),
    RangeError,
  );
});

Deno.test("IterBasedRunner runs max_iters, restarting the loader and counting epochs", async () => {
  const model = new FakeModel();
  const runner = new IterBasedRunner({
    model,
    optimizer: new FakeOptimizer(model),
    max_iters: 5,
    logger: quiet(),
  });
  const rec = new RecorderHook();
  runner.registerHook(rec);
  await runner.run([fakeLoader(2)], [["train", 1]]);
  assert.deepEqual(model.calls, [
    "trainStep:0",
    "trainStep:1",
    "trainStep:0",
    "trainStep:1",
    "trainStep:0",
  ]);
  assert.equal(runner.iter, 5);
  assert.equal(runner.epoch, 2);
  assert.deepEqual(rec.log.slice(0, 3), [
    "before_run e0 i0 ii0 -",
    "before_epoch e0 i0 ii0 -",
    "before_train_iter e0 i0 ii0 train",
  ]);
  assert.deepEqual(rec.log.slice(-2), ["after_epoch e2 i5 ii1 train", "after_run e2 i5 ii1 train"]);
});

Deno.test("RUNNERS builds both runners from cfg.runner", () => {
  const model = new FakeModel();
  const r = RUNNERS.build({ type: "EpochBasedRunner", max_epochs: 12 }, { model, logger: quiet() });
  assert.ok(r instanceof EpochBasedRunner);
  assert.equal(r.maxEpochs, 12);
  assert.ok(
    RUNNERS.build({ type: "IterBasedRunner", max_iters: 9 }, { model }) instanceof IterBasedRunner,
  );
});

Deno.test("OptimizerHook runs zero_grad, backward, clip and step in order and logs grad_norm", async () => {
  const model = new FakeModel();
  const optimizer = new FakeOptimizer(model);
  const order: string[] = [];
  optimizer.zeroGrad = () => void order.push("zero_grad");
  const step = optimizer.step.bind(optimizer);
  optimizer.step = () => (order.push("step"), step());
  (optimizer as unknown as { clipGradNorm: unknown }).clipGradNorm = (
    o: { max_norm: number },
  ) => (order.push(`clip ${o.max_norm}`), 3.5);
  const trainStep = model.trainStep.bind(model);
  model.trainStep = (d) => {
    const out = trainStep(d);
    return { ...out, loss: { backward: () => void order.push("backward") } };
  };
  const runner = new EpochBasedRunner({ model, optimizer, max_epochs: 1, logger: quiet() });
  runner.registerTrainingHooks({
    optimizer_config: { grad_clip: { max_norm: 35, norm_type: 2 } },
    progress_bar: false,
  });
  await runner.run([fakeLoader(2)], [["train", 1]]);
  assert.deepEqual(order, [
    "zero_grad",
    "backward",
    "clip 35",
    "step",
    "zero_grad",
    "backward",
    "clip 35",
    "step",
  ]);
  assert.deepEqual(runner.logBuffer.valHistory.get("grad_norm"), [3.5, 3.5]);
  const plain = new EpochBasedRunner({
    model: new FakeModel(),
    optimizer: new FakeOptimizer(new FakeModel()),
    max_epochs: 1,
    logger: quiet(),
  });
  plain.registerTrainingHooks({
    optimizer_config: { grad_clip: { max_norm: 1 } },
    progress_bar: false,
  });
  await assert.rejects(
    plain.run([fakeLoader(1)], [["train", 1]]),
    /grad_clip is set but the optimizer has no clipGradNorm\(\)/,
  );
});
