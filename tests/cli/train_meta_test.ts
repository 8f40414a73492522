/** The run meta (first line of the `.log.json`) records the seed actually used (issue 14). */
import { join } from "node:path";
import { assert } from "../_assert.ts";
import { type ApiLoader, trainCommand } from "../../lib/cli/actions.ts";

const cfgText = `export const model = { type: "RetinaNet" };
export const data = { train: { type: "CustomDataset" } };
export const optimizer = { type: "SGD", lr: 0.01 };
export const runner = { type: "EpochBasedRunner", max_epochs: 1 };
`;

Deno.test("train meta records seed 0 when the config sets none, and --seed when given", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-meta-" });
  try {
    await Deno.writeTextFile(join(dir, "c.ts"), cfgText);
    const metas: Record<string, unknown>[] = [];
    const fake = (async () => ({
      trainDetector: (_cfg: unknown, o: { meta: Record<string, unknown> }) => {
        metas.push(o.meta);
        return Promise.resolve();
      },
    })) as unknown as ApiLoader;
    await trainCommand(join(dir, "c.ts"), { workDir: join(dir, "w1") }, fake);
    await trainCommand(join(dir, "c.ts"), { workDir: join(dir, "w2"), seed: 7 }, fake);
    assert.equal(metas[0].seed, 0);
    assert.equal(metas[1].seed, 7);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
