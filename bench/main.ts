/**
 * `deno task bench [FILTER...] [--out FILE]`: runs every `bench/*_bench.ts` module (or those whose
 * name contains one of the filters), prints a table, and writes all records as JSON to
 * `bench/results/<date>-<adapter>.json` (or `--out FILE`).
 */
import { runSuites, type Suite } from "./_run.ts";
import { parseCli, usageError } from "../tools/_args.ts";

const dir = new URL("./", import.meta.url);
const names: string[] = [];
for await (const e of Deno.readDir(dir)) {
  if (e.isFile && e.name.endsWith("_bench.ts")) names.push(e.name);
}
names.sort();
const { values, positionals: args } = await parseCli({
  usage: `Usage: deno task bench [FILTER...] [--out FILE]

Runs the benchmark suites bench/*_bench.ts (all, or those whose name contains a FILTER), prints a
table and writes every record as JSON to bench/results/<date>-<adapter>.json (or FILE).

Suites: ${names.map((n) => n.replace("_bench.ts", "")).join(", ")}

On a software (fallback) adapter the suites use scaled-down shapes. Peer figures (PyTorch on this
machine, tfjs-backend-webgpu) are taken in the same run when available; a missing peer leaves its
column empty. Environment: WGDET_BENCH_ITERS (train suite steps, default 30), WGDET_PYTHON (the
python3 with torch for the PyTorch peer).

Related: deno task profile CONFIG (per-kernel-family time of one training step).`,
  positionals: true,
  options: { out: { type: "string" } },
});
const outPath = values.out;
for (const a of args) {
  if (!names.some((m) => m.includes(a))) {
    usageError(`no benchmark matches "${a}": the modules are ${names.join(", ")}`);
  }
}
const suites: Suite[] = [];
for (const m of names) {
  if (args.length && !args.some((f) => m.includes(f))) continue;
  const mod = await import(new URL(m, dir).href) as { run: Suite[1] };
  suites.push([m, mod.run]);
}
await runSuites(suites, args, outPath);
