/**
 * Every `type` in every config under `configs/` resolves (STYLE R7): each config is loaded with
 * `loadConfig` (bases merged), walked, and each `type` is looked up in the registry its key names —
 * `model` → DETECTORS, `backbone` → BACKBONES, `loss_*` → LOSSES, `pipeline` → PIPELINES, … — so a
 * component that is never imported (hence never registered) fails here, not at training time.
 */
import { loadConfig } from "../../lib/config/config.ts";
import { isDict } from "../../lib/config/config.ts";
import * as core from "../../lib/core/mod.ts";
import * as datasets from "../../lib/datasets/mod.ts";
import * as models from "../../lib/models/mod.ts";
import { NORM_LAYER_TYPES } from "../../lib/nn/norm.ts";
import * as runner from "../../lib/runner/mod.ts";
import { assert } from "../_assert.ts";

interface Lookup {
  name: string;
  has(type: string): boolean;
}

function names(name: string, types: readonly string[]): Lookup {
  return { name, has: (t) => types.includes(t) };
}

/** Registries by the config key that holds a `{type}` dict (mmdet's conventions). */
const BY_KEY: Record<string, Lookup> = {
  model: models.DETECTORS,
  detector: models.DETECTORS,
  backbone: models.BACKBONES,
  neck: models.NECKS,
  bbox_head: models.HEADS,
  rpn_head: models.HEADS,
  roi_head: models.HEADS,
  // mmdet's ROI_EXTRACTORS is an alias of MODELS (HEADS here); RoIAlign is the mmcv op it builds
  bbox_roi_extractor: models.HEADS,
  roi_layer: names("RoI layers", ["RoIAlign"]),
  anchor_generator: core.ANCHOR_GENERATORS,
  bbox_coder: core.BBOX_CODERS,
  assigner: core.BBOX_ASSIGNERS,
  sampler: core.BBOX_SAMPLERS,
  iou_calculator: core.IOU_CALCULATORS,
  train: datasets.DATASETS,
  val: datasets.DATASETS,
  test: datasets.DATASETS,
  dataset: datasets.DATASETS,
  pipeline: datasets.PIPELINES,
  transforms: datasets.PIPELINES,
  optimizer: runner.OPTIMIZERS,
  runner: runner.RUNNERS,
  hooks: runner.HOOKS,
  custom_hooks: runner.HOOKS,
  norm_cfg: names("norm layer types", NORM_LAYER_TYPES),
  conv_cfg: names("conv layer types", ["Conv", "Conv2d"]),
  act_cfg: names("activation types", ["ReLU"]),
  // mmcv op names read by multiclassNms, not a registry
  nms: names("NMS ops", ["nms"]),
  // mmcv initialisers: only "Pretrained" is acted on (the backbone checkpoint)
  init_cfg: names("initialisers", ["Pretrained"]),
  // wgdet's synthetic data generator (`ensureShapesDataset`)
  synthetic: names("synthetic data generators", ["shapes"]),
};

function registryFor(path: string[]): Lookup | undefined {
  // list items take the registry of the list's key: pipeline.3 → pipeline
  for (let i = path.length - 1; i >= 0; i--) {
    const k = path[i];
    if (/^\d+$/.test(k)) continue;
    if (k.startsWith("loss_") || k === "loss") return models.LOSSES;
    return BY_KEY[k];
  }
  return undefined;
}

function collectTypes(
  v: unknown,
  path: string[],
  out: [string, string, Lookup | undefined][],
): void {
  if (Array.isArray(v)) v.forEach((x, i) => collectTypes(x, [...path, String(i)], out));
  else if (isDict(v)) {
    if (typeof v.type === "string") out.push([path.join("."), v.type, registryFor(path)]);
    for (const [k, x] of Object.entries(v)) collectTypes(x, [...path, k], out);
  }
}

async function configFiles(dir: URL): Promise<URL[]> {
  const out: URL[] = [];
  for await (const e of Deno.readDir(dir)) {
    const u = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) out.push(...await configFiles(u));
    else if (e.name.endsWith(".ts") && !dir.pathname.endsWith("/_base_/")) out.push(u);
  }
  return out.sort((a, b) => a.href.localeCompare(b.href));
}

const root = new URL("../../configs/", import.meta.url);
const files = (await configFiles(root)).filter((u) => !u.pathname.includes("/_base_/"));

Deno.test("configs/ has configs to check", () => {
  assert.ok(files.some((f) => f.pathname.endsWith("retinanet_r50_fpn_1x_coco.ts")));
});

for (const file of files) {
  const rel = file.pathname.slice(root.pathname.length);
  Deno.test(`every type in configs/${rel} resolves in its registry`, async () => {
    const cfg = await loadConfig(file);
    const found: [string, string, Lookup | undefined][] = [];
    collectTypes(cfg.dict, [], found);
    assert.ok(found.length > 0, "the config has typed entries");
    const bad = found.filter(([, type, reg]) => !reg || !reg.has(type)).map(([path, type, reg]) =>
      reg
        ? `${path}: "${type}" is not in ${reg.name}`
        : `${path}: "${type}" has no known registry for this key`
    );
    assert.deepEqual(bad, [], `configs/${rel}`);
  });
}
