// The analysis tools as a user runs them: `deno task NAME ...` on the tiny config with a small
// synthetic data set. eval-metric and confusion-matrix get results made from the ground truth
// (an oracle: mAP 1, a diagonal matrix); get-flops is checked against hand-computed counts.
import { join } from "node:path";
import { assert } from "../_assert.ts";
import { hasAdapter } from "../_gpu.ts";
import { pickleDumps } from "../../lib/utils/pickle.ts";
import { encodeResults } from "../../lib/apis/results_io.ts";

const root = new URL("../../", import.meta.url).pathname;
const tiny = join(root, "configs/retinanet/retinanet_tiny_shapes.ts");
const CACHE = join(root, ".cache/wgdet-tests/tools");
const SMALL = [
  `data.synthetic.cache_dir=${CACHE}`,
  "data.synthetic.num_train=4",
  "data.synthetic.num_val=3",
  "data.synthetic.img_size=64",
  "+data.synthetic.object_size=[14,32]",
  "model.backbone.base_channels=8",
  "model.neck.in_channels=[8,16,32,64]",
  "model.neck.out_channels=16",
  "model.bbox_head.in_channels=16",
  "model.bbox_head.feat_channels=16",
  "model.bbox_head.norm_cfg.num_groups=8",
  "data.test.pipeline.1.img_scale=[64,64]",
  "data.train.pipeline.2.img_scale=[64,64]",
];

async function task(name: string, args: string[], cwd = root) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "--cwd", root, name, ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function inTmp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-tools-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const logA = [
  { env_info: "x", seed: 0 },
  { mode: "train", epoch: 1, iter: 1, lr: 0.001, loss_cls: 1.2, loss: 2.0, time: 0.5 },
  { mode: "train", epoch: 1, iter: 2, lr: 0.01, loss_cls: 1.0, loss: 1.7, time: 0.3 },
  { mode: "val", epoch: 1, iter: 3, bbox_mAP: 0.2 },
  { mode: "train", epoch: 2, iter: 1, lr: 0.01, loss_cls: 0.8, loss: 1.4, time: 0.3 },
  { mode: "train", epoch: 2, iter: 2, lr: 0.01, loss_cls: 0.7, loss: 1.2, time: 0.4 },
];
const logB = logA.slice(0, 3); // a run that failed during epoch 1

Deno.test("analyze-logs plot_curve: two runs on one SVG with real text and a log-scale lr; PNG; a missing key exits 2", () =>
  inTmp(async (dir) => {
    const a = join(dir, "run_a.log.json"), b = join(dir, "run_b.log.json");
    await Deno.writeTextFile(a, logA.map((r) => JSON.stringify(r)).join("\n") + "\n");
    await Deno.writeTextFile(b, logB.map((r) => JSON.stringify(r)).join("\n") + '\n{"mode": "tr');
    const svg = join(dir, "curves.svg");
    const r = await task("analyze-logs", [
      "plot_curve",
      a,
      b,
      "--keys",
      "loss_cls",
      "lr",
      "bbox_mAP",
      "--log-scale",
      "lr",
      "--legend",
      "Baseline",
      "Failed run",
      "--out",
      svg,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const text = await Deno.readTextFile(svg);
    assert.match(text, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    for (
      const s of [
        "loss_cls",
        "lr (log scale)",
        "bbox_mAP",
        "Baseline",
        "Failed run",
        "1e-2",
        "1e-3",
      ]
    ) {
      assert.ok(text.includes(`>${s}<`), `text "${s}" in the SVG`);
    }
    // loss_cls: 4 points of run A and 2 of run B, as two polylines
    const panel = text.split('<g class="panel" data-key="loss_cls">')[1].split("</g>")[0];
    const lines = [...panel.matchAll(/<polyline[^>]*points="([^"]+)"/g)].map((m) =>
      m[1].split(" ").length
    );
    assert.deepEqual(lines, [4, 2]);
    const png = join(dir, "curves.png");
    const p = await task("analyze-logs", ["plot_curve", a, "--keys", "loss", "--out", png]);
    assert.equal(p.code, 0, p.stderr);
    assert.deepEqual([...(await Deno.readFile(png)).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    const bad = await task("analyze-logs", ["plot_curve", a, "--keys", "loss_bbox", "--out", svg]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: No log has the key "loss_bbox": the logs have .*loss_cls/);
    const t = await task("analyze-logs", ["cal_train_time", a]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(
      t.stdout,
      /slowest epoch 2, average time is 0\.4000[\s\S]*fastest epoch 1, average time is 0\.3000/,
    );
  }));

/** Results equal to the ground truth of the synthetic test split (score 1). */
async function groundTruthResults(): Promise<{ results: Float32Array[][]; counts: number[] }> {
  const { loadCommandConfig } = await import("../../lib/cli/actions.ts");
  const { prepareRun } = await import("../../lib/apis/runtime_keys.ts");
  const { buildSplit } = await import("../../lib/apis/common.ts");
  const cfg = await loadCommandConfig(tiny, SMALL, () => {});
  await prepareRun(cfg);
  const ds = buildSplit(cfg, "test") as unknown as {
    length: number;
    CLASSES: string[];
    getAnnInfo(i: number): { bboxes: Float32Array; labels: Int32Array };
  };
  const counts = ds.CLASSES.map(() => 0);
  const results: Float32Array[][] = [];
  for (let i = 0; i < ds.length; i++) {
    const { bboxes, labels } = ds.getAnnInfo(i);
    const per: number[][] = ds.CLASSES.map(() => []);
    labels.forEach((l, k) => {
      per[l].push(...bboxes.subarray(4 * k, 4 * k + 4), 1);
      counts[l]++;
    });
    results.push(per.map((a) => Float32Array.from(a)));
  }
  return { results, counts };
}

Deno.test("eval-metric and confusion-matrix on ground-truth results: bbox_mAP 1 and a diagonal matrix; a size mismatch exits 2", () =>
  inTmp(async (dir) => {
    const { results, counts } = await groundTruthResults();
    const pkl = join(dir, "results.pkl");
    await Deno.writeFile(pkl, encodeResults(results, pkl));
    const e = await task("eval-metric", [tiny, pkl, "--eval", "bbox", "--cfg-options", ...SMALL]);
    assert.equal(e.code, 0, e.stderr);
    const metrics = JSON.parse(e.stdout.trim().split("\n").pop()!);
    assert.equal(metrics.bbox_mAP, 1);
    const cm = await task("confusion-matrix", [
      tiny,
      pkl,
      join(dir, "cm"),
      "--cfg-options",
      ...SMALL,
    ]);
    assert.equal(cm.code, 0, cm.stderr);
    const { matrix, classes } = JSON.parse(
      await Deno.readTextFile(join(dir, "cm", "confusion_matrix.json")),
    );
    assert.equal(classes.at(-1), "background");
    matrix.forEach((row: number[], i: number) =>
      row.forEach((v, j) =>
        assert.equal(v, i === j && i < counts.length ? counts[i] : 0, `[${i}][${j}]`)
      )
    );
    await Deno.stat(join(dir, "cm", "confusion_matrix.png"));
    const short = join(dir, "short.pkl");
    await Deno.writeFile(short, pickleDumps([]));
    const bad = await task("eval-metric", [tiny, short, "--cfg-options", ...SMALL]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /it has 0 images, the test set .* has 3/);
  }));

Deno.test("browse-dataset draws the training pipeline's output of every image", () =>
  inTmp(async (dir) => {
    const r = await task("browse-dataset", [
      tiny,
      "--output-dir",
      join(dir, "b"),
      "--cfg-options",
      ...SMALL,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const pngs = [...Deno.readDirSync(join(dir, "b"))].filter((e) => e.name.endsWith(".png"));
    assert.equal(pngs.length, 4);
    assert.match(r.stdout, /\d+ boxes, 64×64/);
  }));

Deno.test({
  name:
    "get-flops counts mmcv's FLOPs (hand-checked stem) and every parameter; benchmark prints images/s after warm-up",
  ignore: !hasAdapter,
  fn: () =>
    inTmp(async (dir) => {
      const r = await task("get-flops", [
        tiny,
        "--shape",
        "64",
        "64",
        "--depth",
        "2",
        "--cfg-options",
        ...SMALL,
      ]);
      assert.equal(r.code, 0, r.stderr);
      // stem: 7×7 conv 3→8, stride 2 → 32×32 outputs, no bias: 49·3·8·1024 multiply-adds
      assert.match(r.stdout, /backbone\.conv1 .* 1\.20 MFLOPs/);
      // bn1: 8·32·32 elements × 2 (affine) + the fused ReLU's 8·32·32
      assert.match(r.stdout, /backbone\.bn1 .* 24\.58 KFLOPs/);
      assert.match(r.stdout, /Input shape: \(3, 64, 64\)\nFlops: .*\nParams: .* \(\d+\)/);
      const { buildModel } = await import("../../lib/apis/common.ts");
      const { loadCommandConfig } = await import("../../lib/cli/actions.ts");
      const { toCpuStateDict } = await import("../../lib/apis/adapters.ts");
      const { saveCheckpoint } = await import("../../lib/runner/checkpoint.ts");
      const { initGpu } = await import("../../lib/gpu/runtime.ts");
      await initGpu();
      const cfg = await loadCommandConfig(tiny, SMALL, () => {});
      const det = buildModel(cfg, 0);
      const params = Number(r.stdout.match(/Params: .* \((\d+)\)/)![1]);
      assert.equal(params, det.numParameters().total);
      const ck = join(dir, "ck.safetensors");
      await saveCheckpoint(ck, { stateDict: toCpuStateDict(await det.stateDict()) });
      det.dispose();
      const b = await task("benchmark", [
        tiny,
        ck,
        "--max-iter",
        "3",
        "--num-warmup",
        "1",
        "--cfg-options",
        ...SMALL,
      ]);
      assert.equal(b.code, 0, b.stderr);
      assert.match(
        b.stdout,
        /Overall fps: \d+\.\d+ img \/ s, times per image: .* \(2 images after 1 warm-up\)/,
      );
    }),
  sanitizeResources: false,
  sanitizeOps: false,
});
