// testDetector's outputs on a real (tiny, randomly initialised) RetinaNet: results.pkl and
// COCO results JSON in mmdetection's layouts, outputs checked before inference, metrics printed
// even when writing results fails.
import { join } from "node:path";
import { assert } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";
import { tinyConfig } from "../e2e/_tiny.ts";
import { buildModel } from "../../lib/apis/common.ts";
import { toCpuStateDict } from "../../lib/apis/adapters.ts";
import { testDetector } from "../../lib/apis/test.ts";
import { readResults } from "../../lib/apis/results_io.ts";
import { saveCheckpoint } from "../../lib/runner/checkpoint.ts";
import { ConfigError } from "../../lib/utils/errors.ts";
import { createProgress } from "../../lib/apis/progress.ts";

gpuTest(
  "testDetector writes results.pkl and <prefix>.bbox.json, checks outputs first, prints metrics when a write fails",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "wgdet-testout-" });
    try {
      const cfg = await tinyConfig([
        "model.test_cfg.score_thr=0.0",
        "model.test_cfg.max_per_img=5",
      ]);
      const det = buildModel(cfg, 0);
      const ck = join(dir, "ck.safetensors");
      await saveCheckpoint(ck, {
        stateDict: toCpuStateDict(await det.stateDict()),
        meta: { CLASSES: cfg.get("data.train.classes") as string[] },
      });
      det.dispose();

      // a missing folder fails at once (no inference)
      await assert.rejects(
        testDetector(cfg, ck, { out: join(dir, "none", "r.pkl"), progress: "none" }),
        (e: Error) => e instanceof ConfigError && /folder ".*none" does not exist/.test(e.message),
      );

      const lines: string[] = [];
      const pkl = join(dir, "r.pkl");
      const metrics = await testDetector(cfg, ck, {
        eval: ["bbox"],
        out: pkl,
        evalOptions: { jsonfile_prefix: join(dir, "res") },
        progress: "none",
        log: (l) => lines.push(l),
      });
      assert.equal(typeof metrics.bbox_mAP, "number");
      const results = await readResults(pkl);
      assert.equal(results.length, 4);
      for (const im of results) {
        assert.equal(im.length, 3);
        assert.ok(im.every((c) => c.length % 5 === 0));
      }
      const n = results.reduce((s, im) => s + im.reduce((t, c) => t + c.length / 5, 0), 0);
      assert.ok(n > 0 && n <= 20, `${n} detections`);
      const coco = JSON.parse(await Deno.readTextFile(join(dir, "res.bbox.json")));
      assert.equal(coco.length, n);
      const first = results.findIndex((im) => im.some((c) => c.length));
      const label = results[first].findIndex((c) => c.length);
      const row = results[first][label];
      const e = coco.find((d: { score: number }) => Math.abs(d.score - row[4]) < 1e-6);
      assert.ok(e, "the first detection is in the COCO JSON");
      assert.ok(Math.abs(e.bbox[2] - (row[2] - row[0])) < 1e-4, "bbox is [x, y, w, h]");
      assert.deepEqual(Object.keys(e).sort(), ["bbox", "category_id", "image_id", "score"]);
      assert.match(
        lines.join("\n"),
        /writing results to .*r\.pkl[\s\S]*COCO results JSON[\s\S]*bbox_mAP: /,
      );

      // the results file cannot be written (a folder of that name): metrics are printed, then error
      await Deno.mkdir(join(dir, "taken.pkl"));
      const failLines: string[] = [];
      await assert.rejects(
        testDetector(cfg, ck, {
          eval: ["bbox"],
          out: join(dir, "taken.pkl"),
          progress: "none",
          log: (l) => failLines.push(l),
        }),
      );
      assert.match(failLines.join("\n"), /error: [\s\S]*bbox_mAP: /);

      // --format-only: the COCO JSON, no metrics
      const fo = await testDetector(cfg, ck, {
        formatOnly: true,
        evalOptions: { jsonfile_prefix: join(dir, "only") },
        progress: "none",
        log: () => {},
      });
      assert.deepEqual(fo, {});
      assert.equal(JSON.parse(await Deno.readTextFile(join(dir, "only.bbox.json"))).length, n);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("test progress: a bar redrawn in place on a terminal, a line every interval otherwise", () => {
  let t = 0;
  const bar: string[] = [];
  const p = createProgress(4, { mode: "bar", write: (s) => bar.push(s), now: () => t, width: 8 });
  t = 1000;
  p.update(2);
  t = 2000;
  p.update(4);
  p.end();
  assert.equal(bar[1], "\r[>>>>    ] 2/4, 2.0 task/s, elapsed: 1s, ETA:    1s");
  assert.equal(bar[2], "\r[>>>>>>>>] 4/4, 2.0 task/s, elapsed: 2s, ETA:    0s");
  assert.equal(bar.at(-1), "\n");
  const lines: string[] = [];
  t = 0;
  const q = createProgress(100, { mode: "lines", write: (s) => lines.push(s), now: () => t });
  for (let i = 1; i <= 100; i++) {
    t = i * 500; // 2 images/s: a line every 10 s = every 20 images
    q.update(i);
  }
  q.end();
  assert.equal(lines.length, 4 + 1, lines.join(""));
  assert.equal(lines[0], "[test] 20/100 images, 2.00 images/s, elapsed 10s, ETA 40s\n");
  assert.equal(lines.at(-1), "[test] 100/100 images done, 2.00 images/s, elapsed 50s\n");
});
