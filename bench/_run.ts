/**
 * Runs benchmark suites, prints a table and writes every record as JSON to
 * `bench/results/<date>-<adapter>.json` (or `outPath`). Shared by `bench/main.ts` (discovers the
 * suites) and `bench/gpu.ts` (imports them statically, so that it bundles for a GPU machine).
 */
import { initGpu } from "../lib/gpu/runtime.ts";
import type { BenchRecord } from "./_types.ts";

/** A suite: its file name and its `run`. */
export type Suite = [string, (o: { fallback: boolean }) => Promise<BenchRecord[]>];

/** Runs `suites` (those whose name contains one of `filters`, or all). */
export async function runSuites(
  suites: Suite[],
  filters: string[],
  outPath?: string,
  opts: {
    /** Use the scaled-down shapes whatever the adapter (`bench/gpu.ts --tiny`). */
    tiny?: boolean;
    /** More top-level fields for the JSON (e.g. a test run's summary). */
    extra?: Record<string, unknown>;
  } = {},
): Promise<void> {
  const gpu = await initGpu();
  const adapter = gpu.info.adapterName;
  const fallback = gpu.info.isFallbackAdapter || !!opts.tiny;
  console.log(`adapter: ${adapter}${fallback ? " (fallback: scaled-down shapes)" : ""}`);
  const all: (BenchRecord & { suite: string })[] = [];
  for (const [m, run] of suites) {
    if (filters.length && !filters.some((f) => m.includes(f))) continue;
    console.log(`\n## ${m}`);
    try {
      const recs = await run({ fallback });
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
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const file = outPath ??
    new URL(
      `./results/${stamp}-${adapter.replace(/[^A-Za-z0-9]+/g, "_").slice(0, 40)}.json`,
      import.meta.url,
    ).pathname;
  await Deno.mkdir(file.slice(0, file.lastIndexOf("/")) || ".", { recursive: true });
  await Deno.writeTextFile(
    file,
    JSON.stringify(
      {
        adapter,
        fallback,
        date: new Date().toISOString(),
        deno: Deno.version.deno,
        ...opts.extra,
        records: all,
      },
      null,
      2,
    ),
  );
  console.log(`\nwrote ${file}`);
  await gpu.shutdown();
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
}
