// The demo page: everything runs in this tab on WebGPU through the browser bundle of wgdet
// (dist/wgdet.js, built by `deno task build:web` / `deno task serve`).
const $ = (id) => document.getElementById(id);
const state = { lossPoints: 0, mapPoints: 0, detections: 0, drawn: 0, done: false, error: null };
globalThis.demoState = state; // read by tests/browser/demo_test.ts
const params = new URLSearchParams(location.search);

function log(line) {
  const el = $("log");
  el.textContent += line + "\n";
  el.scrollTop = el.scrollHeight;
}

function plot(canvas, points, { color = "#1565c0", yLabel = "" } = {}) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, L = 40, B = 20;
  ctx.clearRect(0, 0, W, H);
  ctx.strokeStyle = "#999";
  ctx.strokeRect(L, 4, W - L - 4, H - B - 4);
  if (!points.length) return;
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const y0 = Math.min(...ys, 0);
  let y1 = Math.max(...ys);
  if (y1 <= y0) y1 = y0 + 1;
  const px = (x) => L + (x - x0) / (x1 - x0) * (W - L - 8) + 2;
  const py = (y) => 4 + (1 - (y - y0) / (y1 - y0)) * (H - B - 8) + 2;
  ctx.fillStyle = "#555";
  ctx.font = "11px sans-serif";
  ctx.fillText(y1.toFixed(3), 2, 12);
  ctx.fillText(y0.toFixed(3), 2, H - B);
  ctx.fillText(yLabel, L + 4, H - 4);
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  points.forEach(([x, y], i) => i ? ctx.lineTo(px(x), py(y)) : ctx.moveTo(px(x), py(y)));
  ctx.stroke();
  ctx.fillStyle = color;
  for (const [x, y] of points) ctx.fillRect(px(x) - 2, py(y) - 2, 4, 4);
}

const configs = [];
let wg, cfgDict = null, lastCheckpoint = null, running = false;

async function readLog(workDir) {
  const p = wg.platform();
  const recs = [];
  try {
    for await (const e of p.readDir(workDir)) {
      if (!e.name.endsWith(".log.json")) continue;
      for (const line of (await p.readTextFile(`${workDir}/${e.name}`)).split("\n")) {
        if (line.trim()) recs.push(JSON.parse(line));
      }
    }
  } catch { /* not written yet */ }
  return recs;
}

function redraw(recs, itersPerEpoch) {
  const train = recs.filter((r) => r.mode === "train" && typeof r.loss === "number");
  const val = recs.filter((r) => r.mode === "val");
  const loss = train.map((r) => [(r.epoch - 1) * itersPerEpoch + r.iter, r.loss]);
  const map = val.map((r) => [r.epoch, r.bbox_mAP ?? r.mAP ?? 0]);
  plot($("loss"), loss, { yLabel: "iteration" });
  plot($("map"), map, { color: "#2e7d32", yLabel: "epoch" });
  state.lossPoints = loss.length;
  state.mapPoints = map.length;
}

async function prepareData(dict) {
  const data = dict.data;
  if ($("datasrc").value === "folder") {
    const found = await wg.findDataset("/data/upload");
    log(`dataset: ${found.type} ${found.ann_file} (${found.classes.length} classes)`);
    for (const s of ["train", "val", "test"]) {
      Object.assign(data[s], {
        type: found.type,
        ann_file: found.ann_file,
        img_prefix: found.img_prefix,
        classes: found.classes,
        data_root: null,
      });
    }
    dict.model.bbox_head.num_classes = found.classes.length;
    delete data.synthetic;
    return;
  }
  const syn = data.synthetic ?? {};
  const info = await wg.ensureShapesDataset("/cache", {
    numTrain: Number($("ntrain").value),
    numVal: Number($("nval").value),
    imgSize: syn.img_size ?? 64,
    seed: syn.seed ?? 0,
    ...(syn.objects_per_image ? { objectsPerImage: syn.objects_per_image } : {}),
    ...(syn.object_size ? { objectSize: syn.object_size } : {}),
    ...(data.train.classes ? { classes: data.train.classes } : {}),
  });
  for (const s of ["train", "val", "test"]) data[s].data_root = info.root;
  delete data.synthetic;
  log(`synthetic shapes: ${info.root}`);
}

async function showDetections(cfg, checkpoint, images, target) {
  // the detector itself keeps only scores >= test_cfg.score_thr: lower it to the drawing threshold
  const dict = structuredClone(cfg.dict);
  const tc = dict.model?.test_cfg;
  if (tc && typeof tc.score_thr === "number") {
    tc.score_thr = Math.min(tc.score_thr, Number($("thr").value));
  }
  if (tc) tc.max_per_img = Math.min(tc.max_per_img ?? 100, 10); // a readable drawing
  cfg = new wg.Config(dict, cfg.filename);
  const res = await wg.inferImages(cfg, checkpoint, images, {
    outDir: "/out",
    scoreThr: Number($("thr").value),
    log,
  });
  for (const r of res) {
    const png = await wg.platform().readFile(r.output);
    const img = new Image();
    img.src = URL.createObjectURL(new Blob([png], { type: "image/png" }));
    img.title = r.image;
    target.appendChild(img);
    const thr = Number($("thr").value);
    state.detections += r.result.reduce((s, a) => s + a.length / 5, 0);
    state.drawn += r.result.reduce(
      (s, a) => s + a.filter((v, i) => i % 5 === 4 && v >= thr).length,
      0,
    );
  }
  return res;
}

async function train() {
  if (running) return;
  running = true;
  $("train").disabled = true;
  try {
    const name = $("config").value;
    const dict = structuredClone(configs.find((c) => c.name === name).dict);
    await prepareData(dict);
    dict.runner = {
      ...(dict.runner ?? {}),
      type: "EpochBasedRunner",
      max_epochs: Number($("epochs").value),
    };
    dict.log_config = { ...(dict.log_config ?? {}), interval: 1 };
    dict.evaluation = { ...(dict.evaluation ?? {}), interval: 1, save_best: null };
    dict.checkpoint_config = { ...(dict.checkpoint_config ?? {}), interval: 1 };
    if (dict.lr_config?.warmup_iters) {
      dict.lr_config.warmup_iters = Math.min(dict.lr_config.warmup_iters, 4);
    }
    const cfg = new wg.Config(dict, name);
    cfgDict = dict;
    const workDir = `/work_dirs/run_${Date.now()}`;
    const itersPerEpoch =
      Math.floor(Number($("ntrain").value) / (dict.data.samples_per_gpu ?? 1)) || 1;
    $("status").textContent = "training…";
    const timer = setInterval(async () => redraw(await readLog(workDir), itersPerEpoch), 500);
    const t0 = performance.now();
    const logger = new wg.RunnerLogger({ console: false });
    logger.setConsoleSink?.((line) => log(line));
    try {
      const r = await wg.trainDetector(cfg, {
        workDir,
        validate: true,
        seed: 0,
        logger,
        timestamp: "demo",
      });
      r.model.dispose();
    } finally {
      clearInterval(timer);
    }
    redraw(await readLog(workDir), itersPerEpoch);
    log(`trained in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const ckpts = wg.listFiles(workDir).filter((p) => /epoch_\d+\.safetensors$/.test(p));
    lastCheckpoint = ckpts.sort((a, b) =>
      Number(a.match(/(\d+)\.safetensors$/)[1]) - Number(b.match(/(\d+)\.safetensors$/)[1])
    ).pop();
    $("download").disabled = !lastCheckpoint;
    $("status").textContent = "running the detector on the validation images…";
    const val = dict.data.val;
    const valImgs = wg.listFiles(`${val.data_root ?? ""}/${val.img_prefix ?? ""}`).filter((p) =>
      /\.(png|jpe?g)$/i.test(p)
    );
    $("dets").textContent = "";
    await showDetections(cfg, lastCheckpoint, valImgs.slice(0, 4), $("dets"));
    $("status").textContent =
      `done: ${state.lossPoints} iterations, ${state.drawn} detections drawn`;
    state.done = true;
  } catch (e) {
    state.error = String(e?.stack ?? e);
    $("status").textContent = `error: ${e.message ?? e}`;
    log(state.error);
  } finally {
    running = false;
    $("train").disabled = false;
  }
}

function download(path) {
  const bytes = wg.platform().readFileSync(path);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
  a.download = path.split("/").pop();
  a.click();
}

async function main() {
  if (!navigator.gpu) {
    $("adapter").textContent = "";
    $("nogpu").style.display = "block";
    $("nogpu").textContent =
      "This browser has no WebGPU (navigator.gpu is missing). Use a recent Chrome/Chromium " +
      "(on Linux start it with --enable-unsafe-webgpu), Edge, or Safari 26+.";
    state.error = "no WebGPU";
    return;
  }
  wg = await import("./dist/wgdet.js");
  let gpu;
  try {
    gpu = await wg.initGpu();
  } catch (e) {
    $("nogpu").style.display = "block";
    $("nogpu").textContent = `No WebGPU adapter: ${e.message}`;
    state.error = String(e);
    return;
  }
  const i = gpu.info;
  $("adapter").textContent = `adapter: ${i.adapterName} (${i.vendor}/${i.architecture})` +
    `${i.isFallbackAdapter ? ", software" : ""}; conv kernels: ${
      i.directConv ? "direct (CPU)" : "tiled"
    }; wgdet ${wg.VERSION}`;
  state.adapter = i;
  const index = await (await fetch("configs/index.json")).json();
  for (const c of index) {
    const dict = await (await fetch(`configs/${encodeURIComponent(c.name)}.json`)).json();
    configs.push({ ...c, dict });
    $("config").append(new Option(c.name, c.name));
  }
  const note = () =>
    $("confignote").textContent = configs.find((c) => c.name === $("config").value)?.note ?? "";
  $("config").onchange = note;
  note();
  $("datasrc").onchange = () => {
    if ($("datasrc").value === "folder") $("folder").click();
  };
  $("folder").onchange = async () => {
    const paths = await wg.mountFiles($("folder").files, "/data/upload");
    log(`mounted ${paths.length} files under /data/upload`);
  };
  $("train").onclick = train;
  $("download").onclick = () => {
    download(lastCheckpoint);
    download(lastCheckpoint.replace(/\.safetensors$/, ".json"));
  };
  $("ckpt").onchange = async () => {
    const paths = await wg.mountFiles($("ckpt").files, "/ckpt");
    lastCheckpoint = paths.find((p) => p.endsWith(".safetensors")) ?? null;
    log(`loaded checkpoint ${lastCheckpoint}`);
  };
  const drop = $("drop");
  drop.ondragover = (e) => e.preventDefault();
  drop.ondrop = async (e) => {
    e.preventDefault();
    if (!lastCheckpoint || !cfgDict && !configs.length) {
      return log("train or load a checkpoint first");
    }
    const paths = await wg.mountFiles(e.dataTransfer.files, "/drop");
    const dict = cfgDict ?? configs.find((c) => c.name === $("config").value).dict;
    await showDetections(new wg.Config(structuredClone(dict), "drop"), lastCheckpoint, paths, drop);
  };
  if (params.has("auto")) {
    if (params.get("epochs")) $("epochs").value = params.get("epochs");
    if (params.get("ntrain")) $("ntrain").value = params.get("ntrain");
    if (params.get("nval")) $("nval").value = params.get("nval");
    if (params.get("thr")) $("thr").value = params.get("thr");
    await train();
  }
}

main().catch((e) => {
  state.error = String(e?.stack ?? e);
  log(state.error);
});
