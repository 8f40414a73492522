// tools/_args.ts, the one argument parser of bench/ and tools/: --help, exit 2 on bad usage,
// variadic options, pass-through; and no bench/ or tools/ script parses arguments another way.
import { assert } from "../_assert.ts";

const root = new URL("../../", import.meta.url).pathname;
const script = new URL("./_args_cli.ts", import.meta.url).pathname;

async function run(args: string[], passThrough = false) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    env: { NO_COLOR: "1", ARGS_PASS_THROUGH: passThrough ? "1" : "0" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("parseCli: typed values, defaults, variadic options and positionals", async () => {
  let r = await run(["--n", "3", "--keys", "a", "b", "--flag", "pos"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    n: 3,
    keys: ["a", "b"],
    flag: true,
    positionals: ["pos"],
  });
  r = await run(["--keys=a", "--keys", "b", "-f"]);
  assert.deepEqual(JSON.parse(r.stdout), { n: 1, keys: ["a", "b"], flag: true, positionals: [] });
});

Deno.test("parseCli: --help prints the usage and exits 0; bad usage is one error line and exit 2", async () => {
  for (const h of ["--help", "-h"]) {
    const r = await run(["x", h]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: deno task demo /);
  }
  const cases: [string[], RegExp][] = [
    [["--bogus"], /^error: unknown option "--bogus" \(see deno task demo --help\)\n$/],
    [["--n"], /^error: .*'--n.*\(see deno task demo --help\)\n$/],
    [
      ["--n", "x"],
      /^error: option '--n' expects a non-negative integer, got "x" \(see deno task demo --help\)\n$/,
    ],
    [["--keys"], /^error: option '--keys' needs at least one value/],
  ];
  for (const [args, re] of cases) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stdout, "");
  }
});

Deno.test("parseCli pass-through: unknown options are kept in order as positionals", async () => {
  const r = await run(["--filter", "name", "--n", "2", "--fail-fast=1", "a_test.ts"], true);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    n: 2,
    positionals: ["--filter", "name", "--fail-fast=1", "a_test.ts"],
  });
});

Deno.test("bench/ and tools/ parse arguments only through tools/_args.ts", async () => {
  const bad: string[] = [];
  for (const dir of ["bench", "tools", "tools/analysis"]) {
    for (const e of Deno.readDirSync(`${root}${dir}`)) {
      if (!e.isFile || !e.name.endsWith(".ts") || `${dir}/${e.name}` === "tools/_args.ts") continue;
      const src = await Deno.readTextFile(`${root}${dir}/${e.name}`);
      if (/deps_cli|commander|from "node:util"/.test(src)) {
        bad.push(`${dir}/${e.name}: imports a parser`);
      }
      if (
        /Deno\.args\.(includes|indexOf|filter)|Deno\.args\[/.test(src) && !src.includes("_args.ts")
      ) {
        bad.push(`${dir}/${e.name}: reads Deno.args by hand`);
      }
    }
  }
  assert.deepEqual(bad, []);
});
