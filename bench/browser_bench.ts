/**
 * The tiny RetinaNet (tests/browser's config: batch 2, 64×64 synthetic shapes) in headless
 * Chromium (the web.ts bundle on Chromium's WebGPU adapter, SwiftShader on a machine without a
 * GPU) against Deno (mod.ts on Deno's adapter), in the same run: the train iteration (mean of
 * iterations 2-5 from the runner's `time`) and single-image inference (mean of 3 after a
 * warm-up). Skipped without Chromium.
 */
import * as wgdet from "../mod.ts";
import { RunnerLogger } from "../lib/runner/logger.ts";
import { platform } from "../lib/platform/mod.ts";
import { applyCfgOptions, loadConfig } from "../lib/config/mod.ts";
import { ensureShapesDataset } from "../lib/datasets/synthetic.ts";
import { callWithWgdet, openWgdetSession, ROOT } from "../tests/browser/_browser.ts";
import { inferProbe, trainRecordsProbe } from "../tests/browser/_probes.ts";
import { findChromium } from "../tools/chromium.ts";
import type { BenchRecord } from "./_types.ts";

const WG = { ...wgdet, RunnerLogger, platform };

async function tinyDict(): Promise<{ dict: wgdet.CfgDict; root: string }> {
  const cfg = await loadConfig(`${ROOT}configs/retinanet/retinanet_tiny_shapes.ts`);
  const info = await ensureShapesDataset(`${ROOT}.cache/wgdet-tests/`, {
    numTrain: 10,
    numVal: 2,
    imgSize: 64,
    seed: 5,
    objectSize: [14, 32],
    objectsPerImage: [1, 3],
  });
  applyCfgOptions(cfg, [
    "model.backbone.base_channels=8",
    "model.neck.in_channels=[8,16,32,64]",
    "model.neck.out_channels=16",
    "model.bbox_head.in_channels=16",
    "model.bbox_head.feat_channels=16",
    "model.bbox_head.norm_cfg.num_groups=8",
    "data.samples_per_gpu=2",
    "data.workers_per_gpu=0",
    "+data.synthetic=None",
    ...["train", "val", "test"].map((s) => `data.${s}.data_root=${info.root}/`),
    "data.train.pipeline.2.img_scale=[64,64]",
    "data.val.pipeline.1.img_scale=[64,64]",
    "data.test.pipeline.1.img_scale=[64,64]",
    "runner.max_epochs=1",
    "lr_config.warmup_iters=4",
    "log_config.interval=1",
    "checkpoint_config.interval=1",
    "evaluation.save_best=None",
  ], { warn: () => {} });
  return { dict: cfg.toJSON(), root: info.root };
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await filesUnder(p));
    else out.push(p);
  }
  return out;
}

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;

/** Runs the browser-vs-Deno benchmark. */
export async function run(): Promise<BenchRecord[]> {
  if (!findChromium()) {
    console.log("browser_bench: no Chromium (apt-get install chromium); skipped");
    return [];
  }
  const { dict, root } = await tinyDict();
  const val = (await filesUnder(`${root}/val`)).sort()[0];
  // Deno
  const dir = await Deno.makeTempDir({ prefix: "wgdet-bench-browser-" });
  const denoRecs = await trainRecordsProbe(WG, dict, dir, []);
  const denoInfer = await inferProbe(WG, dict, `${dir}/epoch_1.safetensors`, val, 3);
  const gpu = await wgdet.initGpu();
  await Deno.remove(dir, { recursive: true });
  // Chromium
  const s = await openWgdetSession();
  try {
    const files = (await filesUnder(root)).map((p) =>
      [p, s.server.url + p.slice(ROOT.length)] as [string, string]
    );
    const pageRecs = await callWithWgdet<{ time: number }[]>(
      s,
      trainRecordsProbe,
      dict,
      "/work_dirs/bench",
      files,
    );
    const pageInfer = await callWithWgdet<number>(
      s,
      inferProbe,
      dict,
      "/work_dirs/bench/epoch_1.safetensors",
      val,
      3,
    );
    const adapter = `${s.adapter.vendor}/${s.adapter.architecture} in ${s.browser.version}`;
    const denoAdapter = gpu.info.adapterName;
    const step = (r: { time: number }[]) => mean(r.slice(1).map((x) => x.time)) * 1000;
    const tb = step(pageRecs), td = step(denoRecs);
    return [
      {
        name: "browser: tiny RetinaNet train iteration (batch 2, 64 px)",
        value: tb,
        unit: "ms",
        peer: `Deno (${denoAdapter})`,
        peerValue: td,
        ratio: tb / td,
        adapter,
        notes:
          "mean of iterations 2-5 (runner time); Chromium compiles its pipelines in iteration 1",
      },
      {
        name: "browser: tiny RetinaNet inference, 1 image (64 px)",
        value: pageInfer,
        unit: "ms",
        peer: `Deno (${denoAdapter})`,
        peerValue: denoInfer,
        ratio: pageInfer / denoInfer,
        adapter,
        notes: "inferImages, mean of 3 after a warm-up (includes drawing the PNG)",
      },
    ];
  } finally {
    await s.close();
  }
}
