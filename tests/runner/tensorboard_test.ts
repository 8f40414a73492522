import { assert } from "../_assert.ts";
import { EpochBasedRunner, EvalHook, RunnerLogger } from "../../lib/runner/mod.ts";
import {
  crc32c,
  maskedCrc32c,
  readEventFile,
  scalarEvent,
  tfRecord,
} from "../../lib/utils/tfevents.ts";
import { fakeLoader, FakeModel, FakeOptimizer } from "./_fakes.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("CRC-32C matches the standard check value and RFC 3720's test vectors; TFRecord masks it", () => {
  assert.equal(crc32c(bytes("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  // mask: rotate right by 15, add 0xa282ead8 (TensorFlow's crc32c::Mask)
  const c = 0xe3069283;
  assert.equal(
    maskedCrc32c(bytes("123456789")),
    ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0,
  );
  const rec = tfRecord(bytes("abc"));
  assert.equal(rec.length, 8 + 4 + 3 + 4);
  assert.equal(new DataView(rec.buffer).getBigUint64(0, true), 3n);
});

Deno.test("scalar events parse back: tags, values as float32, steps; a flipped bit fails the CRC", () => {
  const ev = scalarEvent(1700000000.5, 123456789012, [["train/loss", 0.1], [
    "learning_rate",
    0.02,
  ]]);
  const file = new Uint8Array([...tfRecord(ev), ...tfRecord(scalarEvent(1, -1, [["x", 3]]))]);
  const [a, b] = readEventFile(file);
  assert.equal(a.wallTime, 1700000000.5);
  assert.equal(a.step, 123456789012);
  assert.deepEqual(a.scalars, [["train/loss", Math.fround(0.1)], [
    "learning_rate",
    Math.fround(0.02),
  ]]);
  assert.equal(b.step, -1);
  const bad = file.slice();
  bad[20] ^= 1;
  assert.throws(() => readEventFile(bad), /Bad data CRC of the event record at byte 0/);
});

Deno.test("TensorboardLoggerHook writes mmcv's tags at iter + 1 into {work_dir}/tf_logs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-tb-" });
  try {
    const model = new FakeModel();
    const logger = new RunnerLogger();
    logger.setConsoleSink(() => {});
    const runner = new EpochBasedRunner({
      model,
      optimizer: new FakeOptimizer(model),
      max_epochs: 2,
      work_dir: dir,
      logger,
    });
    runner.registerTrainingHooks({
      optimizer_config: {},
      log_config: {
        interval: 2,
        hooks: [{ type: "TextLoggerHook" }, { type: "TensorboardLoggerHook" }],
      },
      check_invalid_loss: false,
      progress_bar: false,
    });
    runner.registerHook(
      new EvalHook({ evaluate: async () => ({ bbox_mAP: 0.25 }), eval_iter_num: 1 }),
      "LOW",
    );
    await runner.run([fakeLoader(4)], [["train", 1]]);
    const names = [...Deno.readDirSync(`${dir}/tf_logs`)].map((e) => e.name);
    assert.equal(names.length, 1);
    assert.match(names[0], /^events\.out\.tfevents\.\d{10}\..+$/);
    const events = readEventFile(await Deno.readFile(`${dir}/tf_logs/${names[0]}`));
    assert.equal(events[0].fileVersion, "brain.Event:2");
    const steps = events.slice(1).map((e) => e.step);
    // train logs at iters 2, 4 of epoch 1 and 6, 8 of epoch 2; val after each epoch
    assert.deepEqual(
      steps.filter((_, i) => events[i + 1].scalars.some(([t]) => t.startsWith("train/"))),
      [2, 4, 6, 8],
    );
    const train = events.find((e) => e.scalars.some(([t]) => t === "train/loss"))!;
    const tags = train.scalars.map(([t]) => t);
    assert.ok(tags.includes("learning_rate") && tags.includes("momentum"), tags.join(","));
    assert.ok(!tags.includes("train/time") && !tags.includes("train/data_time"), tags.join(","));
    const val = events.filter((e) => e.scalars.some(([t]) => t === "val/bbox_mAP"));
    // mmcv logs evaluation after the epoch, when runner.iter has moved on: step iter + 1
    assert.deepEqual(val.map((e) => e.step), [5, 9]);
    assert.equal(val[0].scalars.find(([t]) => t === "val/bbox_mAP")![1], 0.25);
    // the text log has the same losses
    const json = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".log.json"));
    if (json) {
      const recs = (await Deno.readTextFile(`${dir}/${json.name}`)).trim().split("\n").map((l) =>
        JSON.parse(l)
      ).filter((r) => r.mode === "train");
      assert.equal(Math.fround(recs[0].loss), train.scalars.find(([t]) => t === "train/loss")![1]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
