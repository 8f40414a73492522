// A script on tools/_args.ts for tests/tools/args_test.ts: prints what it parsed as JSON.
import { int, parseCli } from "../../tools/_args.ts";

const passThrough = Deno.env.get("ARGS_PASS_THROUGH") === "1";
const { values, positionals } = await parseCli({
  usage: "Usage: deno task demo [--n N] [--keys K...] [--flag] [ARGS...]\n\nA demo.",
  positionals: true,
  passThrough,
  options: {
    n: { type: "string", default: "1" },
    keys: { type: "string", variadic: true },
    flag: { type: "boolean", short: "f" },
  },
});
console.log(
  JSON.stringify({ n: int("n", values.n), keys: values.keys, flag: values.flag, positionals }),
);
