// Helper for config_test.ts: prints the merged config at Deno.args[0] as JSON, or the error
// (Deno.args[1] "--allow-remote-config" allows code from URLs). Run in
// a subprocess with --no-lock so that remote test modules never enter deno.lock.
import { loadConfig } from "../../lib/config/mod.ts";

try {
  const allowRemoteConfig = Deno.args[1] === "--allow-remote-config";
  console.log(JSON.stringify((await loadConfig(Deno.args[0], { allowRemoteConfig })).dict));
} catch (e) {
  console.log(JSON.stringify({ error: (e as Error).name, message: (e as Error).message }));
}
