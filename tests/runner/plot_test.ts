import { Buffer } from "node:buffer";
import { join } from "node:path";
import { assert } from "../_assert.ts";
import { PNG } from "../../lib/deps_deno.ts";
import {
  niceTicks,
  plotWorkDir,
  Raster,
  readJsonLogs,
  renderTrainingPlot,
} from "../../lib/runner/mod.ts";

function decode(bytes: Uint8Array): { width: number; height: number; data: Uint8Array } {
  return PNG.sync.read(Buffer.from(bytes));
}

/** Counts pixels of roughly colour (r, g, b) in rows [y0, y1). */
function countColour(
  img: { width: number; data: Uint8Array },
  y0: number,
  y1: number,
  rgb: number[],
): number {
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = 0; x < img.width; x++) {
      const i = (y * img.width + x) * 4;
      if (
        Math.abs(img.data[i] - rgb[0]) + Math.abs(img.data[i + 1] - rgb[1]) +
            Math.abs(img.data[i + 2] - rgb[2]) < 30
      ) n++;
    }
  }
  return n;
}

Deno.test("renderTrainingPlot draws the loss, lr and mAP panels into a decodable PNG", () => {
  const recs: Record<string, unknown>[] = [{ exp_name: "x" }];
  for (let e = 1; e <= 3; e++) {
    for (const i of [5, 10]) {
      recs.push({
        mode: "train",
        epoch: e,
        iter: i,
        lr: 0.01 * e,
        loss_cls: 1 / (e + i),
        loss: 2 / e,
        time: 0.1,
      });
    }
    recs.push({
      mode: "val",
      epoch: e,
      iter: 7,
      bbox_mAP: 0.1 * e,
      bbox_mAP_50: 0.2 * e,
      bbox_mAP_copypaste: "s",
    });
  }
  const img = decode(renderTrainingPlot(recs, { title: "demo" }));
  assert.equal(img.width, 1000);
  assert.equal(img.height, 940);
  const blue = [31, 119, 180], red = [214, 39, 40];
  // each panel (loss: rows 40-340, lr: 340-640, val: 640-940) holds its first series' colour
  assert.ok(countColour(img, 70, 340, blue) > 200, "loss_cls line");
  assert.ok(countColour(img, 70, 340, red) > 200, "loss line");
  assert.ok(countColour(img, 370, 640, blue) > 200, "lr line");
  assert.ok(countColour(img, 670, 940, red) > 100, "bbox_mAP_50 line and markers");
  assert.ok(countColour(img, 0, 30, [0, 0, 0]) > 50, "title text");
});

Deno.test("renderTrainingPlot says when there is no data, and Raster text uses the bitmap font", () => {
  const img = decode(renderTrainingPlot([]));
  assert.ok(countColour(img, 180, 220, [90, 90, 90]) > 50, "'no data yet'");
  const r = new Raster(40, 20);
  r.text(1, 1, "1a", [0, 0, 0], 1);
  assert.equal(Raster.textWidth("1a", 1), 11);
  const dark = [...Array(40 * 20).keys()].filter((p) => r.data[p * 4] === 0).length;
  assert.equal(dark, 10 + 18, "pixels of the glyphs '1' and 'A'");
});

Deno.test("niceTicks picks 1-2-5 steps covering the range", () => {
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1]);
  assert.deepEqual(niceTicks(0, 12, 8), [0, 2, 4, 6, 8, 10, 12]);
  assert.deepEqual(niceTicks(3, 3), [3]);
});

Deno.test("plotWorkDir reads every .log.json in order and writes training_curves.png", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-plot-" });
  try {
    await Deno.writeTextFile(
      join(dir, "20240101_000000.log.json"),
      '{"exp_name":"a"}\n{"mode":"train","epoch":1,"iter":5,"lr":0.01,"loss":1}\n',
    );
    await Deno.writeTextFile(
      join(dir, "20240102_000000.log.json"),
      '{"mode":"train","epoch":2,"iter":5,"lr":0.01,"loss":0.5}\n{"mode":"tr',
    );
    const recs = await readJsonLogs(dir);
    assert.deepEqual(
      recs.map((r) => r.epoch),
      [1, 2],
      "meta lines and a line cut by a crash are skipped",
    );
    const path = await plotWorkDir(dir);
    assert.equal(path, join(dir, "training_curves.png"));
    assert.equal(decode(await Deno.readFile(path)).width, 1000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
