// Helper of runtime_keys_test.ts, run with --no-lock (a URL on a random port must not enter
// deno.lock): imports the custom_imports of a config given as JSON and prints the global it set.
import { Config } from "../../lib/config/mod.ts";
import { importCustomModules } from "../../lib/config/custom_imports.ts";

const cfg = new Config(JSON.parse(Deno.args[0]), "x.ts");
const done = await importCustomModules(cfg);
await importCustomModules(cfg); // cached: imported once
console.log(
  JSON.stringify({ done, count: (globalThis as Record<string, unknown>).__wgdetCustomUrl }),
);
