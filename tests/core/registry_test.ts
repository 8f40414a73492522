import { assert } from "../_assert.ts";
import {
  ANCHOR_GENERATORS,
  BBOX_ASSIGNERS,
  BBOX_CODERS,
  BBOX_SAMPLERS,
  IOU_CALCULATORS,
} from "../../lib/core/mod.ts";

Deno.test("lib/core/mod.ts registers every core component under mmdetection's names", () => {
  assert.deepEqual(ANCHOR_GENERATORS.keys().sort(), [
    "AnchorGenerator",
    "LegacyAnchorGenerator",
    "SSDAnchorGenerator",
  ]);
  assert.deepEqual(BBOX_ASSIGNERS.keys(), ["MaxIoUAssigner"]);
  assert.deepEqual(BBOX_SAMPLERS.keys().sort(), ["PseudoSampler", "RandomSampler"]);
  assert.deepEqual(BBOX_CODERS.keys().sort(), ["DeltaXYWHBBoxCoder", "LegacyDeltaXYWHBBoxCoder"]);
  assert.deepEqual(IOU_CALCULATORS.keys(), ["BboxOverlaps2D"]);
  assert.throws(
    () => BBOX_CODERS.build({ type: "DeltaXYWHBoxCoder" }),
    /did you mean "DeltaXYWHBBoxCoder"/,
  );
});
