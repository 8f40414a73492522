import { assert } from "../../_assert.ts";
import { anchorInsideFlags, concatArrays, imagesToLevels } from "../../../lib/core/mod.ts";

Deno.test("imagesToLevels() stacks per-image targets and splits them by level counts", () => {
  const labels = imagesToLevels([Int32Array.of(1, 2, 3), Int32Array.of(4, 5, 6)], [2, 1]);
  assert.deepEqual(labels.map((l) => Array.from(l)), [[1, 2, 4, 5], [3, 6]]);
  assert.ok(labels[0] instanceof Int32Array);
  const boxes = imagesToLevels(
    [Float32Array.of(0, 1, 2, 3, 4, 5, 6, 7), Float32Array.of(8, 9, 10, 11, 12, 13, 14, 15)],
    [1, 1],
    { width: 4 },
  );
  assert.deepEqual(boxes.map((l) => Array.from(l)), [[0, 1, 2, 3, 8, 9, 10, 11], [
    4,
    5,
    6,
    7,
    12,
    13,
    14,
    15,
  ]]);
  assert.throws(
    () => imagesToLevels([Int32Array.of(1, 2)], [2, 1]),
    /length 2 does not match 3 anchors/,
  );
});

Deno.test("anchorInsideFlags() uses valid flags alone when allowed_border < 0, else the image border", () => {
  const anchors = Float32Array.of(-5, 0, 10, 10, 0, 0, 10, 10, 30, 30, 41, 40, 0, 0, 5, 5);
  const valid = Uint8Array.of(1, 1, 1, 0);
  assert.deepEqual(
    Array.from(anchorInsideFlags(anchors, valid, { imgShape: [40, 40], allowedBorder: -1 })),
    [1, 1, 1, 0],
  );
  assert.deepEqual(
    Array.from(anchorInsideFlags(anchors, valid, { imgShape: [40, 40], allowedBorder: 0 })),
    [0, 1, 0, 0],
  );
  assert.deepEqual(
    Array.from(anchorInsideFlags(anchors, valid, { imgShape: [40, 40], allowedBorder: 5 })),
    [1, 1, 1, 0],
  );
  assert.deepEqual(Array.from(concatArrays([Uint8Array.of(1), Uint8Array.of(0, 1)])), [1, 0, 1]);
});
