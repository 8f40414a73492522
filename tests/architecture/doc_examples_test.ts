import { assert } from "../_assert.ts";
import {
  docExampleFiles,
  docExamples,
  EXAMPLES_NOT_RUN,
  GPU_EXAMPLE_FILES,
} from "../../tools/doc_examples.ts";

Deno.test("every JSDoc example runs in deno task test, or is listed with the reason it does not", async () => {
  const ex = await docExamples();
  assert.ok(ex.length >= 40, `only ${ex.length} examples found`);
  const ignored = ex.filter((e) => e.ignored).map((e) => `${e.file}#${e.name}`);
  const unlisted = ignored.filter((k) => !EXAMPLES_NOT_RUN[k]);
  assert.deepEqual(
    unlisted,
    [],
    `examples fenced "ts ignore" without a reason in tools/doc_examples.ts`,
  );
  const stale = Object.keys(EXAMPLES_NOT_RUN).filter((k) => !ignored.includes(k));
  assert.deepEqual(stale, [], "EXAMPLES_NOT_RUN entries whose example runs now (or is gone)");
  for (const [k, why] of Object.entries(EXAMPLES_NOT_RUN)) {
    assert.ok(why.length > 10, `${k}: give a reason`);
  }
  // the ones that run are those deno task test passes to deno test --doc
  const run = new Set(ex.filter((e) => !e.ignored).map((e) => e.file));
  assert.deepEqual(await docExampleFiles(true), [...run].sort());
  for (const f of GPU_EXAMPLE_FILES) assert.ok(run.has(f), `${f} has no runnable example`);
  console.log(`${ignored.length} of ${ex.length} examples not run:\n  ${ignored.join("\n  ")}`);
});

Deno.test("deno task test runs the doc examples", async () => {
  const src = await Deno.readTextFile(new URL("../../tools/task_test.ts", import.meta.url));
  assert.match(src, /docExampleFiles\(/);
  assert.match(src, /"--doc"/);
});
