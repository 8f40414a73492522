import { assert } from "../_assert.ts";
import {
  EpochBasedRunner,
  EvalHook,
  getPriority,
  Hook,
  HOOKS,
  type HookStage,
  Priority,
  RunnerLogger,
} from "../../lib/runner/mod.ts";
import { FakeModel, FakeOptimizer } from "./_fakes.ts";

class Named extends Hook {
  constructor(readonly name: string) {
    super();
  }
}

Deno.test("getPriority accepts mmcv's names and 0-100, and rejects anything else", () => {
  assert.deepEqual(
    [
      "HIGHEST",
      "VERY_HIGH",
      "HIGH",
      "ABOVE_NORMAL",
      "NORMAL",
      "BELOW_NORMAL",
      "LOW",
      "VERY_LOW",
      "LOWEST",
    ].map(getPriority),
    [0, 10, 30, 40, 50, 60, 70, 90, 100],
  );
  assert.equal(getPriority("normal"), Priority.NORMAL);
  assert.equal(getPriority(35), 35);
  assert.throws(() => getPriority(101), RangeError);
  assert.throws(() => getPriority("MEDIUM"), /Invalid hook priority "MEDIUM"/);
});

Deno.test("registerHook sorts by priority and keeps registration order for equal priorities", () => {
  const runner = new EpochBasedRunner({
    model: new FakeModel(),
    max_epochs: 1,
    logger: new RunnerLogger({ console: false }),
  });
  const add = (name: string, p: number | string) => runner.registerHook(new Named(name), p);
  add("n1", "NORMAL");
  add("low", "LOW");
  add("vh", "VERY_HIGH");
  add("n2", "NORMAL");
  add("n3", 50);
  add("highest", 0);
  add("lowest", "LOWEST");
  add("vh2", 10);
  assert.deepEqual(runner.hooks.map((h) => (h as Named).name), [
    "highest",
    "vh",
    "vh2",
    "n1",
    "n2",
    "n3",
    "low",
    "lowest",
  ]);
});

Deno.test("registerTrainingHooks reproduces the hook order mmdetection logs (spec section 4.3)", () => {
  const model = new FakeModel();
  const runner = new EpochBasedRunner({
    model,
    optimizer: new FakeOptimizer(model),
    max_epochs: 12,
    logger: new RunnerLogger({ console: false }),
  });
  runner.registerTrainingHooks({
    lr_config: {
      policy: "step",
      warmup: "linear",
      warmup_iters: 500,
      warmup_ratio: 0.001,
      step: [8, 11],
    },
    optimizer_config: { grad_clip: null },
    checkpoint_config: { interval: 1 },
    log_config: { interval: 50, hooks: [{ type: "TextLoggerHook" }] },
    custom_hooks_config: [{ type: "NumClassCheckHook" }],
    check_invalid_loss: false,
    progress_bar: false,
  });
  runner.registerHook(new EvalHook({ evaluate: async () => ({}) }), "LOW"); // mmdet 2.2x
  const order = (stage: HookStage) =>
    runner.hooks.filter((h) => h.getTriggeredStages().includes(stage)).map((h) =>
      h.constructor.name
    );
  assert.deepEqual(order("before_train_epoch"), [
    "StepLrUpdaterHook",
    "NumClassCheckHook",
    "IterTimerHook",
    "EvalHook",
    "TextLoggerHook",
  ]);
  assert.deepEqual(order("before_train_iter"), ["StepLrUpdaterHook", "IterTimerHook", "EvalHook"]);
  assert.deepEqual(order("after_train_iter"), [
    "OptimizerHook",
    "CheckpointHook",
    "IterTimerHook",
    "EvalHook",
    "TextLoggerHook",
  ]);
  assert.deepEqual(order("after_train_epoch"), ["CheckpointHook", "EvalHook", "TextLoggerHook"]);
  assert.deepEqual(runner.hooks.map((h) => h.priority), [10, 40, 50, 50, 70, 70, 90]);
  assert.match(
    runner.getHookInfo(),
    /after_train_iter:\n\(ABOVE_NORMAL\) OptimizerHook\n\(NORMAL {6}\) CheckpointHook/,
  );
});

Deno.test("registerTrainingHooks maps lr_config.policy like mmcv and adds CheckInvalidLossHook at the log interval", () => {
  const make = (lr_config: Record<string, unknown>) => {
    const r = new EpochBasedRunner({
      model: new FakeModel(),
      max_epochs: 1,
      logger: new RunnerLogger({ console: false }),
    });
    r.registerTrainingHooks({
      lr_config,
      log_config: { interval: 7, hooks: [] },
      progress_bar: false,
    });
    return r.hooks;
  };
  assert.equal(make({ policy: "step", step: [1] })[0].constructor.name, "StepLrUpdaterHook");
  assert.equal(
    make({ policy: "CosineAnnealing", min_lr: 0 })[0].constructor.name,
    "CosineAnnealingLrUpdaterHook",
  );
  assert.equal(make({ policy: "poly" })[0].constructor.name, "PolyLrUpdaterHook");
  assert.equal(make({ policy: "fixed" })[0].constructor.name, "FixedLrUpdaterHook");
  const hooks = make({ policy: "fixed" });
  const check = hooks.find((h) => h.constructor.name === "CheckInvalidLossHook") as unknown as {
    interval: number;
  };
  assert.equal(check.interval, 7);
  assert.throws(
    () => make({ policy: "stpe" }),
    /Cannot build "StpeLrUpdaterHook": type is not in the HOOKS registry; did you mean "StepLrUpdaterHook"\?/,
  );
  assert.ok(HOOKS.has("TextLoggerHook") && HOOKS.has("EvalHook") && HOOKS.has("NumClassCheckHook"));
});

Deno.test("Hook.getTriggeredStages counts generic overrides for both train and val stages", () => {
  class Generic extends Hook {
    override beforeEpoch(): void {}
    override afterTrainIter(): void {}
  }
  assert.deepEqual(new Generic().getTriggeredStages(), [
    "before_train_epoch",
    "after_train_iter",
    "before_val_epoch",
  ]);
  assert.deepEqual(new Hook().getTriggeredStages(), []);
});
