// RPN proposals without readback (mmdetection v2.25 RPNHead._bbox_post_process), for every image of
// a batch with a fixed capacity: candidates [N, K] are the per-level top nms_pre decoded boxes
// (anchor_head_inference), levels concatenated.
//   PASS 0: per candidate: valid = w > min_bbox_size && h > min_bbox_size (when min_bbox_size >= 0);
//           level id (batched_nms idxs), sort key (desc(score), k) for valid candidates, (~0, k)
//           otherwise so that they sort last; per image the valid count and the max coordinate of
//           the valid boxes (mmcv's batched_nms offset base)
//   PASS 1: per image: segmax as f32 for nms_mask.wgsl (offset trick: level * (max + 1))
// then (lib/ops/proposals.ts) sortRank, nms_mask.wgsl and rpn_proposals_select.wgsl (the greedy
// sweep writing the proposals).
override PASS: u32 = 0u;

struct Params {
  N: u32, K: u32, num_levels: u32, max_num: u32,
  min_size: f32, use_min_size: u32, words: u32, _p0: u32,
}

@group(0) @binding(0) var<storage, read> boxes: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
// level_starts[l]: first candidate of level l within an image (l < num_levels)
@group(0) @binding(2) var<storage, read> level_starts: array<u32>;
@group(0) @binding(3) var<storage, read_write> labels: array<i32>;
@group(0) @binding(4) var<storage, read_write> keys: array<vec2<u32>>;
// per image: valid count, ordered max-coordinate bits
@group(0) @binding(5) var<storage, read_write> stats: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read_write> segmax: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

//#include _sort_key.wgsl

// order-preserving map of f32 to u32 (and back)
fn ord_bits(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
fn from_ord(o: u32) -> f32 {
  return bitcast<f32>(select(~o, o & 0x7fffffffu, (o & 0x80000000u) != 0u));
}

fn pass0(t: u32) {
  let n = t / p.K;
  let k = t % p.K;
  var l = 0u;
  for (var q = 1u; q < p.num_levels; q++) {
    if (k >= level_starts[q]) { l = q; }
  }
  labels[t] = i32(l);
  let b = boxes[t];
  var ok = scores[t] == scores[t];
  if (p.use_min_size != 0u) { ok = ok && (b.z - b.x) > p.min_size && (b.w - b.y) > p.min_size; }
  if (ok) {
    keys[t] = vec2<u32>(desc_key(scores[t]), k);
    atomicAdd(&stats[2u * n], 1u);
    atomicMax(&stats[2u * n + 1u], ord_bits(max(max(b.x, b.y), max(b.z, b.w))));
  } else {
    keys[t] = vec2<u32>(0xffffffffu, k);
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let w = wg_index(wid, nwg);
  if (PASS == 0u) {
    let t = w * 256u + lid;
    if (t < p.N * p.K) { pass0(t); }
    return;
  }
  if (PASS == 1u) {
    let n = w * 256u + lid;
    if (n < p.N) {
      let o = atomicLoad(&stats[2u * n + 1u]);
      segmax[n] = select(0.0, from_ord(o), atomicLoad(&stats[2u * n]) > 0u);
    }
    return;
  }
}
