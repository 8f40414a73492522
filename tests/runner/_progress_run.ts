// Helper for progress_bar_test.ts: trains a fake model for 2 epochs with the default hooks, which
// add the progress bar when stdout is a terminal.
import { EpochBasedRunner } from "../../lib/runner/mod.ts";
import { fakeLoader, FakeModel, FakeOptimizer } from "./_fakes.ts";

const model = new FakeModel();
const runner = new EpochBasedRunner({ model, optimizer: new FakeOptimizer(model), max_epochs: 2 });
runner.registerTrainingHooks({
  optimizer_config: {},
  log_config: { interval: 5, hooks: [{ type: "TextLoggerHook" }] },
});
await runner.run([fakeLoader(12)], [["train", 1]]);
console.log(`DONE ${runner.hooks.map((h) => h.constructor.name).join(",")}`);
