import { assert } from "../_assert.ts";
import {
  applyCfgOptions,
  Config,
  ConfigError,
  loadConfig,
  mergeFromDict,
  parseCfgOptions,
  parseCfgOptionValue,
} from "../../lib/config/mod.ts";

const R50 = new URL("../../configs/retinanet/retinanet_r50_fpn_1x_coco.ts", import.meta.url);

Deno.test("parseCfgOptionValue parses scalars as mmcv's DictAction", () => {
  assert.equal(parseCfgOptionValue("1"), 1);
  assert.equal(parseCfgOptionValue("-2.5e-3"), -0.0025);
  assert.equal(parseCfgOptionValue(".5"), 0.5);
  assert.equal(parseCfgOptionValue("True"), true);
  assert.equal(parseCfgOptionValue("false"), false);
  assert.equal(parseCfgOptionValue("None"), null);
  assert.equal(parseCfgOptionValue("null"), null);
  assert.equal(parseCfgOptionValue("nms"), "nms");
  assert.equal(parseCfgOptionValue("0x10"), "0x10", "only decimal numbers are numbers");
  assert.equal(parseCfgOptionValue('"12"'), "12", "a quoted value stays a string");
  assert.equal(parseCfgOptionValue("'a,b'"), "a,b", "commas inside quotes do not split");
  assert.equal(parseCfgOptionValue("inf"), Infinity);
});

Deno.test("parseCfgOptionValue parses lists, bare comma lists and nested tuples", () => {
  assert.deepEqual(parseCfgOptionValue("[1,2,3]"), [1, 2, 3]);
  assert.deepEqual(parseCfgOptionValue("8,11"), [8, 11]);
  assert.deepEqual(parseCfgOptionValue("(1333, 800)"), [1333, 800]);
  assert.deepEqual(parseCfgOptionValue("[(1333,800),(1333,640)]"), [[1333, 800], [1333, 640]]);
  assert.deepEqual(parseCfgOptionValue("[a,[b,True],None]"), ["a", ["b", true], null]);
  assert.deepEqual(parseCfgOptionValue("[]"), []);
  assert.deepEqual(parseCfgOptionValue('["img","gt_bboxes"]'), ["img", "gt_bboxes"]);
  assert.throws(() => parseCfgOptionValue("[1,2"), SyntaxError);
});

Deno.test("parseCfgOptions splits KEY=VALUE at the first = and rejects malformed entries", () => {
  assert.deepEqual(parseCfgOptions(["a.b=x=y", "+new.key=1"]), [
    { key: "a.b", value: "x=y", add: false },
    { key: "new.key", value: 1, add: true },
  ]);
  for (const bad of ["novalue", "=1", "a..b=1"]) {
    assert.throws(() => parseCfgOptions([bad]), ConfigError, bad);
  }
});

Deno.test("applyCfgOptions sets nested keys, list elements by index, and fills a null base", async () => {
  const cfg = await loadConfig(R50);
  const warnings: string[] = [];
  applyCfgOptions(cfg, [
    "optimizer.lr=0.005",
    "model.bbox_head.num_classes=3",
    "data.train.pipeline.3.flip_ratio=0",
    "lr_config.step=[16,22]",
    "data.samples_per_gpu=4",
    "optimizer_config.grad_clip.max_norm=35",
  ], { warn: (m) => warnings.push(m) });
  assert.equal(cfg.get("optimizer.lr"), 0.005);
  assert.equal(cfg.get("optimizer.momentum"), 0.9);
  assert.equal(cfg.get("model.bbox_head.num_classes"), 3);
  assert.deepEqual(cfg.get("data.train.pipeline.3"), { type: "RandomFlip", flip_ratio: 0 });
  assert.equal(
    cfg.get("data.train.pipeline.2.type"),
    "Resize",
    "other list elements are untouched",
  );
  assert.deepEqual(cfg.get("lr_config.step"), [16, 22]);
  assert.equal(cfg.get("data.samples_per_gpu"), 4);
  assert.deepEqual(cfg.get("optimizer_config.grad_clip"), { max_norm: 35 });
  assert.deepEqual(warnings, [
    `Adding key "optimizer_config.grad_clip.max_norm" that is not in config "${cfg.filename}" (--cfg-options)`,
  ]);
});

Deno.test("applyCfgOptions errors on a key typo with a did-you-mean, warns on a new key, and is silent with +", async () => {
  const cfg = await loadConfig(R50);
  const typo = (() => {
    try {
      applyCfgOptions(cfg, ["model.bbox_head.num_clases=3"]);
    } catch (e) {
      return e as Error;
    }
  })();
  assert.ok(typo instanceof ConfigError);
  assert.match(
    typo.message,
    /key "num_clases" is not in "model\.bbox_head".*did you mean "model\.bbox_head\.num_classes"\?/,
  );
  assert.equal(cfg.get("model.bbox_head.num_classes"), 80, "nothing is applied after an error");
  const warnings: string[] = [];
  applyCfgOptions(cfg, ["fp16.loss_scale=512"], { warn: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /Adding key "fp16\.loss_scale"/);
  applyCfgOptions(cfg, ["+custom_imports.allow_failed_imports=False"], {
    warn: (m) => warnings.push(m),
  });
  assert.equal(warnings.length, 1);
  assert.equal(cfg.get("custom_imports.allow_failed_imports"), false);
  assert.throws(() => applyCfgOptions(cfg, ["data.train.pipeline.20.flip_ratio=0"]), /valid index/);
  assert.throws(() => applyCfgOptions(cfg, ["optimizer.lr.x=1"]), /not an object/);
});

Deno.test("mergeFromDict reports the keys it added", () => {
  const cfg = new Config({ a: { b: 1 } }, "x.ts");
  assert.deepEqual(mergeFromDict(cfg, { "a.b": 2, "a.c": 3 }), ["a.c"]);
  assert.deepEqual(cfg.dict, { a: { b: 2, c: 3 } });
});
