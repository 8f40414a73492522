// README's "Command line" section lists every command (deno.json task) and every flag that the
// commands' --help prints.
import { assert } from "../_assert.ts";

const root = new URL("../../", import.meta.url).pathname;
const readme = await Deno.readTextFile(`${root}README.md`);
const section = readme.split("## Command line\n")[1].split("\n## ")[0];
const tasks = Object.keys(JSON.parse(await Deno.readTextFile(`${root}deno.json`)).tasks);

async function help(args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", ...args, "--help"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

Deno.test("README's Command line section lists every deno task and every flag of its --help", async () => {
  const missing: string[] = [];
  for (const t of tasks) {
    if (!section.includes(`deno task ${t}`)) missing.push(`deno task ${t}`);
    const texts = [await help([t])];
    // subcommands (analyze-logs plot_curve, …)
    const cmds = texts[0].split(/^Commands:$/m)[1];
    for (const m of cmds?.matchAll(/^ {2}(\w+)(?= )/gm) ?? []) {
      if (m[1] === "help") continue;
      if (!section.includes(`deno task ${t} ${m[1]}`)) missing.push(`deno task ${t} ${m[1]}`);
      texts.push(await help([t, m[1]]));
    }
    for (const text of texts) {
      for (const f of text.matchAll(/^\s+(?:-\w, )?(--[a-z][a-z-]*)/gm)) {
        if (f[1] === "--help") continue;
        if (!section.includes(f[1])) missing.push(`${t} ${f[1]}`);
      }
    }
  }
  assert.deepEqual(
    missing,
    [],
    `missing from README's Command line section: ${missing.join(", ")}`,
  );
});
