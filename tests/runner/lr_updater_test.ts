import { assert, assertClose } from "../_assert.ts";
import {
  annealingCos,
  EpochBasedRunner,
  formatExp,
  IterBasedRunner,
  polyLr,
  RunnerLogger,
  stepLr,
  warmupLr,
} from "../../lib/runner/mod.ts";
import { fakeLoader, FakeModel, FakeOptimizer } from "./_fakes.ts";

/** Trains with only the lr hook and the optimizer hook; returns the lr used at every step. */
async function lrsOf(
  lr_config: Record<string, unknown>,
  opts: { epochs?: number; iters?: number; perEpoch: number; lr?: number },
) {
  const model = new FakeModel();
  const optimizer = new FakeOptimizer(model, opts.lr ?? 0.01);
  const logger = new RunnerLogger({ console: false });
  const runner = opts.iters
    ? new IterBasedRunner({ model, optimizer, max_iters: opts.iters, logger })
    : new EpochBasedRunner({ model, optimizer, max_epochs: opts.epochs, logger });
  runner.registerTrainingHooks({
    lr_config,
    optimizer_config: {},
    timer_config: null,
    check_invalid_loss: false,
    progress_bar: false,
  });
  await runner.run([fakeLoader(opts.perEpoch)], [["train", 1]]);
  return { lrs: optimizer.lrsAtStep, optimizer };
}

Deno.test("StepLrUpdaterHook with linear warmup gives the spec's values (R-50 1x: 0.01, 500 warmup iters, steps 8 and 11)", async () => {
  const { lrs, optimizer } = await lrsOf(
    { policy: "step", warmup: "linear", warmup_iters: 500, warmup_ratio: 0.001, step: [8, 11] },
    { epochs: 12, perEpoch: 100 },
  );
  assert.equal(lrs.length, 1200);
  assertClose(lrs[0], 1.0e-5, { rtol: 1e-9, atol: 0 });
  assert.equal(formatExp(lrs[49]), "9.890e-04");
  assert.equal(formatExp(lrs[99]), "1.988e-03");
  assert.equal(formatExp(lrs[499]), "9.980e-03");
  assertClose([lrs[500], lrs[501], lrs[799]], [0.01, 0.01, 0.01], { rtol: 1e-12, atol: 0 });
  assertClose(lrs[800], 0.001, { rtol: 1e-12, atol: 0 }); // epoch index 8
  assertClose(lrs[1099], 0.001, { rtol: 1e-12, atol: 0 });
  assertClose(lrs[1100], 0.0001, { rtol: 1e-12, atol: 0 }); // epoch index 11
  assert.equal(optimizer.paramGroups[0].initial_lr, 0.01);
});

Deno.test("warmup kinds constant and exp, and warmup_by_epoch", async () => {
  const c = await lrsOf(
    { policy: "fixed", warmup: "constant", warmup_iters: 3, warmup_ratio: 0.1 },
    { epochs: 1, perEpoch: 5 },
  );
  assertClose(c.lrs, [0.001, 0.001, 0.001, 0.01, 0.01], { rtol: 1e-12, atol: 0 });
  const e = await lrsOf({ policy: "fixed", warmup: "exp", warmup_iters: 2, warmup_ratio: 0.01 }, {
    epochs: 1,
    perEpoch: 3,
  });
  assertClose(e.lrs, [0.01 * 0.01, 0.01 * 0.01 ** 0.5, 0.01], { rtol: 1e-12, atol: 0 });
  const byEpoch = await lrsOf({
    policy: "fixed",
    warmup: "linear",
    warmup_iters: 1,
    warmup_ratio: 0.5,
    warmup_by_epoch: true,
  }, { epochs: 2, perEpoch: 2 });
  assertClose(byEpoch.lrs, [0.005, 0.0075, 0.01, 0.01], { rtol: 1e-12, atol: 0 });
});

Deno.test("CosineAnnealing and poly policies by epoch and by iteration", async () => {
  const cos = await lrsOf({ policy: "CosineAnnealing", min_lr_ratio: 0.1 }, {
    epochs: 4,
    perEpoch: 1,
  });
  assertClose(
    cos.lrs,
    [0, 1, 2, 3].map((e) => 0.001 + 0.5 * 0.009 * (Math.cos(Math.PI * e / 4) + 1)),
    { rtol: 1e-12, atol: 0 },
  );
  const poly = await lrsOf({ policy: "poly", power: 2, min_lr: 0.001, by_epoch: false }, {
    iters: 4,
    perEpoch: 3,
  });
  assertClose(poly.lrs, [0, 1, 2, 3].map((i) => 0.009 * (1 - i / 4) ** 2 + 0.001), {
    rtol: 1e-12,
    atol: 0,
  });
  const stepIter = await lrsOf({
    policy: "step",
    step: 2,
    gamma: 0.5,
    by_epoch: false,
    warmup: "linear",
    warmup_iters: 1,
    warmup_ratio: 0.5,
  }, { iters: 5, perEpoch: 10 });
  assertClose(stepIter.lrs, [0.005, 0.01, 0.005, 0.005, 0.0025], { rtol: 1e-12, atol: 0 });
});

Deno.test("lr helpers match mmcv's formulas", () => {
  assert.equal(warmupLr(0.01, 250, "linear", 500, 0.001), 0.01 * (1 - 0.5 * 0.999));
  assert.equal(stepLr(0.01, 11, [8, 11]), 0.01 * 0.1 ** 2);
  assert.equal(stepLr(0.01, 11, [8, 11], 0.1, 5e-4), 5e-4, "min_lr clamps");
  assert.equal(stepLr(0.01, 7, 3), 0.01 * 0.1 ** 2);
  assert.equal(annealingCos(1, 0, 0.5), 0.5);
  assert.equal(polyLr(1, 1, 2, 1, 0), 0.5);
  assert.equal(formatExp(0.01), "1.000e-02");
  assert.equal(formatExp(1.2345e-10), "1.234e-10");
  assert.equal(formatExp(123), "1.230e+02");
});

Deno.test("LrUpdaterHook rejects bad warmup settings and a CosineAnnealing without a target", async () => {
  await assert.rejects(
    lrsOf({ policy: "fixed", warmup: "cubic", warmup_iters: 5 }, { epochs: 1, perEpoch: 1 }),
    /Invalid lr_config\.warmup "cubic"/,
  );
  await assert.rejects(
    lrsOf({ policy: "fixed", warmup: "linear", warmup_iters: 0 }, { epochs: 1, perEpoch: 1 }),
    /warmup_iters 0/,
  );
  await assert.rejects(
    lrsOf({ policy: "fixed", warmup: "linear", warmup_iters: 2, warmup_ratio: 0 }, {
      epochs: 1,
      perEpoch: 1,
    }),
    /warmup_ratio 0/,
  );
  await assert.rejects(
    lrsOf({ policy: "CosineAnnealing" }, { epochs: 1, perEpoch: 1 }),
    /exactly one of min_lr and min_lr_ratio/,
  );
});
