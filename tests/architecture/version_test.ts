import { assert } from "../_assert.ts";
import { VERSION } from "../../lib/utils/version.ts";

Deno.test("VERSION equals the version in deno.json", async () => {
  const cfg = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assert.equal(VERSION, cfg.version);
});
