/**
 * `deno task bench [FILTER...]`: runs every `bench/*_bench.ts` module (or those whose name contains
 * one of the filters), prints a table, and writes all records as JSON to
 * `bench/results/<date>-<adapter>.json` (or `--out FILE`).
 */
import { initGpu } from "../lib/gpu/runtime.ts";
import type { BenchRecord } from "./_types.ts";

const args = [...Deno.args];
let outPath: string | undefined;
const oi = args.indexOf("--out");
if (oi >= 0) {
  outPath = args[oi + 1];
  args.splice(oi, 2);
}
const filters = args;

const gpu = await initGpu();
const adapter = gpu.info.adapterName;
const fallback = gpu.info.isFallbackAdapter;
console.log(`adapter: ${adapter}${fallback ? " (fallback: scaled-down shapes)" : ""}`);

const dir = new URL("./", import.meta.url);
const mods: string[] = [];
for await (const e of Deno.readDir(dir)) {
  if (e.isFile && e.name.endsWith("_bench.ts")) mods.push(e.name);
}
mods.sort();

const all: (BenchRecord & { suite: string })[] = [];
for (const m of mods) {
  if (filters.length && !filters.some((f) => m.includes(f))) continue;
  console.log(`\n## ${m}`);
  const mod = await import(new URL(m, dir).href) as {
    run: (o: { fallback: boolean }) => Promise<BenchRecord[]>;
  };
  try {
    const recs = await mod.run({ fallback });
    for (const r of recs) {
      all.push({ ...r, adapter: r.adapter ?? adapter, suite: m.replace("_bench.ts", "") });
      const peer = r.peerValue !== undefined
        ? `   ${r.peer}: ${fmt(r.peerValue)} ${r.unit}   ratio ${
          fmt(r.ratio ?? r.value / r.peerValue)
        }`
        : "";
      console.log(
        `${r.name.padEnd(48)} ${fmt(r.value).padStart(10)} ${r.unit}${peer}${
          r.notes ? `   (${r.notes})` : ""
        }`,
      );
    }
  } catch (e) {
    console.error(`${m} failed: ${(e as Error).stack ?? e}`);
    all.push({
      suite: m,
      name: "error",
      value: NaN,
      unit: "",
      notes: String((e as Error).message),
    });
  }
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const file = outPath ??
  new URL(`./results/${stamp}-${adapter.replace(/[^A-Za-z0-9]+/g, "_").slice(0, 40)}.json`, dir)
    .pathname;
await Deno.writeTextFile(
  file,
  JSON.stringify(
    { adapter, fallback, date: new Date().toISOString(), deno: Deno.version.deno, records: all },
    null,
    2,
  ),
);
console.log(`\nwrote ${file}`);
gpu.destroy();
