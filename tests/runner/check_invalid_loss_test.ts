import { join } from "node:path";
import { assert } from "../_assert.ts";
import {
  EpochBasedRunner,
  type LazyScalar,
  NumClassCheckHook,
  RunnerLogger,
  setScalarReader,
} from "../../lib/runner/mod.ts";
import { ConfigError, NonFiniteLossError } from "../../lib/utils/errors.ts";
import { fakeLoader, FakeModel, FakeOptimizer } from "./_fakes.ts";

class FakeScalar implements LazyScalar {
  readonly lazyScalar = true as const;
  constructor(readonly value: number) {}
}

Deno.test("a NaN loss stops training at the next check with NonFiniteLossError, without per-step reads, keeping the last good checkpoint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-nan-" });
  let reads = 0;
  setScalarReader(async (items) => {
    reads++;
    return items.map((s) => (s as FakeScalar).value);
  });
  try {
    const model = new FakeModel((s) => new FakeScalar(s === 6 ? NaN : 1));
    const runner = new EpochBasedRunner({
      model,
      optimizer: new FakeOptimizer(model),
      max_epochs: 3,
      work_dir: dir,
      logger: new RunnerLogger({ console: false }),
    });
    runner.registerTrainingHooks({
      optimizer_config: {},
      checkpoint_config: { interval: 1 },
      log_config: { interval: 5, hooks: [] },
      progress_bar: false,
    });
    const err = await runner.run([fakeLoader(4)], [["train", 1]]).then(() => null, (e) => e);
    assert.ok(err instanceof NonFiniteLossError, String(err));
    assert.match(
      err.message,
      /^Loss is not finite at iteration 7 \(epoch 2\): loss_cls = NaN, loss = NaN: training stopped; the last good checkpoint is ".*epoch_1\.safetensors"/,
    );
    assert.equal(runner.iter, 7, "stopped at the end-of-epoch check right after the bad step");
    assert.ok(reads <= 3, `${reads} readbacks for 8 steps`);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".json")).sort(),
      ["epoch_1.json"],
    );
    assert.equal((await Deno.readTextFile(join(dir, "latest"))).trim(), "epoch_1.safetensors");
  } finally {
    setScalarReader(undefined);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CheckpointHook refuses to save after a non-finite loss even without CheckInvalidLossHook", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-nan-" });
  try {
    const model = new FakeModel((s) => (s === 1 ? Infinity : 1));
    const runner = new EpochBasedRunner({
      model,
      optimizer: new FakeOptimizer(model),
      max_epochs: 2,
      work_dir: dir,
      logger: new RunnerLogger({ console: false }),
    });
    runner.registerTrainingHooks({
      optimizer_config: {},
      checkpoint_config: { interval: 1 },
      check_invalid_loss: false,
      progress_bar: false,
    });
    await assert.rejects(
      runner.run([fakeLoader(3)], [["train", 1]]),
      /Loss is not finite at iteration 2 \(epoch 1\): loss_cls = Infinity, loss = Infinity: .*no checkpoint was saved yet/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("NumClassCheckHook compares every module's class count with the dataset's CLASSES", async () => {
  const make = (numClasses: number, classes?: string[] | string) => {
    const model = new FakeModel();
    model.numClasses = numClasses;
    const warnings: string[] = [];
    const logger = new RunnerLogger();
    logger.setConsoleSink((l) => warnings.push(l));
    const runner = new EpochBasedRunner({
      model,
      optimizer: new FakeOptimizer(model),
      max_epochs: 1,
      logger,
    });
    runner.registerHook(new NumClassCheckHook());
    const loader = { ...fakeLoader(1), dataset: { CLASSES: classes } };
    return { run: () => runner.run([loader], [["train", 1]]), warnings };
  };
  await make(3, ["a", "b", "c"]).run();
  const err = await make(80, ["a", "b", "c"]).run().then(() => null, (e) => e);
  assert.ok(err instanceof ConfigError);
  assert.match(
    err.message,
    /The num_classes \(80\) in Object "bbox_head" does not match the length of CLASSES \(3\) in Object: set model\.bbox_head\.num_classes to 3/,
  );
  await assert.rejects(make(3, "abc").run(), TypeError);
  const none = make(3, undefined);
  await none.run();
  assert.ok(none.warnings.some((w) => w.includes("WARNING - Please set CLASSES")));
});
