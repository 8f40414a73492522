/**
 * RPN proposal post-processing on the GPU with a fixed capacity and no readback (mmdetection v2.25
 * `RPNHead._bbox_post_process`): from the decoded per-level top-`nms_pre` candidates, drop boxes
 * not wider and taller than `min_bbox_size`, run mmcv's `batched_nms` with the level as the class
 * (coordinate-offset trick, offset base the largest coordinate of the kept boxes), keep the first
 * `max_per_img`. Output rows are padded to `max_per_img` with a valid mask and a count.
 *
 * @module
 */
import propSrc from "../../kernels/rpn_proposals.wgsl" with { type: "text" };
import selectSrc from "../../kernels/rpn_proposals_select.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor } from "../gpu/raw_tensor.ts";
import { MAX_SEGMENT, NMS_MASK } from "./nms.ts";
import { sortRank } from "./topk.ts";

/** `kernels/rpn_proposals.wgsl`. */
export const RPN_PROPOSALS: KernelSpec = {
  name: "rpn_proposals",
  source: propSrc,
  params: "uuuufuuu",
};

/** `kernels/rpn_proposals_select.wgsl`: the greedy sweep that writes the proposals. */
export const RPN_PROPOSALS_SELECT: KernelSpec = {
  name: "rpn_proposals_select",
  source: selectSrc,
  params: "uuuufuuu",
};

/** Settings of {@linkcode rpnProposals} (mmdetection's `test_cfg` / `rpn_proposal` keys). */
export interface RpnProposalOptions {
  /** First candidate of each level within an image's K candidates. */
  levelStarts: readonly number[];
  /** `nms.iou_threshold`. */
  iouThreshold: number;
  /** `min_bbox_size`: boxes need width and height `>` it; `< 0` keeps all. */
  minBboxSize: number;
  /** `max_per_img`: rows of the output. */
  maxPerImg: number;
}

/** Proposals of a batch, padded to `M = max_per_img` rows per image. */
export interface RpnProposalsRaw {
  /** `[N, M, 5]` f32 rows `(x1, y1, x2, y2, score)`, best first; zero rows after `counts[n]`. */
  proposals: RawTensor;
  /** `[N, M]` f32: 1 for real rows, 0 for padding. */
  valid: RawTensor;
  /** `[N]` u32: real rows per image. */
  counts: RawTensor;
}

/**
 * Proposals of every image from candidates `boxes` `[N, K, 4]` (decoded, clipped) and `scores`
 * `[N, K]` (or `[N, K, 1]`), no readback.
 */
export function rpnProposals(
  boxes: RawTensor,
  scores: RawTensor,
  o: RpnProposalOptions,
): RpnProposalsRaw {
  const [N, K] = boxes.shape;
  if (boxes.shape.length !== 3 || boxes.shape[2] !== 4 || scores.size !== N * K) {
    throw new TypeError(
      `Cannot make proposals: boxes ${fmtShape(boxes.shape)} and scores ${
        fmtShape(scores.shape)
      } must be [N, K, 4] and [N, K]`,
    );
  }
  if (K > MAX_SEGMENT) {
    throw new RangeError(
      `Cannot make proposals: ${K} candidates per image exceed ${MAX_SEGMENT}: lower nms_pre`,
    );
  }
  const gpu = getGpu();
  const M = Math.max(1, o.maxPerImg);
  const out: RpnProposalsRaw = {
    proposals: gpu.empty([N, M, 5], "f32", "proposals"),
    valid: gpu.empty([N, M], "f32", "proposal_valid"),
    counts: gpu.empty([N], "u32", "proposal_counts"),
  };
  const words = Math.ceil(K / 32);
  const starts = new Uint32Array(Math.max(4, o.levelStarts.length));
  starts.set(o.levelStarts);
  const lv = gpu.upload(starts, [starts.length], "u32", "proposal_levels");
  const labels = gpu.empty([N * K], "i32", "proposal_labels");
  const keys = gpu.empty([N * K, 2], "u32", "proposal_keys");
  const stats = gpu.zeros([N * 2], "u32", "proposal_stats");
  const segmax = gpu.empty([N], "f32", "proposal_segmax");
  const params = [
    N,
    K,
    o.levelStarts.length,
    M,
    o.minBboxSize,
    o.minBboxSize >= 0 ? 1 : 0,
    words,
    0,
  ];
  const bindings = [boxes, scores, lv, labels, keys, stats, segmax];
  gpu.dispatch(RPN_PROPOSALS, {
    bindings,
    params,
    overrides: { PASS: 0 },
    workgroups: Math.ceil((N * K) / 256),
  });
  gpu.dispatch(RPN_PROPOSALS, {
    bindings,
    params,
    overrides: { PASS: 1 },
    workgroups: Math.ceil(N / 256),
  });
  const perm = sortRank(
    keys,
    Array.from({ length: N }, (_, n) => ({ start: n * K, len: K })),
    N * K,
  );
  // suppression bitmask per image (offset trick: use_offset bit), as batched_nms
  const segs = new Uint32Array(Math.max(4, N * 4));
  const tiles: number[] = [];
  for (let n = 0; n < N; n++) {
    segs.set([n * K, K, n * K * words, n | 0x80000000], n * 4);
    for (let r = 0; r < K; r += 256) tiles.push(n, r);
  }
  const segT = gpu.upload(segs, [segs.length], "u32", "proposal_segs");
  const tileArr = new Uint32Array(Math.max(4, tiles.length));
  tileArr.set(tiles);
  const tileT = gpu.upload(tileArr, [tileArr.length], "u32", "proposal_tiles");
  const mask = gpu.empty([Math.max(1, N * K * words)], "u32", "proposal_mask");
  const thr32 = Math.fround(o.iouThreshold);
  const flatBoxes = gpu.view(boxes, [N * K, 4]);
  if (tiles.length > 0) {
    gpu.dispatch(NMS_MASK, {
      bindings: [flatBoxes, labels, perm, segT, tileT, segmax, mask],
      params: [tiles.length / 2, N, thr32, 0, 1, thr32 > o.iouThreshold ? 1 : 0, 0, 0],
      overrides: { PASS: 1 },
      workgroups: tiles.length / 2,
    });
  }
  gpu.dispatch(RPN_PROPOSALS_SELECT, {
    bindings: [boxes, scores, mask, perm, stats, out.proposals, out.valid, out.counts],
    params,
    workgroups: N,
  });
  for (const t of [lv, labels, keys, stats, segmax, perm, segT, tileT, mask, flatBoxes]) {
    t.release();
  }
  return out;
}
