/**
 * `deno task bench [FILTER...] [--out FILE]`: runs every `bench/*_bench.ts` module (or those whose
 * name contains one of the filters), prints a table, and writes all records as JSON to
 * `bench/results/<date>-<adapter>.json` (or `--out FILE`).
 */
import { runSuites, type Suite } from "./_run.ts";

const args = [...Deno.args];
if (args.includes("--help") || args.includes("-h")) {
  const suites: string[] = [];
  for await (const e of Deno.readDir(new URL("./", import.meta.url))) {
    if (e.isFile && e.name.endsWith("_bench.ts")) suites.push(e.name.replace("_bench.ts", ""));
  }
  console.log(`Usage: deno task bench [FILTER...] [--out FILE]

Runs the benchmark suites bench/*_bench.ts (all, or those whose name contains a FILTER), prints a
table and writes every record as JSON to bench/results/<date>-<adapter>.json (or FILE).

Suites: ${suites.sort().join(", ")}

On a software (fallback) adapter the suites use scaled-down shapes. Peer figures (PyTorch on this
machine, tfjs-backend-webgpu) are taken in the same run when available; a missing peer leaves its
column empty. Environment: WGDET_BENCH_ITERS (train suite steps, default 30), WGDET_PYTHON (the
python3 with torch for the PyTorch peer).

Related: deno task profile CONFIG (per-kernel-family time of one training step).`);
  Deno.exit(0);
}
let outPath: string | undefined;
const oi = args.indexOf("--out");
if (oi >= 0) {
  outPath = args[oi + 1];
  args.splice(oi, 2);
}

const dir = new URL("./", import.meta.url);
const names: string[] = [];
for await (const e of Deno.readDir(dir)) {
  if (e.isFile && e.name.endsWith("_bench.ts")) names.push(e.name);
}
names.sort();
for (const a of args) {
  if (a.startsWith("-")) {
    console.error(`error: unknown option "${a}" (see deno task bench --help)`);
    Deno.exit(2);
  }
  if (!names.some((m) => m.includes(a))) {
    console.error(
      `error: no benchmark matches "${a}": the modules are ${names.join(", ")}`,
    );
    Deno.exit(2);
  }
}
const suites: Suite[] = [];
for (const m of names) {
  if (args.length && !args.some((f) => m.includes(f))) continue;
  const mod = await import(new URL(m, dir).href) as { run: Suite[1] };
  suites.push([m, mod.run]);
}
await runSuites(suites, args, outPath);
