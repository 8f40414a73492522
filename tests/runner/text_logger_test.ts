import { join } from "node:path";
import { assert } from "../_assert.ts";
import {
  EpochBasedRunner,
  EvalHook,
  formatEta,
  formatLogLine,
  type LazyScalar,
  RunnerLogger,
  setScalarReader,
  TextLoggerHook,
} from "../../lib/runner/mod.ts";
import { fakeLoader, FakeModel, FakeOptimizer } from "./_fakes.ts";

Deno.test("formatLogLine writes mmcv's train line: epoch/iter, lr with a 2-digit exponent, eta, times, memory, losses", () => {
  const line = formatLogLine(
    {
      mode: "train",
      epoch: 1,
      iter: 900,
      lr: 0.01,
      memory: 3483,
      data_time: 0.0091,
      loss_cls: 1.13721,
      loss_bbox: 0.57449,
      loss: 1.7117,
      time: 0.1924,
    },
    { byEpoch: true, loaderLength: 43976, eta: formatEta(107290) },
  );
  assert.equal(
    line,
    "Epoch [1][900/43976]\tlr: 1.000e-02, eta: 1 day, 5:48:10, time: 0.192, data_time: 0.009, memory: 3483, " +
      "loss_cls: 1.1372, loss_bbox: 0.5745, loss: 1.7117",
  );
  assert.equal(
    formatLogLine({ mode: "train", epoch: 1, iter: 20, lr: 0.02, loss: 1, time: 1, data_time: 0 }, {
      byEpoch: false,
      maxIters: 100,
      eta: "0:01:20",
    }),
    "Iter [20/100]\tlr: 2.000e-02, eta: 0:01:20, time: 1.000, data_time: 0.000, loss: 1.0000",
  );
});

Deno.test("formatLogLine writes the Epoch(val) line with metrics and the copypaste string", () => {
  const line = formatLogLine(
    {
      mode: "val",
      epoch: 3,
      iter: 200,
      lr: 0.01,
      bbox_mAP: 0.093,
      bbox_mAP_50: 0.252,
      bbox_mAP_copypaste: "0.093 0.252",
    },
    { byEpoch: true },
  );
  assert.equal(
    line,
    "Epoch(val) [3][200]\tbbox_mAP: 0.0930, bbox_mAP_50: 0.2520, bbox_mAP_copypaste: 0.093 0.252",
  );
});

Deno.test("formatEta prints Python's timedelta", () => {
  assert.equal(formatEta(0), "0:00:00");
  assert.equal(formatEta(59.9), "0:00:59");
  assert.equal(formatEta(3600 * 25 + 61), "1 day, 1:01:01");
  assert.equal(formatEta(86400 * 3), "3 days, 0:00:00");
});

class FakeScalar implements LazyScalar {
  readonly lazyScalar = true as const;
  constructor(readonly value: number) {}
}

Deno.test("TextLoggerHook logs every interval with one scalar readback, writes .log and .log.json, and the val line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-log-" });
  let reads = 0;
  setScalarReader(async (items) => {
    reads++;
    return items.map((s) => (s as FakeScalar).value);
  });
  try {
    const model = new FakeModel((s) => new FakeScalar(s < 4 ? 1 : 3)); // lazy loss_cls and loss
    const lines: string[] = [];
    const logger = new RunnerLogger();
    logger.setConsoleSink((l) => lines.push(l));
    const runner = new EpochBasedRunner({
      model,
      optimizer: new FakeOptimizer(model),
      max_epochs: 2,
      work_dir: dir,
      logger,
      meta: { exp_name: "t.ts", seed: 0 },
      memory_mb: () => 12.4,
    });
    runner.timestamp = "20240101_000000";
    runner.registerTrainingHooks({
      optimizer_config: {},
      log_config: { interval: 4, hooks: [{ type: "TextLoggerHook" }] },
      check_invalid_loss: false,
      progress_bar: false,
    });
    runner.registerHook(
      new EvalHook({
        evaluate: async () => ({ bbox_mAP: 0.25, bbox_mAP_copypaste: "0.250" }),
        eval_iter_num: 7,
      }),
      "LOW",
    );
    await runner.run([fakeLoader(10)], [["train", 1]]);
    const train = lines.filter((l) => l.includes("\tlr: "));
    assert.equal(
      train.length,
      4,
      "iterations 4 and 8 of each 10-iteration epoch; the partial rest is skipped",
    );
    assert.match(
      train[0],
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - wgdet - INFO - Epoch \[1\]\[4\/10\]\tlr: 1\.000e-02, eta: \d+:\d\d:\d\d, time: \d\.\d{3}, data_time: \d\.\d{3}, memory: 12, loss_cls: 1\.0000, loss_bbox: 0\.5000, loss: 1\.0000$/,
    );
    assert.match(
      train[1],
      /Epoch \[1\]\[8\/10\].* loss_cls: 3\.0000, loss_bbox: 0\.5000, loss: 3\.0000$/,
    );
    const val = lines.filter((l) => l.includes("Epoch(val)"));
    assert.deepEqual(val.map((l) => l.split(" - INFO - ")[1]), [
      "Epoch(val) [1][7]\tbbox_mAP: 0.2500, bbox_mAP_copypaste: 0.250",
      "Epoch(val) [2][7]\tbbox_mAP: 0.2500, bbox_mAP_copypaste: 0.250",
    ]);
    assert.equal(reads, 4, "one readback per logging interval");
    const text = await Deno.readTextFile(join(dir, "20240101_000000.log"));
    assert.equal(text.trim().split("\n").filter((l) => l.includes("Epoch")).length, 6);
    const json = (await Deno.readTextFile(join(dir, "20240101_000000.log.json"))).trim().split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(json[0], { exp_name: "t.ts", seed: 0 });
    assert.deepEqual(Object.keys(json[1]), [
      "mode",
      "epoch",
      "iter",
      "lr",
      "memory",
      "data_time",
      "loss_cls",
      "loss_bbox",
      "loss",
      "time",
    ]);
    assert.deepEqual([
      json[1].mode,
      json[1].epoch,
      json[1].iter,
      json[1].lr,
      json[1].memory,
      json[1].loss,
    ], ["train", 1, 4, 0.01, 12, 1]);
    assert.ok(
      String(json[1].time).replace(/^0\./, "").length <= 5,
      `time rounded to 5 decimals: ${json[1].time}`,
    );
    assert.deepEqual(json[3], {
      mode: "val",
      epoch: 1,
      iter: 7,
      lr: 0.01,
      bbox_mAP: 0.25,
      bbox_mAP_copypaste: "0.250",
    });
    assert.equal(json.length, 7);
  } finally {
    setScalarReader(undefined);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TextLoggerHook with ignore_last false logs the partial last interval of an epoch", async () => {
  const model = new FakeModel();
  const lines: string[] = [];
  const logger = new RunnerLogger();
  logger.setConsoleSink((l) => lines.push(l));
  const runner = new EpochBasedRunner({
    model,
    optimizer: new FakeOptimizer(model),
    max_epochs: 1,
    logger,
  });
  runner.registerTrainingHooks({
    log_config: { interval: 4, hooks: [new TextLoggerHook({ interval: 4, ignore_last: false })] },
    progress_bar: false,
  });
  await runner.run([fakeLoader(6)], [["train", 1]]);
  assert.deepEqual(
    lines.filter((l) => l.includes("\tlr")).map((l) => l.match(/Epoch \[1\]\[(\d+)\/6\]/)![1]),
    ["4", "6"],
  );
});
