import { join } from "node:path";
import { assert } from "../_assert.ts";
import {
  CheckpointHook,
  EpochBasedRunner,
  findLatestCheckpoint,
  loadCheckpoint,
  resolveCheckpointPath,
  RunnerLogger,
  saveCheckpoint,
  updateLatest,
  WGDET_VERSION,
} from "../../lib/runner/mod.ts";
import { encodeSafetensors } from "../../lib/utils/safetensors.ts";
import { fakeLoader, FakeModel, FakeOptimizer } from "./_fakes.ts";

const quiet = () => new RunnerLogger({ console: false });

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-ckpt-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("saveCheckpoint/loadCheckpoint round-trip weights, optimizer state and meta; latest points at it", () =>
  withTmp(async (dir) => {
    const path = join(dir, "epoch_3.safetensors");
    const written = await saveCheckpoint(path, {
      stateDict: {
        "bbox_head.retina_cls.bias": {
          dtype: "F32",
          shape: [3],
          data: new Float32Array([-4.59, 0, 1]),
        },
      },
      optimizer: {
        state: {
          "bbox_head.retina_cls.bias.momentum_buffer": {
            dtype: "F32",
            shape: [3],
            data: new Float32Array([1, 2, 3]),
          },
        },
        param_groups: [{ lr: 0.001, initial_lr: 0.01, momentum: 0.9 }],
      },
      meta: {
        epoch: 3,
        iter: 300,
        CLASSES: ["a", "b", "c"],
        config: "export const x = 1;\n",
        hook_msgs: { last_ckpt: "x" },
      },
    });
    assert.deepEqual(written.map((p) => p.slice(dir.length + 1)), [
      "epoch_3.safetensors",
      "epoch_3.optim.safetensors",
      "epoch_3.json",
    ]);
    await updateLatest(dir, path);
    for (
      const p of [path, dir, join(dir, "latest"), join(dir, "epoch_3"), join(dir, "epoch_3.json")]
    ) {
      assert.equal(await resolveCheckpointPath(p), path, p);
    }
    const ckpt = await loadCheckpoint(dir);
    assert.deepEqual([...ckpt.stateDict["bbox_head.retina_cls.bias"].data], [
      Math.fround(-4.59),
      0,
      1,
    ]);
    assert.deepEqual(ckpt.optimizer!.param_groups, [{
      lr: 0.001,
      initial_lr: 0.01,
      momentum: 0.9,
    }]);
    assert.deepEqual([...ckpt.optimizer!.state["bbox_head.retina_cls.bias.momentum_buffer"].data], [
      1,
      2,
      3,
    ]);
    assert.equal(ckpt.meta.epoch, 3);
    assert.equal(ckpt.meta.iter, 300);
    assert.deepEqual(ckpt.meta.CLASSES, ["a", "b", "c"]);
    assert.equal(ckpt.meta.wgdet_version, WGDET_VERSION);
    assert.equal((await loadCheckpoint(path, { optimizer: false })).optimizer, undefined);
  }));

Deno.test("loadCheckpoint strips a 'module.' prefix and loads bare weights without meta", () =>
  withTmp(async (dir) => {
    const path = join(dir, "converted.safetensors");
    await Deno.writeFile(
      path,
      encodeSafetensors({
        "module.neck.fpn_convs.0.conv.weight": {
          dtype: "F32",
          shape: [1],
          data: new Float32Array([2]),
        },
      }),
    );
    const ckpt = await loadCheckpoint(path);
    assert.deepEqual(Object.keys(ckpt.stateDict), ["neck.fpn_convs.0.conv.weight"]);
    assert.deepEqual(ckpt.meta, {});
    await assert.rejects(
      loadCheckpoint(path, { requireMeta: true }),
      /meta file .*converted\.json" is missing/,
    );
  }));

Deno.test("loadCheckpoint names the file for missing and corrupt checkpoints", () =>
  withTmp(async (dir) => {
    await assert.rejects(
      loadCheckpoint(join(dir, "nope.safetensors")),
      (e: Error) => e instanceof Deno.errors.NotFound && e.message.includes("nope.safetensors"),
    );
    await assert.rejects(loadCheckpoint(join(dir, "nope")), /Cannot find checkpoint ".*nope"/);
    await assert.rejects(loadCheckpoint(dir), /Cannot find checkpoint ".*latest"/);
    const bad = join(dir, "bad.safetensors");
    await Deno.writeFile(bad, new Uint8Array([200, 0, 0, 0, 0, 0, 0, 0, 1, 2]));
    await assert.rejects(
      loadCheckpoint(bad),
      (e: Error) => e instanceof SyntaxError && e.message.includes("bad.safetensors"),
    );
  }));

for (const stage of ["tmp", "weights", "optimizer"]) {
  Deno.test(`a process killed while writing a checkpoint (after "${stage}") leaves the previous one loadable`, () =>
    withTmp(async (dir) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("./_crash_writer.ts", import.meta.url).pathname, dir, stage],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 137, new TextDecoder().decode(out.stderr));
      assert.equal(await resolveCheckpointPath(dir), join(dir, "epoch_1.safetensors"));
      const ckpt = await loadCheckpoint(dir, { requireMeta: true });
      assert.equal(ckpt.meta.epoch, 1);
      assert.deepEqual([...ckpt.stateDict["backbone.w"].data], [1, 1, 1, 1]);
      if (stage !== "tmp") {
        await assert.rejects(
          loadCheckpoint(join(dir, "epoch_2.safetensors"), { requireMeta: true }),
          /meta file .* is missing/,
        );
      }
      const model = new FakeModel();
      const runner = new EpochBasedRunner({
        model,
        optimizer: new FakeOptimizer(model),
        max_epochs: 3,
        logger: quiet(),
      });
      await runner.resume(dir);
      assert.equal(runner.epoch, 1);
      assert.equal(runner.iter, 10);
    }));
}

Deno.test({
  name: "SIGKILL at an arbitrary moment of repeated checkpoint writes never breaks latest",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withTmp(async (dir) => {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("./_crash_writer.ts", import.meta.url).pathname, dir, "loop"],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let seen = "";
      while (!seen.includes("saved 3")) seen += (await reader.read()).value ?? "";
      child.kill("SIGKILL");
      await child.status;
      await reader.cancel();
      const ckpt = await loadCheckpoint(dir, { requireMeta: true });
      const epoch = ckpt.meta.epoch!;
      assert.ok(epoch >= 3, `latest is epoch ${epoch}`);
      const w = ckpt.stateDict["backbone.w"].data as Float32Array;
      assert.equal(w.length, 1 << 20);
      assert.ok(w.every((x) => x === epoch), "weights belong to the epoch of the meta");
      assert.ok(
        ckpt.optimizer!.state["backbone.w.momentum_buffer"].data.every((x) => x === -epoch),
      );
    }),
});

Deno.test("CheckpointHook saves every interval plus the last epoch and keeps max_keep_ckpts", () =>
  withTmp(async (dir) => {
    const model = new FakeModel();
    const runner = new EpochBasedRunner({
      model,
      optimizer: new FakeOptimizer(model),
      max_epochs: 5,
      work_dir: dir,
      logger: quiet(),
    });
    runner.registerHook(
      new CheckpointHook({ interval: 2, max_keep_ckpts: 2, meta: { CLASSES: ["x"] } }),
    );
    await runner.run([fakeLoader(3)], [["train", 1]]);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, [
      "epoch_4.json",
      "epoch_4.optim.safetensors",
      "epoch_4.safetensors",
      "epoch_5.json",
      "epoch_5.optim.safetensors",
      "epoch_5.safetensors",
      "latest",
    ]);
    const ckpt = await loadCheckpoint(dir);
    assert.equal(ckpt.meta.epoch, 5);
    assert.equal(ckpt.meta.iter, 15);
    assert.deepEqual(ckpt.meta.CLASSES, ["x"]);
    assert.equal(
      (runner.meta.hook_msgs as Record<string, string>).last_ckpt,
      join(dir, "epoch_5.safetensors"),
    );
  }));

Deno.test("resume continues exactly: weights, momentum, lr schedule and counters equal an uninterrupted run", () =>
  withTmp(async (dir) => {
    const lr_config = {
      policy: "step",
      warmup: "linear",
      warmup_iters: 4,
      warmup_ratio: 0.1,
      step: [3],
    };
    const train = async (workDir: string, maxEpochs: number, resumeFrom?: string) => {
      const model = new FakeModel((s) => 1 / (s + 1));
      const optimizer = new FakeOptimizer(model);
      const runner = new EpochBasedRunner({
        model,
        optimizer,
        max_epochs: maxEpochs,
        work_dir: workDir,
        logger: quiet(),
      });
      runner.registerTrainingHooks({
        lr_config,
        optimizer_config: {},
        checkpoint_config: { interval: 1 },
        timer_config: null,
        progress_bar: false,
      });
      if (resumeFrom) await runner.resume(resumeFrom);
      await runner.run([fakeLoader(3)], [["train", 1]]);
      return { model, optimizer, runner };
    };
    const full = await train(join(dir, "full"), 4);
    await train(join(dir, "part"), 2);
    const resumed = await train(join(dir, "part"), 4, join(dir, "part"));
    assert.deepEqual(resumed.model.weights, full.model.weights);
    assert.deepEqual(resumed.optimizer.momentum, full.optimizer.momentum);
    assert.deepEqual(resumed.optimizer.lrsAtStep, full.optimizer.lrsAtStep.slice(6));
    assert.equal(resumed.runner.iter, 12);
    assert.equal(resumed.runner.epoch, 4);
    assert.equal(resumed.optimizer.paramGroups[0].initial_lr, 0.01);
  }));

Deno.test("findLatestCheckpoint follows latest, else takes the highest complete epoch/iter checkpoint, else null", () =>
  withTmp(async (dir) => {
    const ckpt = (v: number) => ({
      stateDict: { w: { dtype: "F32" as const, shape: [1], data: new Float32Array([v]) } },
      meta: { epoch: v, iter: v * 10 },
    });
    assert.equal(await findLatestCheckpoint(join(dir, "missing")), null);
    assert.equal(await findLatestCheckpoint(dir), null);
    await saveCheckpoint(join(dir, "epoch_2.safetensors"), ckpt(2));
    await saveCheckpoint(join(dir, "epoch_10.safetensors"), ckpt(10));
    // a half-written epoch_11 (weights only, no meta) is not complete
    await Deno.writeFile(join(dir, "epoch_11.safetensors"), new Uint8Array(8));
    assert.equal(await findLatestCheckpoint(dir), join(dir, "epoch_10.safetensors"));
    await updateLatest(dir, join(dir, "epoch_2.safetensors"));
    assert.equal(await findLatestCheckpoint(dir), join(dir, "epoch_2.safetensors"));
    // latest pointing at a checkpoint whose meta is gone: fall back to the scan
    await Deno.remove(join(dir, "epoch_2.json"));
    assert.equal(await findLatestCheckpoint(dir), join(dir, "epoch_10.safetensors"));
  }));
