import { assert } from "../_assert.ts";
import {
  checkConfigKeys,
  Config,
  ConfigError,
  loadConfig,
  mergeAIntoB,
  MMDET_TOP_LEVEL_KEYS,
} from "../../lib/config/mod.ts";

const fx = (name: string) => new URL(`../fixtures/configs/${name}`, import.meta.url);

Deno.test("loadConfig merges sibling bases, dicts recursively and lists by replacement", async () => {
  const cfg = await loadConfig(fx("child.ts"));
  assert.equal(cfg.get("model.type"), "RetinaNet");
  assert.equal(cfg.get("model.backbone.type"), "ResNet", "base keys survive the merge");
  assert.equal(cfg.get("model.backbone.depth"), 18);
  assert.deepEqual(
    cfg.get("model.backbone.out_indices"),
    [3],
    "a child list replaces the base list",
  );
  assert.deepEqual(cfg.get("model.backbone.norm_cfg"), { type: "BN", requires_grad: true });
  assert.deepEqual(cfg.get("model.neck.in_channels"), [64, 128, 256, 512]);
  assert.equal(cfg.get("model.bbox_head.num_classes"), 3);
  assert.equal(cfg.get("model.bbox_head.loss_cls.gamma"), 2.0);
  assert.deepEqual(cfg.dict.optimizer, {
    type: "SGD",
    lr: 0.01,
    momentum: 0.9,
    weight_decay: 0.0001,
  });
  assert.deepEqual(cfg.dict.lr_config, { policy: "step", step: [8, 11] });
  assert.equal(cfg.dict.extra, "child only");
  assert.equal("_base_" in cfg.dict, false);
});

Deno.test("loadConfig with _delete_: true replaces the base dict and drops the marker", async () => {
  const cfg = await loadConfig(fx("delete_child.ts"));
  assert.deepEqual(cfg.dict.optimizer, { type: "AdamW", lr: 0.0001 });
  assert.deepEqual(cfg.get("model.bbox_head.loss_cls"), { type: "CrossEntropyLoss" });
  assert.equal(
    cfg.get("model.bbox_head.num_classes"),
    3,
    "siblings of the deleted key still merge",
  );
  assert.equal(JSON.stringify(cfg.dict).includes("_delete_"), false);
});

Deno.test("loadConfig resolves a 4-level chain across folders, each base relative to its child", async () => {
  const cfg = await loadConfig(fx("sub/level4.ts"));
  assert.deepEqual(cfg.dict.runner, { type: "EpochBasedRunner", max_epochs: 2 });
  assert.equal(cfg.get("model.backbone.depth"), 34);
  assert.equal(cfg.get("model.neck.out_channels"), 256);
  assert.equal(cfg.get("optimizer.type"), "AdamW");
});

Deno.test("loadConfig rejects sibling bases that share a top-level key, naming both files and the key", async () => {
  const err = await loadConfig(fx("dup_child.ts")).then(() => null, (e) => e);
  assert.ok(err instanceof ConfigError);
  assert.match(err.message, /key "optimizer"/);
  assert.match(err.message, /dup_a\.ts/);
  assert.match(err.message, /dup_b\.ts/);
});

Deno.test("loadConfig refuses to merge a dict into a base list or null and suggests _delete_", async () => {
  for (
    const [file, key, got] of [["bad_merge.ts", "model.neck.in_channels", "an array"], [
      "null_merge.ts",
      "optimizer_config.grad_clip",
      "null",
    ]]
  ) {
    const err = await loadConfig(fx(file)).then(() => null, (e) => e);
    assert.ok(err instanceof ConfigError, file);
    assert.match(err.message, new RegExp(`"${key.replaceAll(".", "\\.")}"`));
    assert.ok(err.message.includes(file), err.message);
    assert.ok(err.message.includes(`base value is ${got}`), err.message);
    assert.match(err.message, /_delete_/);
  }
});

Deno.test("loadConfig reports a missing file with the closest config in its folder", async () => {
  const err = await loadConfig(fx("chlid.ts").pathname).then(() => null, (e) => e);
  assert.ok(err instanceof ConfigError);
  assert.match(err.message, /chlid\.ts": file not found; did you mean ".*child\.ts"\?/);
  const err2 = await loadConfig(fx("nope/x.ts").pathname).then(() => null, (e) => e);
  assert.match(err2.message, /folder .* does not exist/);
});

Deno.test("loadConfig rejects cycles, default exports, functions, .py files and broken JSON", async () => {
  const cases: [string, RegExp][] = [
    ["cycle_a.ts", /circular _base_ chain: .*cycle_a\.ts -> .*cycle_b\.ts -> .*cycle_a\.ts/],
    ["default_export.ts", /default export/],
    ["function_value.ts", /"model\.build" is a function/],
    ["broken.json", /Cannot parse config ".*broken\.json"/],
    ["missing.py", /Python configs are not supported/],
  ];
  for (const [file, re] of cases) {
    const err = await loadConfig(fx(file)).then(() => null, (e) => e);
    assert.ok(err instanceof ConfigError, `${file}: ${err}`);
    assert.match(err.message, re);
  }
});

Deno.test("loadConfig reads JSON configs with TS bases (with allowRemoteConfig: a JSON config is data only)", async () => {
  await assert.rejects(
    () => loadConfig(fx("json_child.json")),
    (e: Error) => e instanceof ConfigError && /--allow-remote-config/.test(e.message),
  );
  const cfg = await loadConfig(fx("json_child.json"), { allowRemoteConfig: true });
  assert.equal(cfg.get("optimizer.lr"), 0.005);
  assert.equal(cfg.get("optimizer.momentum"), 0.9);
  assert.equal(cfg.get("runner.max_epochs"), 2);
  assert.equal(cfg.name, "json_child");
});

Deno.test({
  name: "loadConfig loads a TS config and its _base_ from an http URL",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const root = fx("");
    const ac = new AbortController();
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      signal: ac.signal,
      onListen: () => {},
    }, async (req) => {
      const path = new URL(req.url).pathname;
      try {
        const body = await Deno.readFile(new URL(`.${path}`, root));
        return new Response(body, {
          headers: {
            "content-type": path.endsWith(".json") ? "application/json" : "application/typescript",
          },
        });
      } catch {
        return new Response("not found", { status: 404 });
      }
    });
    const load = async (url: string, allow = true) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-lock",
          "-A",
          new URL("./_print_config.ts", import.meta.url).pathname,
          url,
          ...(allow ? ["--allow-remote-config"] : []),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout).trim();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      return JSON.parse(text.split("\n").pop()!);
    };
    try {
      const base = `http://127.0.0.1:${server.addr.port}`;
      // importing code from a URL needs --allow-remote-config
      const refused = await load(`${base}/sub/level4.ts`, false);
      assert.equal(refused.error, "ConfigError");
      assert.match(refused.message, /runs its code; pass --allow-remote-config/);
      const cfg = new Config(await load(`${base}/sub/level4.ts`));
      assert.equal(cfg.get("model.backbone.depth"), 34);
      assert.equal(cfg.get("optimizer.type"), "AdamW");
      const json = new Config(await load(`${base}/json_child.json`));
      assert.equal(json.get("optimizer.lr"), 0.005);
      const err = await load(`${base}/nothing.json`);
      assert.equal(err.error, "ConfigError");
      assert.match(err.message, /HTTP 404/);
    } finally {
      ac.abort();
      await server.finished;
    }
  },
});

Deno.test("mergeAIntoB does not modify its inputs and indexes arrays only with allowListKeys", () => {
  const base = { a: { b: [1, 2, { c: 3 }] } };
  const child = { a: { b: { "2": { c: 4 } } } };
  const snapshot = JSON.stringify([base, child]);
  assert.throws(() => mergeAIntoB(child, base), ConfigError);
  const merged = mergeAIntoB(child, base, { allowListKeys: true });
  assert.deepEqual(merged, { a: { b: [1, 2, { c: 4 }] } });
  assert.equal(JSON.stringify([base, child]), snapshot);
});

Deno.test("checkConfigKeys rejects an unknown top-level key with a did-you-mean", async () => {
  const cfg = await loadConfig(fx("unknown_key.ts"));
  const err = (() => {
    try {
      checkConfigKeys(cfg, MMDET_TOP_LEVEL_KEYS);
    } catch (e) {
      return e as Error;
    }
  })();
  assert.ok(err instanceof ConfigError);
  assert.match(
    err.message,
    /Unknown key "optimzer" in config ".*unknown_key\.ts"; did you mean "optimizer"\?/,
  );
  checkConfigKeys(new Config({ model: {}, data: {} }), MMDET_TOP_LEVEL_KEYS);
});
