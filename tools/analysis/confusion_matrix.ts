/**
 * `deno task confusion-matrix CONFIG RESULTS SAVE_DIR`: the detection confusion matrix of a results
 * file on the config's test set, as mmdetection's `tools/analysis_tools/confusion_matrix.py`:
 * rows are ground-truth classes, columns predicted classes, the last row/column "background".
 * A detection scoring at least `--score-thr` counts in [gt, det] for every ground truth it
 * overlaps with IoU ≥ `--tp-iou-thr`, in [background, det] if it overlaps none; a ground truth
 * no detection of its class overlaps counts in [gt, background]. Writes `confusion_matrix.json`
 * (counts), `confusion_matrix.csv` and `confusion_matrix.png` (row-normalised percentages).
 */
import { join } from "node:path";
import { int, loadToolConfig, num, runTool, toolArgs } from "./_common.ts";
import { buildSplit } from "../../lib/apis/common.ts";
import { readResults } from "../../lib/apis/results_io.ts";
import { Raster } from "../../lib/runner/plot.ts";
import type { BboxResult } from "../../lib/models/detectors/base.ts";

function iou(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number): number {
  const w = Math.min(a[i + 2], b[j + 2]) - Math.max(a[i], b[j]);
  const h = Math.min(a[i + 3], b[j + 3]) - Math.max(a[i + 1], b[j + 1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const ua = (a[i + 2] - a[i]) * (a[i + 3] - a[i + 1]) + (b[j + 2] - b[j]) * (b[j + 3] - b[j + 1]) -
    inter;
  return ua > 0 ? inter / ua : 0;
}

/** mmdet's `calculate_confusion_matrix` for bbox results: `(C+1) × (C+1)` counts. */
export function confusionMatrix(
  results: BboxResult[],
  gts: { bboxes: Float32Array; labels: Int32Array }[],
  numClasses: number,
  scoreThr: number,
  tpIouThr: number,
): number[][] {
  const m = Array.from({ length: numClasses + 1 }, () => new Array(numClasses + 1).fill(0));
  results.forEach((perClass, idx) => {
    const gt = gts[idx];
    const tp = new Array(gt.labels.length).fill(0);
    perClass.forEach((rows, detLabel) => {
      for (let r = 0; r + 5 <= rows.length; r += 5) {
        if (rows[r + 4] < scoreThr) continue;
        let matched = 0;
        for (let j = 0; j < gt.labels.length; j++) {
          if (iou(rows, r, gt.bboxes, 4 * j) >= tpIouThr) {
            matched++;
            if (gt.labels[j] === detLabel) tp[j]++;
            m[gt.labels[j]][detLabel]++;
          }
        }
        if (matched === 0) m[numClasses][detLabel]++;
      }
    });
    tp.forEach((n, j) => {
      if (n === 0) m[gt.labels[j]][numClasses]++;
    });
  });
  return m;
}

function drawMatrix(m: number[][], names: string[], title: string): Uint8Array {
  const n = m.length,
    cell = 56,
    left = 20 + Math.max(...names.map((s) => Raster.textWidth(s, 2))),
    top = 80;
  const r = new Raster(left + n * cell + 30, top + n * cell + 30 + 20 * n);
  r.text(10, 10, title, [0, 0, 0], 2);
  r.text(left, 40, "columns: predicted, rows: ground truth (% of row)", [60, 60, 60], 2);
  for (let i = 0; i < n; i++) {
    const sum = m[i].reduce((a, b) => a + b, 0);
    r.text(10, top + i * cell + cell / 2 - 7, names[i], [0, 0, 0], 2);
    for (let j = 0; j < n; j++) {
      const p = sum ? (100 * m[i][j]) / sum : 0;
      const shade = Math.round(255 - 2.2 * p);
      r.rect(left + j * cell, top + i * cell, cell - 2, cell - 2, [shade, shade, 255]);
      const s = String(Math.round(p));
      r.text(
        left + j * cell + cell / 2 - Raster.textWidth(s, 2) / 2,
        top + i * cell + cell / 2 - 7,
        s,
        p > 60 ? [255, 255, 255] : [0, 0, 0],
        2,
      );
    }
  }
  names.forEach((s, j) =>
    r.text(left, top + n * cell + 10 + 20 * j, `${j}: ${s}`, [60, 60, 60], 2)
  );
  return r.toPng();
}

const HELP = `Usage: deno task confusion-matrix [options] <config> <results> <save_dir>

Confusion matrix of a results file on the config's test set

Arguments:
  config                        config file
  results                       results file: .pkl/.pickle (mmdet layout) or .json
  save_dir                      folder for confusion_matrix.{json,csv,png} (created)

Options:
  --score-thr <float>           score threshold of the detections (default: 0.3)
  --tp-iou-thr <float>          IoU threshold of a match (default: 0.5)
  --max-images <int>            only the first N images
  --cfg-options <key=value...>  override config keys
  -h, --help                    print this help and exit`;

if (import.meta.main) {
  await runTool(async () => {
    const { values: v, positionals } = await toolArgs({
      usage: HELP,
      options: {
        "score-thr": { type: "string", default: "0.3" },
        "tp-iou-thr": { type: "string", default: "0.5" },
        "max-images": { type: "string" },
        "cfg-options": { type: "string", variadic: true },
      },
    }, ["config", "results", "save_dir"]);
    const [config, resultsPath, saveDir] = positionals;
    const o = {
      scoreThr: num("score-thr", v["score-thr"]),
      tpIouThr: num("tp-iou-thr", v["tp-iou-thr"]),
      maxImages: v["max-images"] === undefined ? undefined : int("max-images", v["max-images"]),
      cfgOptions: v["cfg-options"],
    };
    const cfg = await loadToolConfig(config, o.cfgOptions);
    const dataset = buildSplit(cfg, "test") as unknown as {
      length: number;
      CLASSES: string[];
      getAnnInfo(i: number): { bboxes: Float32Array; labels: Int32Array };
    };
    let results = await readResults(resultsPath);
    if (results.length !== dataset.length) {
      throw new RangeError(
        `Cannot compare "${resultsPath}": it has ${results.length} images, the test set of "${cfg.filename}" has ${dataset.length}`,
      );
    }
    if (o.maxImages) results = results.slice(0, o.maxImages);
    const gts = results.map((_, i) => dataset.getAnnInfo(i));
    const names = [...dataset.CLASSES, "background"];
    const m = confusionMatrix(results, gts, dataset.CLASSES.length, o.scoreThr, o.tpIouThr);
    await Deno.mkdir(saveDir, { recursive: true });
    await Deno.writeTextFile(
      join(saveDir, "confusion_matrix.json"),
      JSON.stringify({ classes: names, matrix: m }) + "\n",
    );
    await Deno.writeTextFile(
      join(saveDir, "confusion_matrix.csv"),
      ["gt\\pred," + names.join(","), ...m.map((row, i) => `${names[i]},${row.join(",")}`)].join(
        "\n",
      ) + "\n",
    );
    await Deno.writeFile(
      join(saveDir, "confusion_matrix.png"),
      drawMatrix(m, names, `confusion matrix (score >= ${o.scoreThr}, IoU >= ${o.tpIouThr})`),
    );
    const w = Math.max(...names.map((s) => s.length)) + 2;
    console.log("gt \\ pred".padEnd(w) + names.map((s) => s.slice(0, 10).padStart(11)).join(""));
    m.forEach((row, i) =>
      console.log(names[i].padEnd(w) + row.map((v) => String(v).padStart(11)).join(""))
    );
    console.log(`confusion matrix written to ${saveDir}/confusion_matrix.{json,csv,png}`);
  });
}
