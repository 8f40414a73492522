import { assert } from "../_assert.ts";
import { cpuLossOps, type LossOps, parseLosses } from "../../lib/runner/mod.ts";

Deno.test("parseLosses takes means, sums lists and totals the keys containing 'loss'", () => {
  const { loss, log_vars } = parseLosses({
    loss_cls: new Float32Array([1, 2, 3]),
    loss_bbox: [new Float32Array([1, 1]), 0.5],
    acc: 0.75,
    my_loss_aux: 0.25,
  }, cpuLossOps);
  assert.deepEqual(Object.keys(log_vars), ["loss_cls", "loss_bbox", "acc", "my_loss_aux", "loss"]);
  assert.equal(log_vars.loss_cls, 2);
  assert.equal(log_vars.loss_bbox, 1.5);
  assert.equal(log_vars.acc, 0.75);
  assert.equal(loss, 2 + 1.5 + 0.25);
  assert.equal(log_vars.loss, loss);
});

Deno.test("parseLosses works through an injected tensor interface", () => {
  // symbolic "tensors" record the expression built
  const ops: LossOps<string> = {
    isTensor: (v): v is string => typeof v === "string",
    mean: (t) => `mean(${t})`,
    add: (a, b) => `${a}+${b}`,
  };
  const { loss } = parseLosses({ loss_cls: ["p3", "p4"], loss_bbox: "b" }, ops);
  assert.equal(loss, "mean(p3)+mean(p4)+mean(b)");
});

Deno.test("parseLosses rejects entries that are not tensors and dicts without a loss", () => {
  assert.throws(
    () => parseLosses({ loss_cls: { a: 1 } }, cpuLossOps),
    /Cannot parse loss "loss_cls": it is not a tensor/,
  );
  assert.throws(() => parseLosses({ loss_cls: [] }, cpuLossOps), TypeError);
  assert.throws(() => parseLosses({ acc: 1 }, cpuLossOps), /no key contains "loss" \(keys: acc\)/);
});
