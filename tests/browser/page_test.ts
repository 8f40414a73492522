// The same library in a Chromium tab (the web.ts bundle on Chromium's SwiftShader WebGPU adapter)
// and in Deno (mod.ts on this machine's adapter), on the same inputs: README's gradient, a conv
// forward/backward, and 5 training iterations of the tiny RetinaNet and of a tiny Faster R-CNN whose
// losses must agree to 1e-4. Skipped with a message when Chromium is absent (see _browser.ts).
import * as wgdet from "../../mod.ts";
import { RunnerLogger } from "../../lib/runner/logger.ts";
import { platform } from "../../lib/platform/mod.ts";
import { applyCfgOptions, loadConfig } from "../../lib/config/mod.ts";
import { ensureShapesDataset } from "../../lib/datasets/synthetic.ts";
import { assert, assertClose } from "../_assert.ts";
import { decodeSafetensors } from "../../lib/utils/safetensors.ts";
import { hasAdapter } from "../_gpu.ts";
import { callWithWgdet, NO_CHROMIUM, openWgdetSession, ROOT } from "./_browser.ts";
import { convProbe, gradientProbe, pipelineProbe, trainRecordsProbe } from "./_probes.ts";

const CACHE = `${ROOT}.cache/wgdet-tests/`;
const WG = { ...wgdet, RunnerLogger, platform };

/** The tiny RetinaNet of tests/e2e/_tiny.ts at batch 2 on 10 synthetic 64×64 images: 5 iterations. */
async function tinyBrowserConfig(): Promise<{ dict: wgdet.CfgDict; root: string }> {
  const cfg = await loadConfig(`${ROOT}configs/retinanet/retinanet_tiny_shapes.ts`);
  const info = await ensureShapesDataset(CACHE, {
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
    "checkpoint_config.interval=100",
    "evaluation.save_best=None",
  ], { warn: () => {} });
  return { dict: cfg.toJSON(), root: info.root };
}

/**
 * The tiny Faster R-CNN of configs/faster_rcnn/faster_rcnn_tiny_shapes.ts at half its width, on the
 * same 10 images as {@linkcode tinyBrowserConfig}: 5 iterations.
 */
async function tinyTwoStageConfig(): Promise<{ dict: wgdet.CfgDict; root: string }> {
  const { dict: base, root } = await tinyBrowserConfig();
  const d = (await loadConfig(`${ROOT}configs/faster_rcnn/faster_rcnn_tiny_shapes.ts`)).toJSON();
  Object.assign(d, { data: base.data, runner: base.runner, lr_config: base.lr_config });
  const cfg = new wgdet.Config(d, "faster_rcnn_tiny_browser");
  applyCfgOptions(cfg, [
    "model.backbone.base_channels=8",
    "model.neck.in_channels=[8,16,32,64]",
    "model.neck.out_channels=16",
    "model.rpn_head.in_channels=16",
    "model.rpn_head.feat_channels=16",
    "model.roi_head.bbox_roi_extractor.out_channels=16",
    "model.roi_head.bbox_head.in_channels=16",
    "model.roi_head.bbox_head.fc_out_channels=32",
    "log_config.interval=1",
    "checkpoint_config.interval=100",
    "evaluation.save_best=None",
  ], { warn: () => {} });
  return { dict: cfg.toJSON(), root };
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

Deno.test({
  name:
    "browser: README gradient, conv forward/backward, 5 tiny RetinaNet and 5 Faster R-CNN iterations equal Deno's",
  ignore: NO_CHROMIUM || !hasAdapter,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const s = await openWgdetSession();
    try {
      console.log(`  ${s.browser.version}, adapter ${s.adapter.vendor}/${s.adapter.architecture}`);
      await t.step("README example's gradient", async () => {
        const page = await callWithWgdet<number[]>(s, gradientProbe);
        assert.deepEqual(page, [4, 0, 6, 0]);
        assert.deepEqual(await gradientProbe(WG), page);
      });
      await t.step("conv2d forward and backward equal Deno's", async () => {
        const page = await callWithWgdet<Record<string, number[]>>(s, convProbe);
        const deno = await convProbe(WG);
        for (const k of ["out", "dx", "dw", "db"]) {
          assert.equal(page[k].length, deno[k].length, k);
          assertClose(page[k], deno[k], { atol: 1e-4, rtol: 1e-4 });
        }
      });
      await t.step(
        "SwiftShader gets the tiled conv kernels, not the CPU 'direct' ones",
        async () => {
          const direct = await s.page.evaluate<boolean>(
            "window.wgdet.initGpu().then((g) => g.info.directConv)",
          );
          if (s.adapter.architecture === "swiftshader") assert.equal(direct, false);
        },
      );
      await t.step(
        "PNG decoded by the browser (createImageBitmap) gives Deno's pipeline tensors",
        async () => {
          const { dict, root } = await tinyBrowserConfig();
          const data = (dict.data as Record<string, Record<string, unknown>>).test;
          const files = (await filesUnder(root)).filter((p) =>
            p.includes("/val/") || p.endsWith(".json")
          )
            .map((p) => [p, s.server.url + p.slice(ROOT.length)] as [string, string]);
          const page = await callWithWgdet<{ shape: number[]; data: number[] }>(
            s,
            pipelineProbe,
            data,
            files,
          );
          const deno = await pipelineProbe(WG, data, []);
          assert.deepEqual(page.shape, deno.shape);
          assert.ok(page.data.length > 1000, `${page.data.length} values`);
          assert.deepEqual(page.data, deno.data); // exact: PNG decoding is lossless
        },
      );
      await t.step("5 training iterations: losses equal Deno's to 1e-4", async () => {
        const { dict, root } = await tinyBrowserConfig();
        const files = (await filesUnder(root)).map((p) =>
          [p, s.server.url + p.slice(ROOT.length)] as [string, string]
        );
        const t0 = performance.now();
        const page = (await callWithWgdet<{ loss: number }[]>(
          s,
          trainRecordsProbe,
          dict,
          "/work_dirs/browser",
          files,
        )).map((r) => r.loss);
        const tPage = performance.now() - t0;
        const dir = await Deno.makeTempDir({ prefix: "wgdet-browser-" });
        try {
          const t1 = performance.now();
          const deno = (await trainRecordsProbe(WG, dict, dir, [])).map((r) => r.loss);
          console.log(
            `  5 iterations: ${(tPage / 1000).toFixed(1)} s in Chromium, ` +
              `${((performance.now() - t1) / 1000).toFixed(1)} s in Deno; losses ${
                page.map((v) => v.toFixed(4)).join(", ")
              }`,
          );
          assert.equal(page.length, 5);
          assert.equal(deno.length, 5);
          assertClose(page, deno, { atol: 1e-4, rtol: 0 });
          // the checkpoint the tab wrote (its in-memory file system) reads in Deno and holds the
          // same weights as Deno's own run
          const b64 = await s.page.evaluate<string>(`(() => {
            const b = wgdet.platform().readFileSync("/work_dirs/browser/epoch_1.safetensors");
            let t = "";
            for (let i = 0; i < b.length; i += 8192) t += String.fromCharCode(...b.subarray(i, i + 8192));
            return btoa(t);
          })()`);
          const fromPage = decodeSafetensors(
            Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)),
            "browser epoch_1",
          );
          const fromDeno = decodeSafetensors(await Deno.readFile(`${dir}/epoch_1.safetensors`));
          assert.deepEqual(Object.keys(fromPage.tensors), Object.keys(fromDeno.tensors));
          assert.ok(Object.keys(fromDeno.tensors).length > 20);
          for (const [k, v] of Object.entries(fromDeno.tensors)) {
            assert.deepEqual(fromPage.tensors[k].shape, v.shape, k);
            assertClose(
              Array.from(fromPage.tensors[k].data as ArrayLike<number>, Number),
              Array.from(v.data as ArrayLike<number>, Number),
              { atol: 1e-4, rtol: 1e-3, msg: k },
            );
          }
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      });
      await t.step(
        "5 Faster R-CNN iterations (RPN proposals, RoIAlign): losses equal Deno's",
        async () => {
          const { dict, root } = await tinyTwoStageConfig();
          const files = (await filesUnder(root)).map((p) =>
            [p, s.server.url + p.slice(ROOT.length)] as [string, string]
          );
          const t0 = performance.now();
          const page = (await callWithWgdet<{ loss: number }[]>(
            s,
            trainRecordsProbe,
            dict,
            "/work_dirs/browser_frcnn",
            files,
          )).map((r) => r.loss);
          const tPage = performance.now() - t0;
          const dir = await Deno.makeTempDir({ prefix: "wgdet-browser-" });
          try {
            const t1 = performance.now();
            const deno = (await trainRecordsProbe(WG, dict, dir, [])).map((r) => r.loss);
            console.log(
              `  5 Faster R-CNN iterations: ${(tPage / 1000).toFixed(1)} s in Chromium, ` +
                `${((performance.now() - t1) / 1000).toFixed(1)} s in Deno; losses ${
                  page.map((v) => v.toFixed(4)).join(", ")
                }`,
            );
            assert.equal(page.length, 5);
            assert.equal(deno.length, 5);
            assertClose(page, deno, { atol: 1e-4, rtol: 0 });
          } finally {
            await Deno.remove(dir, { recursive: true });
          }
        },
      );
    } finally {
      await s.close();
    }
  },
});
