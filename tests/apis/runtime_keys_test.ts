import { assert } from "../_assert.ts";
import {
  applyAutoScaleLr,
  checkRuntimeKeys,
  prepareRun,
  TOP_LEVEL_KEY_HANDLING,
} from "../../lib/apis/runtime_keys.ts";
import {
  applyCfgOptions,
  Config,
  ConfigError,
  loadConfig,
  MMDET_TOP_LEVEL_KEYS,
} from "../../lib/config/mod.ts";
import { importCustomModules } from "../../lib/config/custom_imports.ts";
import { loadCommandConfig } from "../../lib/cli/actions.ts";

// The top-level keys of mmdetection v2.25's configs (configs/_base_/default_runtime.py,
// schedules/schedule_1x.py, datasets/coco_detection.py, models/retinanet_r50_fpn.py, the
// deprecated top-level train_cfg/test_cfg and total_epochs, custom_imports/custom_hooks of the
// config docs) and the keys tools/train.py and tools/test.py set on the config (work_dir,
// resume_from, auto_resume, gpu_ids, seed, device, load_from).
const MMDET_V225_KEYS = [
  // default_runtime.py
  "checkpoint_config",
  "log_config",
  "custom_hooks",
  "dist_params",
  "log_level",
  "load_from",
  "resume_from",
  "workflow",
  "opencv_num_threads",
  "mp_start_method",
  "auto_scale_lr",
  // schedule_1x.py
  "optimizer",
  "optimizer_config",
  "lr_config",
  "runner",
  "momentum_config",
  "total_epochs",
  // coco_detection.py
  "dataset_type",
  "data_root",
  "img_norm_cfg",
  "train_pipeline",
  "test_pipeline",
  "data",
  "evaluation",
  "classes",
  // models
  "model",
  "train_cfg",
  "test_cfg",
  // docs: customize runtime / models, fp16 configs
  "custom_imports",
  "fp16",
  // tools/train.py and tools/test.py
  "work_dir",
  "auto_resume",
  "gpu_ids",
  "seed",
  "deterministic",
  "device",
];

const LIB = new URL("../../lib/", import.meta.url);

async function libSources(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: URL) => {
    for await (const e of Deno.readDir(dir)) {
      const u = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
      if (e.isDirectory) await walk(u);
      else if (e.name.endsWith(".ts")) {
        out.set(u.pathname.slice(LIB.pathname.length), await Deno.readTextFile(u));
      }
    }
  };
  await walk(LIB);
  return out;
}

Deno.test("every top-level key of mmdetection v2.25 is honoured, refused or warned about, with a message naming it", async () => {
  const sources = await libSources();
  for (const key of MMDET_V225_KEYS) {
    const h = TOP_LEVEL_KEY_HANDLING[key];
    assert.ok(h, `${key}: no entry in TOP_LEVEL_KEY_HANDLING`);
    assert.ok(MMDET_TOP_LEVEL_KEYS.includes(key), `${key}: not in MMDET_TOP_LEVEL_KEYS`);
    // a key that is accepted is never reported as unused by the CLI
    const warnings: string[] = [];
    const cfg = await loadCommandConfig(
      new URL("../../configs/retinanet/retinanet_tiny_shapes.ts", import.meta.url),
      [],
      (m) => warnings.push(m),
    );
    assert.deepEqual(warnings, [], key);
    if (h.handling === "honoured") {
      // some module outside the key lists reads it (cfg.dict.key, dict["key"], or key: in a cfg)
      const readers = [...sources].filter(([f, src]) =>
        !f.endsWith("check_keys.ts") && !f.endsWith("runtime_keys.ts") &&
        new RegExp(`(\\.dict\\.${key}\\b|["'\`]${key}["'\`]|\\b${key}\\b\\s*[?:,)])`).test(src)
      );
      assert.ok(readers.length > 0, `${key} is "honoured" but no module of lib/ reads it`);
    }
    if (h.handling === "refused") {
      cfg.dict[key] = { loss_scale: 512 };
      assert.throws(() => checkRuntimeKeys(cfg), (e: Error) => {
        assert.ok(e instanceof ConfigError);
        assert.ok(e.message.includes(key) && /remove/.test(e.message), e.message);
        return true;
      });
      cfg.dict[key] = null;
      checkRuntimeKeys(cfg); // null means unset
    }
    if (h.handling === "warned") {
      cfg.dict[key] = key === "deterministic" ? true : key === "mp_start_method" ? "fork" : 0;
      const got: string[] = [];
      checkRuntimeKeys(cfg, { warn: (m) => got.push(m) });
      assert.equal(got.length, 1, key);
      assert.ok(got[0].includes(`${key}=`), got[0]);
    }
  }
  for (const key of Object.keys(TOP_LEVEL_KEY_HANDLING)) {
    assert.ok(MMDET_V225_KEYS.includes(key), `${key} is documented but not an mmdet v2.25 key`);
  }
});

Deno.test("gpu_ids and device: honoured where one WebGPU adapter can honour them, errors naming the key otherwise", () => {
  const cfg = (d: Record<string, unknown>) => new Config(d as never, "x.ts");
  checkRuntimeKeys(cfg({ gpu_ids: [0], device: "cuda" }));
  checkRuntimeKeys(cfg({ gpu_ids: [3] }), { worldSize: 4 }); // rank's own GPU under a launcher
  checkRuntimeKeys(cfg({ gpu_ids: [0, 1, 2, 3] }), { worldSize: 4 });
  for (
    const [d, re] of [
      [{ gpu_ids: [0, 1] }, /gpu_ids=\[0,1\].*--launcher mpi/],
      [{ gpu_ids: [1] }, /gpu_ids=\[1\].*set gpu_ids=\[0\]/],
      [{ gpu_ids: "0" }, /Invalid gpu_ids "0"/],
      [{ device: "cpu" }, /device="cpu".*WebGPU/],
      [{ fp16: { loss_scale: "dynamic" } }, /fp16=.*float32.*remove fp16/],
      [{ deterministic: "yes" }, /Invalid deterministic "yes"/],
      [{ auto_scale_lr: { enable: true, base_batch: 16 } }, /auto_scale_lr\.base_batch"/],
      [{ auto_scale_lr: { enable: 1 } }, /auto_scale_lr\.enable 1/],
    ] as const
  ) {
    assert.throws(() => checkRuntimeKeys(cfg(d)), re as RegExp);
  }
});

Deno.test("auto_scale_lr scales optimizer.lr by (processes × samples_per_gpu) / base_batch_size, as mmdet v2.25", () => {
  const make = (enable: boolean) =>
    new Config({
      optimizer: { type: "SGD", lr: 0.01 },
      auto_scale_lr: { enable, base_batch_size: 16 },
    }, "x.ts");
  const off = make(false);
  assert.equal(applyAutoScaleLr(off, 1, 2), 0.01);
  assert.equal(off.get("optimizer.lr"), 0.01);
  const lines: string[] = [];
  const on = make(true);
  assert.equal(applyAutoScaleLr(on, 2, 2, (m) => lines.push(m)), 0.0025);
  assert.equal(on.get("optimizer.lr"), 0.0025);
  assert.match(lines.join("\n"), /total batch size is 4[\s\S]*scaled from 0\.01 to 0\.0025/);
  const same = make(true);
  assert.equal(applyAutoScaleLr(same, 8, 2), 0.01);
  assert.throws(
    () =>
      applyAutoScaleLr(
        new Config({ optimizer: { lr: 0.1 }, auto_scale_lr: { enable: true } }),
        1,
        2,
      ),
    /base_batch_size/,
  );
});

Deno.test("custom_imports: a local module and a URL module are imported; failures name the entry", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-ci-" });
  const ac = new AbortController();
  const server = Deno.serve(
    { port: 0, signal: ac.signal, onListen: () => {} },
    () =>
      new Response("globalThis.__wgdetCustomUrl = (globalThis.__wgdetCustomUrl ?? 0) + 1;\n", {
        headers: { "content-type": "application/javascript" },
      }),
  );
  try {
    const local = `${dir}/my_module.ts`;
    await Deno.writeTextFile(
      local,
      "(globalThis as Record<string, unknown>).__wgdetCustomLocal = 'loaded';\nexport {};\n",
    );
    const url = `http://127.0.0.1:${server.addr.port}/remote_module.js`;
    const done = await importCustomModules(
      new Config({ custom_imports: { imports: [local] } }, "x.ts"),
    );
    assert.equal(done.length, 1);
    const g = globalThis as Record<string, unknown>;
    assert.equal(g.__wgdetCustomLocal, "loaded");
    // the URL module, in a process without the lock file (a random port must not enter deno.lock)
    const child = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--no-lock",
        new URL("./_import_url.ts", import.meta.url).pathname,
        JSON.stringify({ custom_imports: { imports: [url] } }),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(child.code, 0, new TextDecoder().decode(child.stderr));
    const got = JSON.parse(new TextDecoder().decode(child.stdout).trim().split("\n").pop()!);
    assert.deepEqual(got, { done: [url], count: 1 });
    await assert.rejects(
      importCustomModules(new Config({ custom_imports: { imports: ["mmdet.models.my"] } }, "x.ts")),
      /"mmdet\.models\.my" in "x\.ts": Python module names .*"mmdet\/models\/my\.ts"/,
    );
    await assert.rejects(
      importCustomModules(new Config({ custom_imports: { imports: [`${dir}/none.ts`] } }, "x.ts")),
      /Cannot import custom_imports entry ".*none\.ts" in "x\.ts"/,
    );
    const warned: string[] = [];
    await importCustomModules(
      new Config({
        custom_imports: { imports: [`${dir}/none.ts`], allow_failed_imports: true },
      }, "x.ts"),
      (m) => warned.push(m),
    );
    assert.match(warned[0], /none\.ts.*allow_failed_imports=True/);
    await assert.rejects(
      importCustomModules(new Config({ custom_imports: { import: ["a.ts"] } }, "x.ts")),
      /Unknown key "custom_imports\.import"/,
    );
  } finally {
    ac.abort();
    await server.finished;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("prepareRun (what trainDetector/testDetector/inferImages call first) generates the default config's synthetic data", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-prep-" });
  try {
    const cfg = await loadConfig(
      new URL("../../configs/retinanet/retinanet_tiny_shapes.ts", import.meta.url),
    );
    applyCfgOptions(cfg, [
      `data.synthetic.cache_dir=${dir}`,
      "data.synthetic.num_train=2",
      "data.synthetic.num_val=1",
      "data.synthetic.img_size=48",
      "+data.synthetic.object_size=[8,24]",
    ]);
    assert.equal(cfg.get("data.train.data_root"), null);
    const lines: string[] = [];
    await prepareRun(cfg, { log: (m) => lines.push(m) });
    const root = cfg.get("data.train.data_root") as string;
    assert.ok(root.startsWith(dir), root);
    assert.equal(cfg.get("data.test.data_root"), root);
    await Deno.stat(`${root}/${cfg.get("data.train.ann_file")}`);
    assert.match(lines.join("\n"), /Synthetic shapes data/);
    cfg.dict.data = { ...(cfg.dict.data as object), synthetic: { type: "shapes", num_trian: 3 } };
    (cfg.dict.data as Record<string, Record<string, unknown>>).train.data_root = null;
    await assert.rejects(prepareRun(cfg), /Unknown key "data\.synthetic\.num_trian"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
