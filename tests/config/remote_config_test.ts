/**
 * Code execution is a choice: a config module from a URL, or a module `_base_` of a JSON
 * config, is refused without `--allow-remote-config` (the CLI) / `allowRemoteConfig`.
 */
import { join } from "node:path";
import { assert } from "../_assert.ts";
import { loadConfig } from "../../lib/config/mod.ts";
import { ConfigError } from "../../lib/utils/errors.ts";

const cli = new URL("../../lib/cli/main.ts", import.meta.url).pathname;

Deno.test("a JSON config may not pull in a .ts base without allowRemoteConfig; JSON bases are fine", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-remote-" });
  try {
    await Deno.writeTextFile(
      join(dir, "evil.ts"),
      `export const optimizer = { type: "SGD", lr: 1 };\n`,
    );
    await Deno.writeTextFile(join(dir, "base.json"), `{"optimizer": {"type": "SGD", "lr": 0.1}}`);
    await Deno.writeTextFile(join(dir, "a.json"), `{"_base_": ["./evil.ts"]}`);
    await Deno.writeTextFile(join(dir, "b.json"), `{"_base_": ["./base.json"], "seed": 1}`);
    await assert.rejects(
      () => loadConfig(join(dir, "a.json")),
      (e: Error) =>
        e instanceof ConfigError && e.message.includes("evil.ts") &&
        e.message.includes("a.json") && e.message.includes("--allow-remote-config"),
    );
    assert.equal(
      (await loadConfig(join(dir, "a.json"), { allowRemoteConfig: true })).get("optimizer.lr"),
      1,
    );
    assert.equal((await loadConfig(join(dir, "b.json"))).get("optimizer.lr"), 0.1);
    // a TS config importing a TS base is the user's own code: allowed
    await Deno.writeTextFile(join(dir, "c.ts"), `export const _base_ = ["./evil.ts"];\n`);
    assert.equal((await loadConfig(join(dir, "c.ts"))).get("optimizer.lr"), 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the CLI refuses a config module by URL unless --allow-remote-config", async () => {
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-lock", cli, ...args],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  };
  // port 9 (discard) on localhost: nothing is fetched in the refused case
  const url = "http://127.0.0.1:9/cfg.ts";
  const refused = await run("train", url);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /runs its code; pass --allow-remote-config/);
  const allowed = await run("train", url, "--allow-remote-config");
  assert.ok(!/--allow-remote-config/.test(allowed.stderr), allowed.stderr);
  assert.match(allowed.stderr, /Cannot import config/);
});
