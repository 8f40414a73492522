/**
 * `deno task eval-metric CONFIG RESULTS --eval bbox`: evaluates a results file (`results.pkl`
 * from `deno task eval --out` or from mmdetection, or its `.json` twin) on the config's test set
 * without running a model: mmdetection's `tools/analysis_tools/eval_metric.py`.
 */
import { loadToolConfig, runTool, toolArgs } from "./_common.ts";
import { parseEvalOptions } from "../../lib/cli/actions.ts";
import { buildSplit } from "../../lib/apis/common.ts";
import { readResults } from "../../lib/apis/results_io.ts";
import { isDict } from "../../lib/config/mod.ts";

const HELP = `Usage: deno task eval-metric [options] <config> <results>

Evaluate a results file (results.pkl or .json) on the config's test set

Arguments:
  config                         config file
  results                        results file: .pkl/.pickle (mmdet layout) or .json

Options:
  --eval <metrics...>            metrics, e.g. "bbox" (COCO) or "mAP" (VOC);
                                 default: the config's evaluation.metric
  --format-only                  do not evaluate (checks the results against the dataset only)
  --eval-options <key=value...>  evaluation options, e.g. classwise=True
  --cfg-options <key=value...>   override config keys
  -h, --help                     print this help and exit`;

await runTool(async () => {
  const { values: v, positionals } = await toolArgs({
    usage: HELP,
    options: {
      eval: { type: "string", variadic: true },
      "format-only": { type: "boolean" },
      "eval-options": { type: "string", variadic: true },
      "cfg-options": { type: "string", variadic: true },
    },
  }, ["config", "results"]);
  const [config, resultsPath] = positionals;
  const o = {
    eval: v.eval,
    formatOnly: v["format-only"],
    evalOptions: v["eval-options"],
    cfgOptions: v["cfg-options"],
  };
  const evalOptions = parseEvalOptions(o.evalOptions);
  const cfg = await loadToolConfig(config, o.cfgOptions);
  const dataset = buildSplit(cfg, "test");
  const results = await readResults(resultsPath);
  if (results.length !== dataset.length) {
    throw new RangeError(
      `Cannot evaluate "${resultsPath}": it has ${results.length} images, the test set of "${cfg.filename}" has ${dataset.length}`,
    );
  }
  if (o.formatOnly) {
    console.log(`${results.length} images of results match the test set`);
    return;
  }
  const evalCfg = isDict(cfg.dict.evaluation) ? { ...cfg.dict.evaluation } : {};
  for (
    const k of [
      "interval",
      "tmpdir",
      "start",
      "gpu_collect",
      "save_best",
      "rule",
      "dynamic_intervals",
    ]
  ) {
    delete evalCfg[k];
  }
  const metric = o.eval ?? (evalCfg.metric as string | string[] | undefined) ?? "bbox";
  delete evalCfg.metric;
  if (!dataset.evaluate) {
    throw new RangeError("Cannot evaluate: the test dataset has no evaluate()");
  }
  const metrics = dataset.evaluate(results, {
    ...evalCfg,
    ...evalOptions,
    metric: Array.isArray(metric) && metric.length === 1 ? metric[0] : metric,
    logger: (l: string) => console.log(l),
  });
  console.log(JSON.stringify(metrics));
});
