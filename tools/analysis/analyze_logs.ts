/**
 * `deno task analyze-logs plot_curve LOG.json... [--keys K...] [--out curves.svg|png]` and
 * `deno task analyze-logs cal_train_time LOG.json...`: mmdetection's
 * `tools/analysis_tools/analyze_logs.py` on wgdet's `*.log.json` logs (the same records).
 */
import { basename } from "node:path";
import { collect, runTool, toolProgram } from "./_common.ts";
import {
  curvePoints,
  defaultCurveKeys,
  readJsonLogFile,
  renderCurvesSvg,
} from "../../lib/runner/plot_svg.ts";
import { renderCurvesPng } from "../../lib/runner/plot.ts";
import { ConfigError } from "../../lib/utils/errors.ts";

const program = toolProgram(
  "analyze-logs",
  "Plot training curves or compute the iteration time of JSON logs",
);

program.command("plot_curve")
  .description(
    "Draw the curves of KEYS of one or several runs on one chart (SVG with real text, or PNG)",
  )
  .argument("<logs...>", "JSON logs (*.log.json) of one or several runs")
  .option("--keys <keys...>", "keys to plot (default: loss, lr, bbox_mAP where logged)")
  .option("--legend <names...>", "legend names, one per log (default: the log file names)")
  .option("--log-scale <keys...>", "keys drawn on a log10 axis, e.g. lr")
  .option("--title <title>", "chart title")
  .option("--out <file>", "output file: .svg or .png (default: curves.svg)", "curves.svg")
  .action(async (logs: string[], o) => {
    if (o.legend && o.legend.length !== logs.length) {
      throw new ConfigError(
        `--legend has ${o.legend.length} names for ${logs.length} logs: give one per log`,
      );
    }
    if (!/\.(svg|png)$/i.test(o.out)) {
      throw new ConfigError(`Invalid --out "${o.out}": the chart must be a .svg or .png file`);
    }
    const runs = [];
    for (const [i, log] of logs.entries()) {
      runs.push({ name: o.legend?.[i] ?? basename(log), records: await readJsonLogFile(log) });
    }
    const keys: string[] = o.keys ?? defaultCurveKeys(runs);
    for (const k of keys) {
      if (!runs.some((r) => curvePoints(r.records, k).length)) {
        const known = [...new Set(runs.flatMap((r) => r.records.flatMap((x) => Object.keys(x))))]
          .filter((x) => !["mode", "epoch", "iter", "time", "data_time", "memory"].includes(x));
        throw new ConfigError(`No log has the key "${k}": the logs have ${known.join(", ")}`);
      }
    }
    if (o.out.toLowerCase().endsWith(".svg")) {
      await Deno.writeTextFile(
        o.out,
        renderCurvesSvg(runs, { keys, logScale: o.logScale, title: o.title }),
      );
    } else {
      await Deno.writeFile(
        o.out,
        renderCurvesPng(runs, keys, { logScale: o.logScale, title: o.title, points: curvePoints }),
      );
    }
    console.log(`plot curve of ${logs.join(", ")}, metric is ${keys.join(", ")}`);
    console.log(`save curve to: ${o.out}`);
  });

program.command("cal_train_time")
  .description("Average iteration time per epoch (slowest, fastest, mean, std) of each log")
  .argument("<logs...>", "JSON logs (*.log.json)")
  .option("--include-outliers", "include the first iteration of each epoch")
  .action(async (logs: string[], o) => {
    for (const log of logs) {
      const recs = (await readJsonLogFile(log)).filter((r) =>
        r.mode === "train" && typeof r.time === "number"
      );
      const byEpoch = new Map<number, number[]>();
      for (const r of recs) {
        const e = r.epoch as number;
        if (!byEpoch.has(e)) byEpoch.set(e, []);
        byEpoch.get(e)!.push(r.time as number);
      }
      if (!byEpoch.size) throw new ConfigError(`Log "${log}" has no train records with a "time"`);
      const means: [number, number][] = [];
      for (const [e, t] of byEpoch) {
        const ts = o.includeOutliers ? t : t.slice(1).length ? t.slice(1) : t;
        means.push([e, ts.reduce((a, b) => a + b, 0) / ts.length]);
      }
      const all = means.map((m) => m[1]);
      const mean = all.reduce((a, b) => a + b, 0) / all.length;
      const std = Math.sqrt(all.reduce((a, b) => a + (b - mean) ** 2, 0) / all.length);
      const slow = means.reduce((a, b) => (b[1] > a[1] ? b : a));
      const fast = means.reduce((a, b) => (b[1] < a[1] ? b : a));
      console.log(`-----Analyze train time of ${log}-----`);
      console.log(`slowest epoch ${slow[0]}, average time is ${slow[1].toFixed(4)}`);
      console.log(`fastest epoch ${fast[0]}, average time is ${fast[1].toFixed(4)}`);
      console.log(`time std over epochs is ${std.toFixed(4)}`);
      console.log(`average iter time: ${mean.toFixed(4)} s/iter`);
    }
  });

void collect;
await runTool(program);
