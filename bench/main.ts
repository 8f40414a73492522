/**
 * `deno task bench [FILTER...] [--out FILE]`: runs every `bench/*_bench.ts` module (or those whose
 * name contains one of the filters), prints a table, and writes all records as JSON to
 * `bench/results/<date>-<adapter>.json` (or `--out FILE`).
 */
import { runSuites, type Suite } from "./_run.ts";

const args = [...Deno.args];
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
const suites: Suite[] = [];
for (const m of names) {
  if (args.length && !args.some((f) => m.includes(f))) continue;
  const mod = await import(new URL(m, dir).href) as { run: Suite[1] };
  suites.push([m, mod.run]);
}
await runSuites(suites, args, outPath);
