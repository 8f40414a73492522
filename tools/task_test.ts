/**
 * `deno task test`: with no arguments (or only `deno test` flags such as `--filter`), runs the
 * test suite and the JSDoc examples (`tools/doc_examples.ts`); with a config and a checkpoint (`deno task test CONFIG CHECKPOINT [--eval bbox]`),
 * evaluates the checkpoint as mmdetection's `tools/test.py` does.
 *
 * Test modules run one after another in one process, sharing one GPU device (`--parallel` puts
 * several devices on threads of one process, which made Mesa's lavapipe abort more often).
 *
 * Known issue: on Mesa's lavapipe, Deno's WebGPU teardown at process exit sometimes corrupts the
 * heap ("double free or corruption", "corrupted size vs. prev_size") and the process aborts
 * (SIGABRT) — about one run in eight here, with Mesa 22 and 25 alike, and only after Deno has
 * printed its summary. When that happens after a summary with 0 failures, the run is reported as
 * it was (every test passed) with a warning naming the abort, instead of turning a teardown crash
 * into a test failure. Any other non-zero exit is passed through.
 */
import { docExampleFiles } from "./doc_examples.ts";
import { parseCli } from "./_args.ts";

const HELP = `Usage: deno task test [DENO_TEST_FLAGS...] [TEST_FILES...]
       deno task test CONFIG CHECKPOINT [deno task eval options]

Without a config: runs the test suite (tests/, or the given test files) with deno test; flags
such as --filter NAME are passed to deno test (its own help: deno test --help).

With CONFIG (.ts or .json) and CHECKPOINT: evaluates the checkpoint on the config's test set, as
mmdetection's tools/test.py; the options are those of deno task eval (see deno task eval --help):
--eval, --out, --format-only, --eval-options, --show-dir, --show-score-thr, --cfg-options,
--launcher.

Options:
  -h, --help   print this help and exit
`;
const positional = Deno.args.filter((a) => !a.startsWith("-"));
const isEval = positional.length > 0 && /\.(ts|json)$/.test(positional[0]) &&
  !positional[0].endsWith("_test.ts");

// an evaluation forwards everything (--help included) to the CLI's `test`; otherwise the
// options are deno test's, passed through
const args = isEval
  ? Deno.args
  : (await parseCli({ usage: HELP, options: {}, passThrough: true })).positionals;
if (isEval) {
  const cli = new URL("../lib/cli/main.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, "test", ...args],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  Deno.exit((await child.status).code);
}

// The whole suite also runs the JSDoc examples (deno test --doc on the files that have runnable
// ones, tools/doc_examples.ts); those that need a GPU only when there is an adapter.
const suite: string[] = [];
if (!positional.length) {
  // asked in a child process: a WebGPU adapter held here could abort this process at exit
  const probe = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "Deno.exit((await navigator.gpu?.requestAdapter().catch(() => null)) ? 0 : 3)"],
    stdout: "null",
    stderr: "null",
  }).output();
  suite.push("--doc", "tests/", ...(await docExampleFiles(probe.code === 0)));
}
const child = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", ...args, ...suite],
  stdin: "inherit",
  stdout: "piped",
  stderr: "inherit",
}).spawn();

// pass the output through, keeping its tail to read Deno's summary line
let tail = "";
const dec = new TextDecoder();
for await (const chunk of child.stdout) {
  await Deno.stdout.write(chunk);
  tail = (tail + dec.decode(chunk, { stream: true })).slice(-8192);
}
const status = await child.status;
// deno-lint-ignore no-control-regex
const plain = tail.replace(/\x1b\[[0-9;]*m/g, "");
const summary = plain.match(/^(ok|FAILED) \| (\d+) passed.*?\| (\d+) failed.*$/m);
const aborted = status.signal === "SIGABRT" || status.code === 134;
if (aborted && summary && summary[1] === "ok" && summary[3] === "0") {
  console.error(
    "warning: the test process aborted while exiting (SIGABRT in the WebGPU teardown) after " +
      `every test had passed (${summary[2]} passed, 0 failed); see tools/task_test.ts`,
  );
  Deno.exit(0);
}
Deno.exit(status.code);
