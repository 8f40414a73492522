import { assert } from "../_assert.ts";
import { drawDetections, placeLabels } from "../../lib/apis/visualize.ts";

Deno.test("labels stay inside a small image and apart from each other", () => {
  // three overlapping boxes near the top-right corner of a 64×48 image, a box at the bottom edge
  const items = [
    { box: [50, 2, 63, 20], w: 40, h: 9 },
    { box: [48, 3, 62, 22], w: 40, h: 9 },
    { box: [52, 1, 60, 18], w: 40, h: 9 },
    { box: [0, 45, 10, 48], w: 30, h: 9 },
  ];
  const p = placeLabels(items, 64, 48);
  p.forEach(([x, y], i) => {
    assert.ok(x >= 0 && x + items[i].w <= 64, `label ${i} x=${x}`);
    assert.ok(y >= 0 && y + items[i].h <= 48, `label ${i} y=${y}`);
  });
  for (let i = 0; i < p.length; i++) {
    for (let j = i + 1; j < p.length; j++) {
      const a = { x: p[i][0], y: p[i][1], w: items[i].w, h: items[i].h };
      const b = { x: p[j][0], y: p[j][1], w: items[j].w, h: items[j].h };
      const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
      assert.ok(!overlap, `labels ${i} and ${j} overlap: ${JSON.stringify([a, b])}`);
    }
  }
  // a box with room above gets its label just above its corner
  assert.deepEqual(placeLabels([{ box: [10, 30, 20, 40], w: 20, h: 9 }], 64, 48), [[10, 21]]);
});

Deno.test("drawDetections draws the label pixels inside the image for a box at the right edge", () => {
  const img = { width: 40, height: 30, channels: 3, data: new Uint8Array(40 * 30 * 3) };
  const r = drawDetections(img as never, [Float32Array.from([30, 0, 39, 29, 0.9])], {
    classes: ["ellipse"],
  });
  // the label's coloured tag covers pixels left of the box (moved inside the image)
  const red = (x: number, y: number) => r.data[(y * 40 + x) * 4];
  let tag = 0;
  for (let x = 0; x < 30; x++) if (red(x, 1) > 0) tag++;
  assert.ok(tag > 10, `label pixels left of the box: ${tag}`);
});
