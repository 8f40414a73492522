import { assert } from "../_assert.ts";

const dir = new URL("../fixtures/", import.meta.url);

async function* walk(d: URL, rel = ""): AsyncGenerator<string> {
  for await (const e of Deno.readDir(d)) {
    if (e.isDirectory) yield* walk(new URL(`${e.name}/`, d), `${rel}${e.name}/`);
    else yield `${rel}${e.name}`;
  }
}

Deno.test("tests/fixtures/README.md names the script of every fixture file", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", dir));
  const rows = [...readme.matchAll(/^\| `([^`]+)` \| (.+?) \|$/gm)].map((m) => [m[1], m[2]]);
  const listed = new Map(rows.map(([f, by]) => [f, by]));
  const missing: string[] = [];
  for await (const f of walk(dir)) {
    if (f === "README.md") continue;
    const dirGlob = [...listed.keys()].some((k) =>
      k.endsWith("/**") && f.startsWith(k.slice(0, -2))
    );
    if (!listed.has(f) && !dirGlob) missing.push(f);
  }
  assert.deepEqual(
    missing,
    [],
    `fixtures not listed in tests/fixtures/README.md:\n${missing.join("\n")}`,
  );
  // every named script exists
  for (const [f, by] of listed) {
    for (const m of by.matchAll(/`(tools\/[^`]+)`/g)) {
      const ok = await Deno.stat(new URL(`../../${m[1]}`, import.meta.url)).then(
        () => true,
        () => false,
      );
      assert.ok(ok, `${f}: ${m[1]} does not exist`);
    }
  }
});
