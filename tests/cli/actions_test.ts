import { join } from "node:path";
import { assert } from "../_assert.ts";
import { ensureSyntheticData, loadCommandConfig, resolveWorkDir } from "../../lib/cli/actions.ts";
import { Config, ConfigError } from "../../lib/config/mod.ts";

const tiny = new URL("../../configs/retinanet/retinanet_tiny_shapes.ts", import.meta.url);

Deno.test("ensureSyntheticData generates the shapes data once and fills data_root of every split", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-syn-" });
  try {
    const cfg = await loadCommandConfig(tiny, [
      `data.synthetic.cache_dir=${dir}`,
      "data.synthetic.num_train=3",
      "data.synthetic.num_val=2",
      "data.synthetic.img_size=48",
      "+data.synthetic.object_size=[8,24]",
    ]);
    const root = await ensureSyntheticData(cfg);
    assert.ok(root?.startsWith(dir), String(root));
    for (const split of ["train", "val", "test"]) {
      assert.equal(cfg.get(`data.${split}.data_root`), root, split);
    }
    const train = JSON.parse(
      await Deno.readTextFile(join(root!, cfg.get("data.train.ann_file") as string)),
    );
    assert.equal(train.images.length, 3);
    assert.deepEqual(
      train.categories.map((c: { name: string }) => c.name),
      cfg.get("data.train.classes"),
    );
    const val = JSON.parse(
      await Deno.readTextFile(join(root!, cfg.get("data.val.ann_file") as string)),
    );
    assert.equal(val.images.length, 2);
    await Deno.stat(join(root!, cfg.get("data.val.img_prefix") as string, val.images[0].file_name));
    // a second call reuses the cached folder
    const again = await loadCommandConfig(tiny, [
      `data.synthetic.cache_dir=${dir}`,
      "data.synthetic.num_train=3",
      "data.synthetic.num_val=2",
      "data.synthetic.img_size=48",
      "+data.synthetic.object_size=[8,24]",
    ]);
    assert.equal(await ensureSyntheticData(again), root);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ensureSyntheticData is a no-op without data.synthetic and rejects an unknown generator", async () => {
  assert.equal(await ensureSyntheticData(new Config({ data: { train: {} } })), undefined);
  await assert.rejects(
    ensureSyntheticData(new Config({ data: { synthetic: { type: "mnist" } } }, "x.ts")),
    ConfigError,
  );
});

Deno.test("resolveWorkDir prefers --work-dir, then cfg.work_dir, then work_dirs/<config name>", () => {
  const cfg = new Config({}, "configs/retinanet/retinanet_tiny_shapes.ts");
  assert.equal(resolveWorkDir(cfg), join("work_dirs", "retinanet_tiny_shapes"));
  cfg.dict.work_dir = "runs/a";
  assert.equal(resolveWorkDir(cfg), "runs/a");
  assert.equal(resolveWorkDir(cfg, "runs/b"), "runs/b");
});
