// The browser build's module graph (web.ts with web/import_map.json, as `deno task build:web`
// bundles it) holds no `node:` built-in, no npm package that needs one, and no `Deno.*` call:
// everything host-specific goes through lib/platform/.
import { assert } from "../_assert.ts";

const ROOT = new URL("../../", import.meta.url);

// Deno-only modules that stay on the graph but never run in a tab: MPI over FFI is opened only by
// initDist({ launcher: "mpi" }), which the browser build has no way to reach.
const DENO_ONLY = new Set(["lib/dist/mpi.ts"]);
const BROWSER_NPM = [/^npm:\/?jpeg-js@/];

interface InfoModule {
  specifier: string;
  kind?: string;
}

async function browserGraph(): Promise<InfoModule[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--import-map", "web/import_map.json", "web.ts"],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  return info.modules;
}

Deno.test("browser build: web.ts's graph has no node: built-ins, no Deno-only npm packages, no Deno.*", async () => {
  const mods = await browserGraph();
  const bad: string[] = [];
  let local = 0;
  for (const m of mods) {
    const s = m.specifier;
    if (s.startsWith("node:")) bad.push(`node built-in ${s}`);
    else if (m.kind === "npm") {
      if (!BROWSER_NPM.some((r) => r.test(s))) bad.push(`npm package ${s} (not browser-safe)`);
    } else if (s.startsWith(ROOT.href) && s.endsWith(".ts")) {
      local++;
      const rel = s.slice(ROOT.href.length);
      if (rel === "lib/platform/deno.ts" || rel === "lib/platform/default.ts") {
        bad.push(`${rel} is on the browser graph (web/import_map.json should replace it)`);
      }
      if (DENO_ONLY.has(rel)) continue;
      const src = (await Deno.readTextFile(new URL(rel, ROOT)))
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/(^|[^:])\/\/.*$/gm, "$1")
        .replace(/`(?:[^`\\]|\\.)*`|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, '""');
      for (const line of src.split("\n")) {
        if (/\bDeno\.\w/.test(line)) bad.push(`${rel}: ${line.trim()}`);
      }
    }
  }
  assert.ok(local > 100, `only ${local} local modules on the graph: is web.ts exporting mod.ts?`);
  assert.ok(
    mods.some((m) => m.specifier.endsWith("/lib/platform/browser.ts")),
    "lib/platform/browser.ts is not on the graph",
  );
  assert.deepEqual(bad, []);
});

Deno.test("mod.ts keeps the Deno platform (lib/platform/deno.ts) on its graph", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "mod.ts"],
    cwd: ROOT.pathname,
    stdout: "piped",
  }).output();
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  const specs: string[] = info.modules.map((m: InfoModule) => m.specifier);
  assert.ok(specs.some((s) => s.endsWith("/lib/platform/deno.ts")));
  assert.ok(!specs.some((s) => s.endsWith("/lib/platform/browser.ts")));
  // the CLI's packages stay out of the library
  const npm: string[] = info.modules.filter((m: InfoModule) => m.kind === "npm")
    .map((m: InfoModule) => m.specifier);
  assert.deepEqual(npm.filter((n) => /commander|cli-progress/.test(n)), []);
  assert.ok(npm.some((n) => /pngjs/.test(n)), npm.join(", "));
});
