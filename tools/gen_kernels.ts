/**
 * `deno task gen:kernels [--check]`: writes the rendered kernels of `kernels/gen/mod.ts`
 * (`kernels/direct/*`, `kernels/conv2d_tiled_*.wgsl`) and deletes files in `kernels/direct/` that
 * nothing renders. With `--check`, writes nothing and exits 1 naming every file that differs, is
 * missing or is stale.
 *
 * @module
 */
import { DIRECT_DIR, renderAll } from "../kernels/gen/mod.ts";
import { parseCli } from "./_args.ts";

const root = new URL("../", import.meta.url);
const { values } = await parseCli({
  usage: `Usage: deno task gen:kernels [--check]

Renders the generated WGSL (kernels/direct/: one file per TN x TM size the conv variant table
selects; kernels/conv2d_tiled_*.wgsl) from the TypeScript renderers in kernels/gen/, and deletes
files of kernels/direct/ that nothing renders.

Options:
  --check      write nothing; exit 1 naming every file that differs, is missing or is stale
  -h, --help   print this help and exit`,
  options: { check: { type: "boolean" } },
});
const check = values.check === true;

const files = renderAll();
const problems: string[] = [];
for (const [path, text] of files) {
  let old: string | null = null;
  try {
    old = await Deno.readTextFile(new URL(path, root));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (old === text) continue;
  if (check) {
    problems.push(`${path}: ${old === null ? "missing" : "differs from its rendering"}`);
  } else {
    await Deno.mkdir(new URL(path.slice(0, path.lastIndexOf("/") + 1), root), { recursive: true });
    await Deno.writeTextFile(new URL(path, root), text);
    console.log(`wrote ${path} (${text.split("\n").length - 1} lines)`);
  }
}
const dirEntries = await Array.fromAsync(Deno.readDir(new URL(`${DIRECT_DIR}/`, root))).catch(
  (e) => {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  },
);
for (const e of dirEntries) {
  const path = `${DIRECT_DIR}/${e.name}`;
  if (files.has(path)) continue;
  if (check) problems.push(`${path}: rendered by nothing (stale)`);
  else {
    await Deno.remove(new URL(path, root));
    console.log(`deleted ${path} (rendered by nothing)`);
  }
}
if (problems.length) {
  console.error(
    `${problems.length} rendered kernel file(s) out of date (run deno task gen:kernels):\n  ` +
      problems.join("\n  "),
  );
  Deno.exit(1);
}
if (check) console.log(`${files.size} rendered kernel files up to date`);
