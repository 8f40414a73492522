/**
 * `deno task check`: type-check (`deno check mod.ts lib/ tests/ bench/ tools/`), lint and
 * format-check, stopping at the first that fails; `--help` prints the usage and runs nothing.
 */
import { parseCli } from "./_args.ts";

const HELP = `Usage: deno task check

Type-checks mod.ts, lib/, tests/, bench/ and tools/ (deno check), then runs deno lint and
deno fmt --check; stops at the first step that fails and exits with its code.

Options:
  -h, --help   print this help and exit
`;

await parseCli({ usage: HELP, options: {} });
for (
  const step of [
    ["check", "mod.ts", "lib/", "tests/", "bench/", "tools/"],
    ["lint"],
    ["fmt", "--check"],
  ]
) {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: step,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (code !== 0) Deno.exit(code);
}
