/**
 * `deno task serve`: builds the browser bundle (as `deno task build:web`) and serves the demo page
 * `web/` on http://127.0.0.1:PORT/ (default 8000; `--port N`). Configs are TS modules, which a
 * page cannot import, so they are resolved here (`_base_` merged) and served as JSON under
 * `/configs/`.
 *
 * @module
 */
import { applyCfgOptions, loadConfig } from "../lib/config/mod.ts";
import { serveStatic, type StaticServer } from "./chromium.ts";
import { int, parseCli, usageError } from "./_args.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** The demo's configs: name → config file and cfg-options (the first is the default). */
export const DEMO_CONFIGS: Record<string, { file: string; options: string[]; note: string }> = {
  "retinanet_tiny_shapes (narrow, 64 px)": {
    file: "configs/retinanet/retinanet_tiny_shapes.ts",
    options: [
      "model.backbone.base_channels=8",
      "model.neck.in_channels=[8,16,32,64]",
      "model.neck.out_channels=16",
      "model.bbox_head.in_channels=16",
      "model.bbox_head.feat_channels=16",
      "model.bbox_head.norm_cfg.num_groups=8",
      "data.samples_per_gpu=2",
      "data.train.pipeline.2.img_scale=[64,64]",
      "data.val.pipeline.1.img_scale=[64,64]",
      "data.test.pipeline.1.img_scale=[64,64]",
    ],
    note: "the tiny RetinaNet of the tests; a few seconds per iteration on a software adapter",
  },
  "retinanet_tiny_shapes": {
    file: "configs/retinanet/retinanet_tiny_shapes.ts",
    options: [],
    note: "the config as written (wants a real GPU)",
  },
};

/**
 * The bundle of web.ts (the command of `deno task build:web`), written to `out` (default
 * web/dist/wgdet.js, relative to the repository root). The browser tests build theirs with it.
 */
export async function buildWeb(out = "web/dist/wgdet.js"): Promise<void> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--platform",
      "browser",
      // class names are behaviour, not decoration: NumClassCheckHook exempts RPNHead by name,
      // datasets write their type, errors name the module; without this esbuild renames
      // colliding classes (RPNHead became _RPNHead and the hook refused every two-stage run)
      "--keep-names",
      "--import-map",
      "web/import_map.json",
      "-o",
      out,
      "web.ts",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (r.code !== 0) throw new Error(`deno bundle failed:\n${new TextDecoder().decode(r.stderr)}`);
}

/** Builds the bundle and serves web/ with the resolved configs; returns the server. */
export async function startDemoServer(port = 0): Promise<StaticServer> {
  await buildWeb();
  const files = new Map<string, Uint8Array | string>();
  const index: { name: string; note: string }[] = [];
  for (const [name, c] of Object.entries(DEMO_CONFIGS)) {
    const cfg = await loadConfig(`${ROOT}${c.file}`);
    applyCfgOptions(cfg, ["data.workers_per_gpu=0", ...c.options], { warn: () => {} });
    files.set(`configs/${name}.json`, JSON.stringify(cfg.toJSON()));
    index.push({ name, note: c.note });
  }
  files.set("configs/index.json", JSON.stringify(index));
  return serveStatic(`${ROOT}web/`, { port, files });
}

const HELP = `Usage: deno task serve [--port N]

Builds the browser bundle (as deno task build:web) and serves the demo page web/ on
http://127.0.0.1:N/ (default 8000): train a tiny detector in the tab with live curves, see its
detections, download or load a checkpoint. Needs a browser with WebGPU (Chrome/Chromium).

Options:
  --port N     the port (default 8000)
  -h, --help   print this help and exit`;

if (import.meta.main) {
  const { values } = await parseCli({ usage: HELP, options: { port: { type: "string" } } });
  const port = values.port === undefined ? 8000 : int("port", values.port);
  if (port > 65535) usageError(`--port must be an integer in 0..65535, got ${values.port}`);
  const s = await startDemoServer(port);
  console.log(`wgdet demo on ${s.url} (Chrome/Chromium with WebGPU; Ctrl-C stops)`);
}
