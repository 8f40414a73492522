import { assert } from "../_assert.ts";
import { Config, dumpConfig, loadConfig } from "../../lib/config/mod.ts";

const configsDir = new URL("../../configs/", import.meta.url);

async function* walk(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) yield* walk(new URL(`${e.name}/`, dir));
    else if (/\.(ts|json)$/.test(e.name)) yield new URL(e.name, dir);
  }
}

Deno.test("every file under configs/ loads, merges, and survives a TS and a JSON dump round trip", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "wgdet-cfg-" });
  try {
    let n = 0;
    for await (const url of walk(configsDir)) {
      const cfg = await loadConfig(url);
      assert.ok(Object.keys(cfg.dict).length > 0, url.pathname);
      for (const format of ["ts", "json"] as const) {
        const path = `${tmp}/dump_${n}.${format}`;
        await Deno.writeTextFile(path, dumpConfig(cfg, { format }));
        const again = await loadConfig(path);
        assert.deepEqual(again.dict, cfg.dict, `${url.pathname} (${format})`);
      }
      n++;
    }
    assert.ok(n >= 8, `found only ${n} configs`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("retinanet_r50_fpn_1x_coco has mmdetection v2's keys and values", async () => {
  const cfg = await loadConfig(new URL("retinanet/retinanet_r50_fpn_1x_coco.ts", configsDir));
  assert.deepEqual(cfg.dict.optimizer, {
    type: "SGD",
    lr: 0.01,
    momentum: 0.9,
    weight_decay: 0.0001,
  });
  assert.deepEqual(cfg.dict.optimizer_config, { grad_clip: null });
  assert.deepEqual(cfg.dict.lr_config, {
    policy: "step",
    warmup: "linear",
    warmup_iters: 500,
    warmup_ratio: 0.001,
    step: [8, 11],
  });
  assert.deepEqual(cfg.dict.runner, { type: "EpochBasedRunner", max_epochs: 12 });
  assert.deepEqual(cfg.dict.checkpoint_config, { interval: 1 });
  assert.deepEqual(cfg.dict.log_config, { interval: 50, hooks: [{ type: "TextLoggerHook" }] });
  assert.deepEqual(cfg.dict.custom_hooks, [{ type: "NumClassCheckHook" }]);
  assert.deepEqual(cfg.dict.workflow, [["train", 1]]);
  assert.deepEqual(cfg.dict.evaluation, { interval: 1, metric: "bbox" });
  assert.equal(cfg.dict.load_from, null);
  assert.equal(cfg.dict.resume_from, null);
  assert.equal(cfg.dict.log_level, "INFO");
  assert.equal(cfg.get("model.backbone.depth"), 50);
  assert.equal(cfg.get("model.backbone.frozen_stages"), 1);
  assert.equal(cfg.get("model.neck.add_extra_convs"), "on_input");
  assert.equal(cfg.get("model.neck.start_level"), 1);
  assert.deepEqual(cfg.get("model.bbox_head.anchor_generator.strides"), [8, 16, 32, 64, 128]);
  assert.equal(cfg.get("model.bbox_head.anchor_generator.octave_base_scale"), 4);
  assert.equal(cfg.get("model.bbox_head.loss_bbox.type"), "L1Loss");
  assert.equal(cfg.get("model.train_cfg.assigner.neg_iou_thr"), 0.4);
  assert.deepEqual(cfg.get("model.test_cfg.nms"), { type: "nms", iou_threshold: 0.5 });
  assert.equal(cfg.get("data.samples_per_gpu"), 2);
  assert.deepEqual(cfg.get("data.train.pipeline.2"), {
    type: "Resize",
    img_scale: [1333, 800],
    keep_ratio: true,
  });
  assert.deepEqual(cfg.get("data.train.pipeline.4"), {
    type: "Normalize",
    mean: [123.675, 116.28, 103.53],
    std: [58.395, 57.12, 57.375],
    to_rgb: true,
  });
  assert.equal(cfg.get("data.val.ann_file"), "data/coco/annotations/instances_val2017.json");
});

Deno.test("retinanet_r18_fpn_1x_coco swaps in ResNet-18 and the neck's 64-512 input channels", async () => {
  const cfg = await loadConfig(new URL("retinanet/retinanet_r18_fpn_1x_coco.ts", configsDir));
  assert.equal(cfg.get("model.backbone.depth"), 18);
  assert.deepEqual(cfg.get("model.backbone.init_cfg"), {
    type: "Pretrained",
    checkpoint: "torchvision://resnet18",
  });
  assert.deepEqual(cfg.get("model.neck.in_channels"), [64, 128, 256, 512]);
  assert.equal(cfg.get("model.neck.out_channels"), 256);
});

Deno.test("the tiny and BCCD configs keep head, neck and anchors consistent with their data", async () => {
  const tiny = await loadConfig(new URL("retinanet/retinanet_tiny_shapes.ts", configsDir));
  const bccd = await loadConfig(new URL("retinanet/retinanet_r18_fpn_bccd.ts", configsDir));
  for (const cfg of [tiny, bccd]) {
    const classes = cfg.get("data.train.classes") as string[];
    assert.equal(cfg.get("model.bbox_head.num_classes"), classes.length, cfg.filename);
    assert.deepEqual(cfg.get("data.val.classes"), classes);
    assert.equal(cfg.get("model.bbox_head.in_channels"), cfg.get("model.neck.out_channels"));
    const base = (cfg.get("model.backbone.base_channels") as number | undefined) ?? 64;
    assert.deepEqual(
      cfg.get("model.neck.in_channels"),
      [base, 2 * base, 4 * base, 8 * base],
      cfg.filename,
    );
  }
  // P3..P(2+num_outs): one anchor stride per FPN output
  const numOuts = tiny.get("model.neck.num_outs") as number;
  assert.equal((tiny.get("model.bbox_head.anchor_generator.strides") as number[]).length, numOuts);
  assert.equal(tiny.get("data.synthetic.type"), "shapes");
  assert.equal(
    tiny.get("data.train.data_root"),
    null,
    "filled in by the CLI from the generated data",
  );
  assert.equal(tiny.get("data.train.ann_file"), "annotations/instances_train.json");
  assert.deepEqual(bccd.get("data.train.classes"), ["RBC", "WBC", "Platelets"]);
  assert.deepEqual(bccd.get("evaluation.metric"), ["mAP", "bbox"]);
  assert.equal(bccd.get("data.test.ann_file"), "../shared/data/bccd/BCCD/ImageSets/Main/test.txt");
});

Deno.test("dumpConfig exports keys that are not identifiers under their string names", async () => {
  const cfg = new Config({ "my-key": { a: [1, NaN] }, class: 1, ok: "x" }, "weird.ts");
  const tmp = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    const text = dumpConfig(cfg);
    assert.match(text, /export const ok = "x";/);
    assert.match(text, /as "my-key"/);
    await Deno.writeTextFile(tmp, text);
    assert.deepEqual((await loadConfig(tmp)).dict, cfg.dict);
    assert.throws(() => dumpConfig(cfg, { format: "json" }), /JSON cannot hold/);
  } finally {
    await Deno.remove(tmp);
  }
});
