/**
 * PyTorch checkpoints through wgdet's checkpoint API (`lib/runner/pth_checkpoint.ts`): mmcv
 * checkpoint dicts and bare state dicts, dtype conversion notes, resume rules, the optimizer's
 * index → name mapping, model-zoo names and the hub cache, and downloads from a local server.
 */
import { join } from "node:path";
import { loadCheckpoint } from "../../lib/runner/checkpoint.ts";
import {
  encodePthCheckpoint,
  fetchCheckpoint,
  localCheckpointPath,
  readPthCheckpoint,
  remapTorchOptimizer,
  resolveModelZoo,
  torchHubCheckpointsDir,
} from "../../lib/runner/pth_checkpoint.ts";
import { PthError } from "../../lib/utils/pth/zip.ts";
import { assert } from "../_assert.ts";

const FX = new URL("../fixtures/pth/", import.meta.url);
const fx = (n: string) => new URL(n, FX).pathname;

Deno.test("loadCheckpoint reads an mmcv .pth: module. stripped, meta as JSON, values kept", async () => {
  const ck = await loadCheckpoint(fx("mmdet_ckpt.pth"));
  const exp = JSON.parse(await Deno.readTextFile(fx("mmdet_ckpt_expected.json")));
  assert.deepEqual(Object.keys(ck.stateDict), Object.keys(exp));
  for (const [k, e] of Object.entries(exp) as [string, { values: (number | string)[] }][]) {
    const t = ck.stateDict[k];
    const vals = t.dtype === "I64"
      ? [...t.data as BigInt64Array].map(String)
      : [...t.data as Float32Array];
    assert.deepEqual(vals, e.values, k);
  }
  assert.equal(ck.meta.epoch, 3);
  assert.equal(ck.meta.iter, 30);
  assert.deepEqual(ck.meta.CLASSES, ["cat", "dog"]);
  assert.deepEqual(ck.meta.hook_msgs, { last_ckpt: "work_dirs/x/epoch_3.pth" });
});

Deno.test("a bare torch.save(state_dict) loads; fp16/bf16/fp64 become float32 with a note", async () => {
  const ck = await readPthCheckpoint(fx("state_dict_zip.pth"));
  assert.equal(ck.hasMeta, false);
  assert.equal(ck.stateDict["half.weight"].dtype, "F32");
  assert.equal(ck.stateDict["bf16.weight"].dtype, "F32");
  assert.equal(ck.stateDict["f64.weight"].dtype, "F32");
  assert.equal(ck.stateDict["bn1.num_batches_tracked"].dtype, "I64");
  assert.equal(ck.stateDict["bool.flag"].dtype, "U8");
  assert.deepEqual(ck.notes.sort(), [
    '1 bfloat16 tensor of "state_dict_zip.pth" converted to float32',
    '1 float16 tensor of "state_dict_zip.pth" converted to float32',
    '1 float64 tensor of "state_dict_zip.pth" converted to float32',
  ]);
  await assert.rejects(
    () => loadCheckpoint(fx("state_dict_zip.pth"), { requireMeta: true }),
    /Cannot resume from ".*state_dict_zip\.pth": it is a bare state dict without mmcv's "meta"/,
  );
});

Deno.test("a refused .pth surfaces through loadCheckpoint with the refusal message", async () => {
  await assert.rejects(
    () => loadCheckpoint(fx("evil_os_system.pth")),
    (e: Error) => e instanceof PthError && /it calls posix\.system/.test(e.message),
  );
  await assert.rejects(
    () => loadCheckpoint(fx("evil_bomb_deep.pth")),
    /nested more than 64 levels|not a tensor|state_dict/,
  );
});

Deno.test("remapTorchOptimizer names PyTorch's parameter indices and checks shapes", async () => {
  const ck = await readPthCheckpoint(fx("mmdet_ckpt.pth"));
  const opt = ck.torchOptimizer!;
  const names = ["conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias"];
  const shapes = names.map((n) => ck.stateDict[n].shape);
  const s = remapTorchOptimizer(opt, names, shapes, "mmdet_ckpt.pth");
  assert.deepEqual(Object.keys(s.state), names.map((n) => `${n}.momentum_buffer`));
  assert.equal(s.param_groups.length, 1);
  assert.equal(s.param_groups[0].lr, 0.01);
  assert.equal(s.param_groups[0].momentum, 0.9);
  assert.equal("params" in s.param_groups[0], false);
  assert.throws(
    () => remapTorchOptimizer(opt, names.slice(1), shapes.slice(1), "x.pth"),
    /its groups list 4 parameters, the optimizer has 3/,
  );
  assert.throws(
    () => remapTorchOptimizer(opt, names, [[1], [1], [1], [1]], "x.pth"),
    /has shape \[4,3,3,3\], the parameter \[1\]/,
  );
});

Deno.test("model zoo: torchvision:// and open-mmlab:// resolve to mmcv's URLs and the hub cache", () => {
  const dir = torchHubCheckpointsDir((k) => ({ TORCH_HOME: "/th" } as Record<string, string>)[k]);
  assert.equal(dir, "/th/hub/checkpoints");
  assert.equal(
    torchHubCheckpointsDir((k) => ({ HOME: "/home/u" } as Record<string, string>)[k]),
    "/home/u/.cache/torch/hub/checkpoints",
  );
  assert.deepEqual(resolveModelZoo("torchvision://resnet50", dir), {
    url: "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    path: "/th/hub/checkpoints/resnet50-0676ba61.pth",
  });
  assert.equal(
    resolveModelZoo("torchvision://resnet18", dir).url,
    "https://download.pytorch.org/models/resnet18-f37072fd.pth",
  );
  assert.equal(
    resolveModelZoo("torchvision://ResNet50_Weights.IMAGENET1K_V2", dir).path,
    "/th/hub/checkpoints/resnet50-11ad3fa6.pth",
  );
  assert.equal(
    resolveModelZoo("open-mmlab://resnet50_caffe", dir).url,
    "https://download.openmmlab.com/pretrain/third_party/resnet50_caffe-788b5fa3.pth",
  );
  assert.equal(
    resolveModelZoo("open-mmlab://detectron2/resnet50_caffe", dir).path,
    "/th/hub/checkpoints/resnet50_msra-5891d200.pth",
  );
  assert.throws(
    () => resolveModelZoo("torchvision://resnet5", dir),
    /no torchvision model "resnet5"/,
  );
});

Deno.test("a missing hub file without download names the URL and where to put it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      () => localCheckpointPath("torchvision://resnet50", { dir, download: false }),
      (e: Error) =>
        e instanceof PthError &&
        e.message.includes("download https://download.pytorch.org/models/resnet50-0676ba61.pth") &&
        e.message.includes(`put it at ${join(dir, "resnet50-0676ba61.pth")}`),
    );
    // present in the cache: used as is
    await Deno.copyFile(fx("state_dict_zip.pth"), join(dir, "resnet50-0676ba61.pth"));
    assert.equal(
      await localCheckpointPath("torchvision://resnet50", { dir, download: false }),
      join(dir, "resnet50-0676ba61.pth"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fetchCheckpoint downloads into the cache and checks the hash prefix (local server)", async () => {
  const body = encodePthCheckpoint({
    w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) },
  });
  const hex = [...new Uint8Array(await crypto.subtle.digest("SHA-256", body))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const ac = new AbortController();
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", signal: ac.signal, onListen: () => {} },
    () => new Response(body),
  );
  const dir = await Deno.makeTempDir();
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const seen: number[] = [];
    const good = join(dir, `w-${hex.slice(0, 8)}.pth`);
    await fetchCheckpoint(`${base}/w-${hex.slice(0, 8)}.pth`, good, {
      progress: (d) => seen.push(d),
    });
    assert.deepEqual(await Deno.readFile(good), body);
    assert.equal(seen.at(-1), body.length);
    const ck = await readPthCheckpoint(good);
    assert.deepEqual([...ck.stateDict.w.data as Float32Array], [1, 2]);
    const bad = join(dir, "w-deadbeef.pth");
    await assert.rejects(
      () => fetchCheckpoint(`${base}/w-deadbeef.pth`, bad, { progress: () => {} }),
      /does not start with "deadbeef".*download http:\/\/127\.0\.0\.1:\d+\/w-deadbeef\.pth by hand/,
    );
    assert.equal(await Deno.stat(bad).then(() => true, () => false), false);
  } finally {
    ac.abort();
    await server.finished;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fetchCheckpoint on an unreachable host names the URL and the path", async () => {
  await assert.rejects(
    () => fetchCheckpoint("http://127.0.0.1:9/x-00.pth", "/tmp/none/x-00.pth", { timeoutMs: 2000 }),
    /Cannot download checkpoint http:\/\/127\.0\.0\.1:9\/x-00\.pth .*put it at \/tmp\/none\/x-00\.pth/,
  );
});

Deno.test("runner.resume from an mmcv .pth: weights, epoch, iter, hook_msgs and named momentum", async () => {
  const { EpochBasedRunner, RunnerLogger } = await import("../../lib/runner/mod.ts");
  const { FakeModel, FakeOptimizer } = await import("./_fakes.ts");
  const { writePth } = await import("../../lib/utils/pth/pth.ts");
  const t = (v: number[]) => ({ dtype: "F32" as const, shape: [2, 2], data: new Float32Array(v) });
  const file = writePth(
    new Map<string, unknown>([
      ["meta", { epoch: 2, iter: 20, hook_msgs: { last_ckpt: "epoch_2.pth" } }],
      ["state_dict", new Map([["module.backbone.w", t([5, 6, 7, 8])]])],
      [
        "optimizer",
        new Map<string, unknown>([
          ["state", new Map([[0, new Map([["momentum_buffer", t([0.5, 0.25, 0, -1])]])]])],
          ["param_groups", [
            new Map<string, unknown>([["lr", 0.02], ["momentum", 0.9], ["initial_lr", 0.02], [
              "params",
              [0],
            ]]),
          ]],
        ]),
      ],
    ]) as never,
  );
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "epoch_2.pth");
    await Deno.writeFile(path, file);
    const model = new FakeModel();
    const optimizer = new FakeOptimizer(model);
    // wgdet's GPU optimizers list their parameters in mmcv's order; the fake does the same
    Object.assign(optimizer, { entries: [{ name: "backbone.w", param: { shape: [2, 2] } }] });
    const runner = new EpochBasedRunner({
      model,
      optimizer,
      max_epochs: 3,
      logger: new RunnerLogger({ console: false }),
    });
    await runner.resume(path);
    assert.equal(runner.epoch, 2);
    assert.equal(runner.iter, 20);
    assert.deepEqual([...model.weights], [5, 6, 7, 8]);
    assert.deepEqual([...optimizer.momentum], [0.5, 0.25, 0, -1]);
    assert.equal(optimizer.paramGroups[0].lr, 0.02);
    assert.equal((runner.meta.hook_msgs as Record<string, unknown>).last_ckpt, "epoch_2.pth");
    // without a parameter list the optimizer cannot be mapped: a clear error, not a silent skip
    const bare = new EpochBasedRunner({
      model,
      optimizer: new FakeOptimizer(model),
      max_epochs: 3,
      logger: new RunnerLogger({ console: false }),
    });
    await assert.rejects(() => bare.resume(path), /does not list its parameters/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
