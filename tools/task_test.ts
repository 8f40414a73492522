/**
 * `deno task test`: with no arguments (or only `deno test` flags such as `--filter`), runs the
 * test suite; with a config and a checkpoint (`deno task test CONFIG CHECKPOINT [--eval bbox]`),
 * evaluates the checkpoint as mmdetection's `tools/test.py` does.
 *
 * Test modules run one after another in one process, sharing one GPU device. `--parallel` runs
 * them on threads of one process, each with its own device, and with Mesa's lavapipe that process
 * then aborts at exit about one run in ten ("malloc_consolidate(): invalid chunk size"), after
 * every test has passed; sequential runs were clean in the same trials.
 */
const args = Deno.args;
const positional = args.filter((a) => !a.startsWith("-"));
const isEval = positional.length > 0 && /\.(ts|json)$/.test(positional[0]) &&
  !positional[0].endsWith("_test.ts");
const cmd = isEval
  ? ["run", "-A", new URL("../lib/cli/main.ts", import.meta.url).pathname, "test", ...args]
  : ["test", "-A", ...args, ...(positional.length ? [] : ["tests/"])];
const child = new Deno.Command(Deno.execPath(), {
  args: cmd,
  stdin: "inherit",
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
const { code } = await child.status;
Deno.exit(code);
