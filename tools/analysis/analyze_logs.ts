/**
 * `deno task analyze-logs plot_curve LOG.json... [--keys K...] [--out curves.svg|png]` and
 * `deno task analyze-logs cal_train_time LOG.json...`: mmdetection's
 * `tools/analysis_tools/analyze_logs.py` on wgdet's `*.log.json` logs (the same records).
 */
import { basename } from "node:path";
import { runTool, toolArgs } from "./_common.ts";
import { usageError } from "../_args.ts";
import {
  curvePoints,
  defaultCurveKeys,
  readJsonLogFile,
  renderCurvesSvg,
} from "../../lib/runner/plot_svg.ts";
import { renderCurvesPng } from "../../lib/runner/plot.ts";
import { ConfigError } from "../../lib/utils/errors.ts";

const HELP = `Usage: deno task analyze-logs [options] [command]

Plot training curves or compute the iteration time of JSON logs

Options:
  -h, --help                          print this help and exit

Commands:
  plot_curve [options] <logs...>      Draw the curves of KEYS of one or several runs on one chart
                                      (SVG with real text, or PNG)
  cal_train_time [options] <logs...>  Average iteration time per epoch (slowest, fastest, mean,
                                      std) of each log
  help [command]                      display help for command`;

const PLOT_CURVE_HELP = `Usage: deno task analyze-logs plot_curve [options] <logs...>

Draw the curves of KEYS of one or several runs on one chart (SVG with real text, or PNG)

Arguments:
  logs                   JSON logs (*.log.json) of one or several runs

Options:
  --keys <keys...>       keys to plot (default: loss, lr, bbox_mAP where logged)
  --legend <names...>    legend names, one per log (default: the log file names)
  --log-scale <keys...>  keys drawn on a log10 axis, e.g. lr
  --title <title>        chart title
  --out <file>           output file: .svg or .png (default: curves.svg)
  -h, --help             print this help and exit`;

const CAL_TRAIN_TIME_HELP = `Usage: deno task analyze-logs cal_train_time [options] <logs...>

Average iteration time per epoch (slowest, fastest, mean, std) of each log

Arguments:
  logs                JSON logs (*.log.json)

Options:
  --include-outliers  include the first iteration of each epoch
  -h, --help          print this help and exit`;

async function plotCurve(args: string[]): Promise<void> {
  const { values: o, positionals: logs } = await toolArgs({
    usage: PLOT_CURVE_HELP,
    args,
    options: {
      keys: { type: "string", variadic: true },
      legend: { type: "string", variadic: true },
      "log-scale": { type: "string", variadic: true },
      title: { type: "string" },
      out: { type: "string", default: "curves.svg" },
    },
  }, ["logs..."]);
  const logScale = o["log-scale"];
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
      renderCurvesSvg(runs, { keys, logScale: logScale, title: o.title }),
    );
  } else {
    await Deno.writeFile(
      o.out,
      renderCurvesPng(runs, keys, { logScale: logScale, title: o.title, points: curvePoints }),
    );
  }
  console.log(`plot curve of ${logs.join(", ")}, metric is ${keys.join(", ")}`);
  console.log(`save curve to: ${o.out}`);
}

async function calTrainTime(args: string[]): Promise<void> {
  const { values: v, positionals: logs } = await toolArgs({
    usage: CAL_TRAIN_TIME_HELP,
    args,
    options: { "include-outliers": { type: "boolean" } },
  }, ["logs..."]);
  const o = { includeOutliers: v["include-outliers"] };
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
}

const COMMANDS: Record<string, [(args: string[]) => Promise<void>, string]> = {
  plot_curve: [plotCurve, PLOT_CURVE_HELP],
  cal_train_time: [calTrainTime, CAL_TRAIN_TIME_HELP],
};
const [cmd, ...rest] = Deno.args;
if (cmd === undefined || cmd === "-h" || cmd === "--help") {
  console.log(HELP);
  Deno.exit(0);
}
if (cmd === "help") {
  console.log(rest[0] && rest[0] in COMMANDS ? COMMANDS[rest[0]][1] : HELP);
  Deno.exit(0);
}
if (!(cmd in COMMANDS)) {
  usageError(
    cmd.startsWith("-")
      ? `unknown option "${cmd}"`
      : `unknown command "${cmd}": the commands are ${Object.keys(COMMANDS).join(", ")}`,
  );
}
await runTool(() => COMMANDS[cmd][0](rest));
