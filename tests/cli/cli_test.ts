import { join } from "node:path";
import { assert } from "../_assert.ts";
import { loadConfig } from "../../lib/config/mod.ts";
import { describeError } from "../../lib/cli/main.ts";
import { ConfigError, GpuUnavailableError, NonFiniteLossError } from "../../lib/utils/errors.ts";

const fakeCli = new URL("./_fake_cli.ts", import.meta.url).pathname;
const realCli = new URL("../../lib/cli/main.ts", import.meta.url).pathname;
const fixture = (name: string) => new URL(`../fixtures/configs/${name}`, import.meta.url).pathname;
const tiny = new URL("../../configs/retinanet/retinanet_tiny_shapes.ts", import.meta.url).pathname;

async function cli(
  args: string[],
  opts: { fake?: string; real?: boolean; cwd?: string; env?: Record<string, string> } = {},
) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-lock", opts.real ? realCli : fakeCli, ...args],
    cwd: opts.cwd,
    env: { NO_COLOR: "1", FAKE_API: opts.fake ?? "ok", ...opts.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr).trim() };
}

async function inTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-cli-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("wgdet --help and each command's --help exit 0 and describe the options", async () => {
  const top = await cli(["--help"], { real: true });
  assert.equal(top.code, 0);
  assert.match(
    top.stdout,
    /train \[options\] \[config\][\s\S]*test \[options\] <config> <checkpoint>[\s\S]*infer/,
  );
  for (
    const [cmd, flags] of [
      ["train", [
        "--work-dir",
        "--resume-from",
        "--auto-resume",
        "--load-from",
        "--cfg-options",
        "--seed",
        "--no-validate",
        "--launcher",
        "--auto-scale-lr",
      ]],
      ["test", [
        "--eval",
        "--out",
        "--format-only",
        "--eval-options",
        "--show-dir",
        "--show-score-thr",
        "--cfg-options",
        "--launcher",
      ]],
      ["infer", ["--out-dir", "--score-thr"]],
    ] as const
  ) {
    const r = await cli([cmd, "--help"], { real: true });
    assert.equal(r.code, 0, cmd);
    for (const f of flags) assert.ok(r.stdout.includes(f), `${cmd} --help lists ${f}`);
  }
});

Deno.test("a missing config file gives one line with the closest name and exit code 2", async () => {
  const r = await cli(["train", tiny.replace("tiny_shapes", "tiny_shape")], { real: true });
  assert.equal(r.code, 2);
  assert.equal(r.stderr.split("\n").length, 1, r.stderr);
  assert.match(
    r.stderr,
    /^error: Cannot load config ".*retinanet_tiny_shape\.ts": file not found; did you mean ".*retinanet_tiny_shapes\.ts"\?$/,
  );
});

Deno.test("bad config keys give one line and exit code 2: a --cfg-options typo and an unknown top-level key", async () => {
  const typo = await cli(["train", tiny, "--cfg-options", "optimizer.lrr=0.1"], { real: true });
  assert.equal(typo.code, 2);
  assert.match(
    typo.stderr,
    /^error: Cannot apply --cfg-options "optimizer\.lrr": .*did you mean "optimizer\.lr"\?.*$/,
  );
  assert.equal(typo.stderr.split("\n").length, 1);
  const unknown = await cli(["train", fixture("unknown_key.ts")], { real: true });
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.stderr,
    /^error: Unknown key "optimzer" in config ".*unknown_key\.ts"; did you mean "optimizer"\?$/,
  );
  const merge = await cli(["train", fixture("dup_child.ts")], { real: true });
  assert.equal(merge.code, 2);
  assert.match(
    merge.stderr,
    /^error: Cannot merge base configs .*key "optimizer" is defined in both/,
  );
});

Deno.test("an unknown type gives one line without a stack trace and exit code 1; WGDET_DEBUG=1 adds the trace", () =>
  inTmp(async (dir) => {
    const r = await cli(["train", fixture("fake_types.ts")], { cwd: dir });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      'error: RangeError: Cannot build "RetinaNett": type is not in the DETECTORS registry; did you mean "RetinaNet"? (set WGDET_DEBUG=1 for details)',
    );
    const d = await cli(["train", fixture("fake_types.ts")], {
      cwd: dir,
      env: { WGDET_DEBUG: "1" },
    });
    assert.equal(d.code, 1);
    assert.match(d.stderr, /\n\s+at /);
  }));

Deno.test("bad usage exits 2: unknown option, unknown command, bad --seed, bad --out, nothing to do, missing image", () =>
  inTmp(async (dir) => {
    for (
      const args of [
        ["train", "--bogus"],
        ["trian"],
        ["train", "--seed", "abc"],
        ["test", tiny, "ckpt", "--out", "results.txt"],
        ["test", tiny, "ckpt", "--out", join(dir, "no", "such", "results.pkl")],
        ["test", tiny, "ckpt", "--format-only"],
        ["test", tiny, "ckpt", "--eval", "bbox", "--format-only"],
        ["test", tiny, "ckpt", "--eval", "bbox", "--eval-options", "classwise"],
        ["test", tiny, "ckpt", "--eval", "bbox", "--show-score-thr", "2"],
        ["test", tiny, "ckpt"],
        ["infer", tiny, "ckpt", join(dir, "missing.jpg")],
      ]
    ) {
      const r = await cli(args, { cwd: dir });
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.ok(r.stderr.startsWith("error: "), r.stderr);
      assert.ok(!/\n\s+at /.test(r.stderr), "no stack trace");
    }
  }));

Deno.test("no GPU adapter gives one paragraph and exit code 2; a missing dataset folder exits 2", () =>
  inTmp(async (dir) => {
    const gpu = await cli(["test", fixture("fake_types.ts"), "ckpt", "--eval", "bbox"], {
      fake: "gpu",
      cwd: dir,
    });
    assert.equal(gpu.code, 2);
    assert.match(gpu.stderr, /^error: Cannot find a WebGPU adapter: .*mesa-vulkan-drivers/);
    assert.equal(gpu.stderr.split("\n").length, 1);
    const data = await cli([
      "train",
      fixture("fake_types.ts").replace("fake_types", "child"),
      "--work-dir",
      join(dir, "w"),
    ], { fake: "nodata", cwd: dir });
    assert.equal(data.code, 2);
    const [warning, error] = data.stderr.split("\n");
    assert.match(warning, /Config ".*child\.ts" has the key "extra", which wgdet does not use/);
    assert.match(error, /^error: Cannot read annotations .*does not exist$/);
  }));

Deno.test("train prepares work_dirs/<config name>, dumps the merged config, passes options and plots the log", () =>
  inTmp(async (dir) => {
    const cfgPath = fixture("child.ts");
    const r = await cli([
      "train",
      cfgPath,
      "--cfg-options",
      "optimizer.lr=0.005",
      "model.type=RetinaNet",
      "--seed",
      "3",
      "--no-validate",
    ], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /fake train: validate=false seed=3 lr=0\.005/);
    const work = join(dir, "work_dirs", "child");
    assert.match(r.stdout, /Checkpoint: work_dirs\/child\/epoch_1\.safetensors/);
    assert.match(
      r.stdout,
      /Plot of losses, learning rate and mAP: work_dirs\/child\/training_curves\.png/,
    );
    const names = [...Deno.readDirSync(work)].map((e) => e.name);
    assert.ok(names.includes("child.ts") && names.includes("training_curves.png"), names.join(","));
    assert.ok(names.some((n) => /^\d{8}_\d{6}\.log$/.test(n)), "text log");
    const dumped = await loadConfig(join(work, "child.ts"));
    const original = await loadConfig(cfgPath);
    assert.equal(dumped.get("optimizer.lr"), 0.005);
    assert.equal(dumped.get("seed"), 3);
    assert.equal(dumped.get("work_dir"), join("work_dirs", "child"));
    assert.deepEqual(dumped.get("model"), original.get("model"));
  }));

Deno.test("describeError maps error classes to exit codes", () => {
  assert.equal(describeError(new ConfigError("x")).code, 2);
  assert.equal(describeError(new GpuUnavailableError()).code, 2);
  assert.equal(describeError(new Deno.errors.NotFound("x")).code, 2);
  assert.equal(describeError(new NonFiniteLossError("Loss is not finite")).code, 1);
  assert.deepEqual(describeError(new TypeError("bad\nsecond line")), {
    code: 1,
    text: "error: TypeError: bad (set WGDET_DEBUG=1 for details)",
  });
});

Deno.test("refused runtime keys fail before anything is written, naming the key: fp16, gpu_ids, device", () =>
  inTmp(async (dir) => {
    for (
      const [opt, re] of [
        [
          "+fp16.loss_scale=512.0",
          /^error: Config ".*child\.ts" sets fp16=\{"loss_scale":512\}: .*remove fp16/,
        ],
        ["+gpu_ids=[0,1]", /^error: Config ".*child\.ts" sets gpu_ids=\[0,1\]: .*--launcher mpi/],
        ["+device=cpu", /^error: Config ".*child\.ts" sets device="cpu"/],
        ["+auto_scale_lr.enable=1", /^error: Invalid auto_scale_lr\.enable 1/],
      ] as const
    ) {
      const r = await cli(["train", fixture("child.ts"), "--cfg-options", opt], { cwd: dir });
      assert.equal(r.code, 2, `${opt}: ${r.stderr}`);
      assert.match(r.stderr.split("\n").pop()!, re);
      assert.ok(!(await Deno.stat(join(dir, "work_dirs")).catch(() => null)), "no work dir");
    }
    const auto = await cli(["train", fixture("child.ts"), "--auto-scale-lr"], { cwd: dir });
    assert.equal(auto.code, 2);
    assert.match(auto.stderr, /--auto-scale-lr .*auto_scale_lr\.base_batch_size/);
  }));

Deno.test("custom_imports modules are imported by the CLI before the command runs; a missing one exits 2", () =>
  inTmp(async (dir) => {
    const mod = join(dir, "my_hooks.ts");
    await Deno.writeTextFile(mod, 'console.log("custom module imported");\nexport {};\n');
    const ok = await cli([
      "train",
      fixture("child.ts"),
      "--cfg-options",
      `+custom_imports.imports=[${mod}]`,
    ], { cwd: dir });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /custom module imported[\s\S]*fake train/);
    assert.ok(!ok.stderr.includes("custom_imports"), ok.stderr);
    const bad = await cli([
      "train",
      fixture("child.ts"),
      "--cfg-options",
      `+custom_imports.imports=[${join(dir, "nope.ts")}]`,
    ], { cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /error: Cannot import custom_imports entry ".*nope\.ts"/);
  }));

Deno.test("test: --out missing folder fails at once naming it; --format-only and --eval-options reach the API parsed", () =>
  inTmp(async (dir) => {
    const missing = await cli(["test", tiny, "ckpt", "--out", join(dir, "nope", "r.pkl")], {
      cwd: dir,
    });
    assert.equal(missing.code, 2);
    assert.match(
      missing.stderr,
      /^error: Invalid --out ".*r\.pkl": the folder ".*nope" does not exist/,
    );
    const r = await cli([
      "test",
      tiny,
      "ckpt",
      "--format-only",
      "--eval-options",
      `jsonfile_prefix=${join(dir, "res")}`,
      "classwise=True",
      "--show-score-thr",
      "0.5",
      "--out",
      join(dir, "r.pkl"),
    ], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const opts = JSON.parse(r.stdout.match(/fake test: \S+ ckpt (.*)/)![1]);
    assert.deepEqual(opts, {
      out: join(dir, "r.pkl"),
      formatOnly: true,
      evalOptions: { jsonfile_prefix: join(dir, "res"), classwise: true },
      showScoreThr: 0.5,
    });
  }));

Deno.test("a failed training run still gets its curves (PNG and SVG) drawn from the log, and exits 1", () =>
  inTmp(async (dir) => {
    const r = await cli(["train", fixture("child.ts")], { cwd: dir, fake: "crash" });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Loss is not finite/);
    const work = join(dir, "work_dirs", "child");
    await Deno.stat(join(work, "training_curves.png"));
    const svg = await Deno.readTextFile(join(work, "training_curves.svg"));
    assert.ok(svg.includes(">loss<") && svg.includes(">lr (log scale)<"), svg.slice(0, 300));
    assert.ok(!r.stdout.includes("Checkpoint:"), "no checkpoint claimed");
  }));
