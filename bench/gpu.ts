/**
 * The benchmark entry for a GPU machine without Deno's npm cache: the same suites as
 * `bench/main.ts`, imported statically so that `deno bundle` inlines them (see
 * `../shared/gpu/README.md`). Writes the JSON to `$OUT/bench.json` when `OUT` is set.
 *
 *   bash ../shared/gpu/prepare-carry.sh bench/gpu.ts
 *   bash .deno/on-gpu.sh deno run -A .deno/bundle/gpu.js [FILTER...]
 */
import { runSuites, type Suite } from "./_run.ts";
import { run as conv } from "./conv_bench.ts";
import { run as gemm } from "./gemm_bench.ts";
import { run as loader } from "./loader_bench.ts";
import { run as targets } from "./targets_bench.ts";
import { run as train } from "./train_bench.ts";

const suites: Suite[] = [
  ["conv_bench.ts", conv],
  ["gemm_bench.ts", gemm],
  ["loader_bench.ts", loader],
  ["targets_bench.ts", targets],
  ["train_bench.ts", train],
];
const out = Deno.env.get("OUT");
await runSuites(suites, Deno.args, out ? `${out}/bench.json` : undefined);
