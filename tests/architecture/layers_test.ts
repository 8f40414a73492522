import { assert } from "../_assert.ts";

// The layers of lib/, lowest first (lib/README.md). A file may import from its own layer or a
// lower one, never a higher one.
const LAYERS = [
  "deps.ts",
  "deps_deno.ts",
  "deps_cli.ts",
  "platform",
  "utils",
  "dist",
  "gpu",
  "ops",
  "autograd",
  "nn",
  "core",
  "models",
  "evaluation",
  "datasets",
  "runner",
  "config",
  "apis",
  "cli",
];

function layerOf(libPath: string): number {
  const first = libPath.split("/")[0];
  const i = LAYERS.indexOf(first);
  if (i < 0) {
    throw new Error(
      `lib/${libPath} is in no known layer: add its folder to lib/README.md and this test`,
    );
  }
  return i;
}

async function* walk(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    const u = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) yield* walk(u);
    else if (e.name.endsWith(".ts")) yield u;
  }
}

Deno.test("lib/ imports only point downward through the layers of lib/README.md", async () => {
  const lib = new URL("../../lib/", import.meta.url);
  const bad: string[] = [];
  for await (const file of walk(lib)) {
    const rel = file.pathname.slice(lib.pathname.length);
    const from = layerOf(rel);
    // comments (JSDoc examples import mod.ts) are not imports
    const src = (await Deno.readTextFile(file)).replace(/\/\*[\s\S]*?\*\//g, "").replace(
      /^\s*\/\/.*$/gm,
      "",
    );
    for (
      const m of src.matchAll(
        /(?:import|export)[^"'`]*?from\s+["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|import\s+["']([^"']+)["']/g,
      )
    ) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (!spec.startsWith(".")) {
        if (!spec.startsWith("npm:") && !spec.startsWith("node:")) {
          bad.push(
            `lib/${rel} imports "${spec}": only relative, npm: and node: specifiers are allowed`,
          );
        } else if (spec.startsWith("npm:") && !/^deps(_cli|_deno)?\.ts$/.test(rel)) {
          bad.push(`lib/${rel} imports "${spec}": npm packages go through lib/deps*.ts`);
        }
        continue;
      }
      const target = new URL(spec, file);
      if (!target.pathname.startsWith(lib.pathname)) {
        if (!target.pathname.includes("/kernels/")) {
          bad.push(`lib/${rel} imports "${spec}" from outside lib/ and kernels/`);
        }
        continue;
      }
      const toRel = target.pathname.slice(lib.pathname.length);
      if (toRel === "deps_cli.ts" && !rel.startsWith("cli/")) {
        bad.push(`lib/${rel} imports lib/deps_cli.ts: the CLI's packages are for lib/cli/ only`);
      }
      if (toRel === "platform/deno.ts" && !rel.startsWith("platform/")) {
        bad.push(
          `lib/${rel} imports lib/platform/deno.ts: use platform() from lib/platform/mod.ts`,
        );
      }
      const to = layerOf(toRel);
      if (to > from) {
        bad.push(`lib/${rel} (layer ${LAYERS[from]}) imports "${spec}" (layer ${LAYERS[to]})`);
      }
    }
    if (/import\.meta\.dirname|import\.meta\.filename/.test(src)) {
      bad.push(`lib/${rel} uses import.meta.dirname/filename, which breaks import by URL`);
    }
  }
  assert.deepEqual(bad, []);
});
