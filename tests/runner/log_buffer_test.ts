import { assert } from "../_assert.ts";
import { type LazyScalar, LogBuffer, setScalarReader } from "../../lib/runner/mod.ts";

class FakeScalar implements LazyScalar {
  readonly lazyScalar = true as const;
  constructor(readonly value: number) {}
}

Deno.test("LogBuffer.average weights values by count, over the last n entries or all", async () => {
  const buf = new LogBuffer();
  buf.update({ loss: 1, time: 0.5 }, 2);
  buf.update({ loss: 4, time: 1.5 }, 1);
  buf.update({ loss: 7 }, 1);
  await buf.resolve();
  buf.average();
  assert.equal(buf.output.loss, (1 * 2 + 4 + 7) / 4);
  assert.equal(buf.output.time, (0.5 * 2 + 1.5) / 3);
  assert.ok(buf.ready);
  buf.average(2);
  assert.equal(buf.output.loss, (4 + 7) / 2);
  assert.equal(
    buf.output.time,
    (0.5 * 2 + 1.5) / 3,
    "a key with fewer than n entries averages what it has",
  );
  assert.deepEqual(Object.keys(buf.output), ["loss", "time"]);
  buf.clearOutput();
  assert.deepEqual(buf.output, {});
  assert.equal(buf.ready, false);
  assert.equal(buf.valHistory.get("loss")!.length, 3);
  buf.clear();
  assert.equal(buf.valHistory.size, 0);
});

Deno.test("LogBuffer.resolve reads every pending lazy scalar with one reader call", async () => {
  const calls: number[] = [];
  setScalarReader(async (items) => {
    calls.push(items.length);
    return items.map((s) => (s as FakeScalar).value);
  });
  try {
    const buf = new LogBuffer();
    for (let i = 0; i < 5; i++) {
      buf.update({ loss_cls: new FakeScalar(i), loss: new FakeScalar(2 * i), time: 0.1 }, 2, i);
    }
    assert.throws(() => buf.average(), /unread GPU scalars: await resolve\(\) first/);
    assert.equal(buf.pendingCount, 15);
    assert.deepEqual(await buf.resolve(), []);
    assert.deepEqual(calls, [10], "one call for all ten lazy values");
    assert.deepEqual(buf.valHistory.get("loss_cls"), [0, 1, 2, 3, 4]);
    buf.average(5);
    assert.equal(buf.output.loss, 4);
    assert.deepEqual(await buf.resolve(), []);
    assert.deepEqual(calls, [10], "nothing pending, no call");
  } finally {
    setScalarReader(undefined);
  }
});

Deno.test("LogBuffer.resolve records non-finite values with their key and iteration", async () => {
  setScalarReader(async (items) => items.map((s) => (s as FakeScalar).value));
  try {
    const buf = new LogBuffer();
    buf.update({ loss: new FakeScalar(1) }, 1, 0);
    buf.update({ loss: new FakeScalar(NaN), grad_norm: Infinity }, 1, 1);
    const found = await buf.resolve();
    assert.equal(found.length, 2);
    assert.equal(found[0].key, "loss");
    assert.equal(found[0].iter, 1);
    assert.ok(Number.isNaN(found[0].value));
    assert.deepEqual(found[1], { key: "grad_norm", iter: 1, value: Infinity });
    assert.equal(buf.nonFinite.length, 2);
    buf.clear();
    assert.equal(buf.nonFinite.length, 0);
  } finally {
    setScalarReader(undefined);
  }
});

Deno.test("LogBuffer rejects values that are neither numbers nor lazy scalars, and lazy values without a reader", async () => {
  const buf = new LogBuffer();
  assert.throws(
    () => buf.update({ loss: "1" as unknown as number }),
    /Cannot log "loss": expected a number or a lazy GPU scalar, got string 1/,
  );
  buf.update({ loss: new FakeScalar(1) });
  await assert.rejects(buf.resolve(), /no scalar reader is installed/);
  assert.equal(buf.pendingCount, 1, "the pending values are kept for a later resolve");
});
