/**
 * Unknown config keys at any depth (`Registry.build` tracks what each component reads) and
 * value checks where the components read them (`max_epochs`, `interval`, `lr`, …), including
 * values that arrive through `--cfg-options`.
 */
import { assert } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { applyCfgOptions, loadConfig } from "../../lib/config/mod.ts";
import { buildModel, buildSplit, checkPlainSections } from "../../lib/apis/common.ts";
import { Registry } from "../../lib/utils/registry.ts";
import { checkDictKeys, setCfgPath, TEST_CFG_SCHEMA } from "../../lib/utils/cfg_rules.ts";
import { HOOKS, RUNNERS } from "../../lib/runner/registry.ts";
import "../../lib/runner/mod.ts";
import { ConfigError } from "../../lib/utils/errors.ts";

const tiny = new URL("../../configs/retinanet/retinanet_tiny_shapes.ts", import.meta.url).pathname;

Deno.test("Registry.build refuses a key the component never reads, naming the path and the closest key", () => {
  class Foo {
    depth: number;
    constructor(cfg: { depth?: number; style?: string }) {
      this.depth = cfg.depth ?? 50;
      void cfg.style;
    }
  }
  const R = new Registry<Foo>("FOOS");
  R.register("Foo", Foo);
  assert.equal(R.build({ type: "Foo", depth: 18 }).depth, 18);
  const cfg = { type: "Foo", dept: 18 };
  setCfgPath(cfg, "model.backbone");
  assert.throws(
    () => R.build(cfg),
    (e: Error) =>
      e instanceof ConfigError && e.message.includes("model.backbone.dept") &&
      e.message.includes('did you mean "depth"'),
  );
  // keys filled from defaultArgs need not be read; init_cfg / train_cfg / test_cfg are allowed
  R.build({ type: "Foo", init_cfg: null }, { unrelated: 1 });
});

Deno.test("runner, checkpoint and optimizer values are type- and range-checked", () => {
  const model = { trainStep: () => ({}) };
  for (const v of [-1, 0, 1.5, "abc", NaN]) {
    assert.throws(
      () => RUNNERS.build({ type: "EpochBasedRunner", max_epochs: v }, { model }),
      (e: Error) => e instanceof ConfigError && e.message.includes("runner.max_epochs"),
      String(v),
    );
  }
  RUNNERS.build({ type: "EpochBasedRunner", max_epochs: 2 }, { model });
  for (const v of [0, -2, 2.5, "1"]) {
    assert.throws(
      () => HOOKS.build({ type: "CheckpointHook", interval: v }),
      (e: Error) => e instanceof ConfigError && e.message.includes("checkpoint_config.interval"),
      String(v),
    );
  }
  HOOKS.build({ type: "CheckpointHook", interval: -1 });
  assert.throws(
    () => HOOKS.build({ type: "CheckpointHook", intervall: 1 }),
    (e: Error) => e instanceof ConfigError && /did you mean "interval"/.test(e.message),
  );
  assert.throws(
    () => checkDictKeys({ nms: { iou_threshhold: 0.5 } }, "model.test_cfg", TEST_CFG_SCHEMA),
    (e: Error) =>
      e instanceof ConfigError && e.message.includes("model.test_cfg.nms.iou_threshhold") &&
      e.message.includes('"iou_threshold"'),
  );
});

Deno.test("--cfg-options values reach the same checks (runner.max_epochs=-1|abc|1.5, interval=0)", async () => {
  for (const v of ["-1", "abc", "1.5"]) {
    const cfg = await loadConfig(tiny);
    applyCfgOptions(cfg, [`runner.max_epochs=${v}`]);
    assert.throws(
      () =>
        RUNNERS.build(cfg.dict.runner as { type: string }, { model: { trainStep: () => ({}) } }),
      (e: Error) => e instanceof ConfigError && e.message.includes("runner.max_epochs"),
      v,
    );
  }
  const cfg = await loadConfig(tiny);
  applyCfgOptions(cfg, ["checkpoint_config.interval=0"]);
  assert.throws(
    () => HOOKS.build({ type: "CheckpointHook", ...(cfg.dict.checkpoint_config as object) }),
    (e: Error) => e instanceof ConfigError && e.message.includes("interval"),
  );
  const lc = await loadConfig(tiny);
  (lc.dict.log_config as Record<string, unknown>).intervall = 5;
  assert.throws(
    () => checkPlainSections(lc),
    (e: Error) => e instanceof ConfigError && /log_config\.intervall.*"interval"/.test(e.message),
  );
  const ec = await loadConfig(tiny);
  (ec.dict.evaluation as Record<string, unknown>).metricc = "bbox";
  assert.throws(
    () => checkPlainSections(ec),
    (e: Error) => e instanceof ConfigError && /evaluation\.metricc.*"metric"/.test(e.message),
  );
  checkPlainSections(await loadConfig(tiny));
  const dc = await loadConfig(tiny);
  (dc.dict.data as Record<string, unknown>).sample_per_gpu = 2;
  assert.throws(
    () => buildSplit(dc, "train"),
    (e: Error) =>
      e instanceof ConfigError && /data\.sample_per_gpu.*"samples_per_gpu"/.test(e.message),
  );
});

gpuTest(
  "a nested typo (model.backbone.dept, optimizer lrr) is an error naming the path",
  async () => {
    const cfg = await loadConfig(tiny);
    const m = cfg.dict.model as Record<string, Record<string, unknown>>;
    m.backbone.dept = m.backbone.depth;
    assert.throws(
      () => buildModel(cfg, 0),
      (e: Error) =>
        e instanceof ConfigError && e.message.includes("model.backbone.dept") &&
        e.message.includes('did you mean "depth"'),
    );
    delete m.backbone.dept;
    (m.bbox_head.anchor_generator as Record<string, unknown>).octave_base_scal = 4;
    assert.throws(
      () => buildModel(cfg, 0),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message.includes("octave_base_scal") && e.message.includes("AnchorGenerator") &&
        e.message.includes('"octave_base_scale"'),
    );
    delete (m.bbox_head.anchor_generator as Record<string, unknown>).octave_base_scal;
    const det = buildModel(cfg, 0);
    const { buildOptimizer } = await import("../../lib/runner/optimizers/builder.ts");
    const opt = { type: "SGD", lr: 0.01, momentum: 0.9, lrr: 0.1 };
    setCfgPath(opt, "optimizer");
    assert.throws(
      () => buildOptimizer(det, opt),
      (e: Error) => e instanceof ConfigError && /optimizer\.lrr.*"lr"/.test(e.message),
    );
    for (const bad of [{ lr: -1 }, { lr: "0.1" }, { lr: 0.01, momentum: 1.5 }]) {
      assert.throws(() => buildOptimizer(det, { type: "SGD", ...bad }), Error, JSON.stringify(bad));
    }
    assert.throws(
      () => buildOptimizer(det, { type: "SGD", lr: 0.01, paramwise_cfg: { bias_lr_mul: 2 } }),
      (e: Error) => e instanceof ConfigError && /bias_lr_mult/.test(e.message),
    );
  },
);
