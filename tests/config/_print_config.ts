// Helper for config_test.ts: prints the merged config at Deno.args[0] as JSON, or the error. Run in
// a subprocess with --no-lock so that remote test modules never enter deno.lock.
import { loadConfig } from "../../lib/config/mod.ts";

try {
  console.log(JSON.stringify((await loadConfig(Deno.args[0])).dict));
} catch (e) {
  console.log(JSON.stringify({ error: (e as Error).name, message: (e as Error).message }));
}
