// RPN proposals without readback (mmdetection v2.25 RPNHead._bbox_post_process), for every image of
// a batch with a fixed capacity: candidates [N, K] are the per-level top nms_pre decoded boxes
// (anchor_head_inference), levels concatenated.
//   PASS 0: per candidate: valid = w > min_bbox_size && h > min_bbox_size (when min_bbox_size >= 0);
//           level id (batched_nms idxs), sort key (desc(score), k) for valid candidates, (~0, k)
//           otherwise so that they sort last; per image the valid count and the max coordinate of
//           the valid boxes (mmcv's batched_nms offset base)
//   PASS 1: per image: segmax as f32 for nms_mask.wgsl (offset trick: level * (max + 1))
//   PASS 2: one workgroup per image: greedy NMS sweep over its valid candidates in sorted order
//           (bitmask from nms_mask.wgsl), the first max_num kept written to proposals [N, M, 5]
//           rows (x1, y1, x2, y2, score), valid [N, M] (1 / 0) and counts [N]; padding rows 0.
override PASS: u32 = 0u;

struct Params {
  N: u32, K: u32, num_levels: u32, max_num: u32,
  min_size: f32, use_min_size: u32, words: u32, _p0: u32,
}

@group(0) @binding(0) var<storage, read> boxes: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
// level_starts[l]: first candidate of level l within an image (l < num_levels)
@group(0) @binding(2) var<storage, read> level_starts: array<u32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read> perm: array<u32>;
@group(0) @binding(5) var<storage, read_write> labels: array<i32>;
@group(0) @binding(6) var<storage, read_write> keys: array<vec2<u32>>;
// per image: valid count, ordered max-coordinate bits
@group(0) @binding(7) var<storage, read_write> stats: array<atomic<u32>>;
@group(0) @binding(8) var<storage, read_write> segmax: array<f32>;
@group(0) @binding(9) var<storage, read_write> proposals: array<f32>;
@group(0) @binding(10) var<storage, read_write> valid: array<f32>;
@group(0) @binding(11) var<storage, read_write> counts: array<u32>;
@group(0) @binding(12) var<uniform> p: Params;

var<workgroup> removed: array<u32, 2048>;
var<workgroup> kept_n: u32;
var<workgroup> n_valid: u32;

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
    // no early return on a per-thread condition: the uniformity analysis would then forbid the
    // workgroupUniformLoad calls of PASS 2 (the same function body)
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
  // PASS 2
  let n = w;
  if (n >= p.N) { return; }
  if (lid == 0u) {
    kept_n = 0u;
    n_valid = atomicLoad(&stats[2u * n]);
  }
  let len = workgroupUniformLoad(&n_valid);
  for (var i = 0u; i < p.K; i++) {
    let done = workgroupUniformLoad(&kept_n) >= p.max_num;
    if (i >= len || done) { break; }
    let word = workgroupUniformLoad(&removed[i / 32u]);
    if (((word >> (i % 32u)) & 1u) == 0u) {
      if (lid == 0u) {
        let e = perm[n * p.K + i];
        let b = boxes[e];
        let r = (n * p.max_num + kept_n) * 5u;
        proposals[r] = b.x;
        proposals[r + 1u] = b.y;
        proposals[r + 2u] = b.z;
        proposals[r + 3u] = b.w;
        proposals[r + 4u] = scores[e];
        valid[n * p.max_num + kept_n] = 1.0;
        kept_n += 1u;
      }
      let row = n * p.K * p.words + i * p.words;
      for (var q = i / 32u + lid; q < p.words; q += 256u) { removed[q] |= mask[row + q]; }
    }
  }
  workgroupBarrier();
  let kn = workgroupUniformLoad(&kept_n);
  for (var r = kn + lid; r < p.max_num; r += 256u) {
    for (var c = 0u; c < 5u; c++) { proposals[(n * p.max_num + r) * 5u + c] = 0.0; }
    valid[n * p.max_num + r] = 0.0;
  }
  if (lid == 0u) { counts[n] = kn; }
}
