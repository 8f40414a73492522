/** `deno task profile`'s kernel families: every kernel the tiny models dispatch gets its family. */
import { assert } from "../_assert.ts";
import { kernelFamily } from "../../bench/profile.ts";

Deno.test("profile families: vec4 ReLU gradient, frozen-BN fold, RoIAlign and NMS have their own rows", () => {
  assert.equal(kernelFamily("binary_vec4", { OP: 11 }), "relu gradient");
  assert.equal(kernelFamily("binary", { OP: 11 }), "relu gradient");
  assert.equal(kernelFamily("binary_vec4", { OP: 0 }), "elementwise");
  assert.equal(kernelFamily("bn_fold", {}), "batch norm");
  assert.equal(kernelFamily("bn_fold_backward", {}), "batch norm");
  assert.equal(kernelFamily("roi_align_backward", {}), "RoIAlign");
  assert.equal(kernelFamily("nms_mask", {}), "NMS / sort");
  assert.equal(kernelFamily("sort_rank", {}), "NMS / sort");
  assert.equal(kernelFamily("conv2d_direct_backward_filter_8x8", {}), "conv backward-filter");
  assert.equal(kernelFamily("conv2d_tiled_64", { MODE: 1 }), "conv backward-data");
  assert.equal(kernelFamily("sum_multi_3x12", { PER: 16 }), "elementwise");
  assert.equal(kernelFamily("sum_multi_mask_2x1", { PER: 16 }), "relu gradient");
  assert.equal(kernelFamily("split_rows", { PER: 16 }), "copy / gather");
});
