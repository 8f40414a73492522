import { assert } from "../_assert.ts";

const script = await Deno.stat("/usr/bin/script").then(() => true, () => false);

async function run(inPty: boolean): Promise<string> {
  const helper = new URL("./_progress_run.ts", import.meta.url).pathname;
  const cmd = `${Deno.execPath()} run -A --no-lock ${helper}`;
  const out = await new Deno.Command(inPty ? "/usr/bin/script" : Deno.execPath(), {
    args: inPty ? ["-qec", cmd, "/dev/null"] : ["run", "-A", "--no-lock", helper],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  name: "ProgressBarHook draws a bar on a terminal and every log line still reaches the console",
  ignore: !script || Deno.build.os !== "linux",
  fn: async () => {
    const out = await run(true);
    assert.match(out, /DONE .*ProgressBarHook/);
    assert.match(out, / epoch 1 \[.*\] \d+\/12/);
    for (
      const l of ["Epoch [1][5/12]", "Epoch [1][10/12]", "Epoch [2][5/12]", "Epoch [2][10/12]"]
    ) assert.ok(out.includes(l), l);
  },
});

Deno.test("ProgressBarHook is not registered when stdout is not a terminal", async () => {
  const out = await run(false);
  assert.match(out, /DONE OptimizerHook,CheckInvalidLossHook,IterTimerHook,TextLoggerHook/);
  assert.equal(out.includes(" epoch 1 ["), false);
});
