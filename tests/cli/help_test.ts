// `deno task NAME --help` for every task of deno.json prints that task's usage and does nothing
// else: exit 0, quickly, no test run, no GPU, no file written.
import { assert } from "../_assert.ts";

const root = new URL("../../", import.meta.url).pathname;
const tasks = JSON.parse(await Deno.readTextFile(`${root}deno.json`)).tasks as Record<
  string,
  { command: string }
>;

async function snapshot(dir: string): Promise<string[]> {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

for (const name of Object.keys(tasks)) {
  Deno.test(`deno task ${name} --help prints its usage and runs nothing`, async () => {
    const before = await snapshot(`${root}bench/results`);
    const workBefore = await snapshot(`${root}work_dirs`);
    const t0 = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", name, "--help"],
      cwd: root,
      env: { NO_COLOR: "1", WGPU_BACKEND: "none" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const ms = performance.now() - t0;
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `${name}: ${stderr}`);
    assert.match(stdout, /^Usage: /m, `${name} prints a usage line:\n${stdout}`);
    // the usage names the task (deno task NAME) or the wgdet command behind it
    const cliCmd = / lib\/cli\/main\.ts (\w+)/.exec(tasks[name].command)?.[1];
    assert.ok(
      stdout.includes(`deno task ${name}`) || (cliCmd && stdout.includes(`wgdet ${cliCmd}`)),
      `${name}: the usage names the command:\n${stdout}`,
    );
    assert.ok(!/running \d+ tests?|adapter:|GPU:/.test(stdout + stderr), `${name} ran something`);
    assert.ok(!/Check file:|Download/.test(stderr.replace(/^Download.*$/gm, "")), stderr);
    assert.deepEqual(await snapshot(`${root}bench/results`), before, `${name} wrote a result`);
    assert.deepEqual(await snapshot(`${root}work_dirs`), workBefore, `${name} wrote a work dir`);
    assert.ok(ms < 60_000, `${name} --help took ${ms.toFixed(0)} ms`);
  });
}

Deno.test("deno task bench with an unknown option or a filter matching no benchmark exits 2 before starting the GPU", async () => {
  const before = await snapshot(`${root}bench/results`);
  for (const arg of ["--bogus", "no_such_bench"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "bench", arg],
      cwd: root,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, stderr);
    assert.match(stderr, /^error: (unknown option "--bogus"|no benchmark matches "no_such_bench")/);
    assert.ok(!new TextDecoder().decode(out.stdout).includes("adapter:"));
  }
  assert.deepEqual(await snapshot(`${root}bench/results`), before);
});
