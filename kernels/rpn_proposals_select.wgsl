// Greedy NMS sweep of the RPN proposals (mmdetection v2.25 RPNHead._bbox_post_process), the last
// step of lib/ops/proposals.ts after rpn_proposals.wgsl (PASS 0/1), sortRank and nms_mask.wgsl: one
// workgroup per image walks its valid candidates in sorted order (suppression bitmask), writes the
// first max_num kept to proposals [N, M, 5] rows (x1, y1, x2, y2, score), valid [N, M] (1 / 0) and
// counts [N]; padding rows 0. A kernel of its own so that no pipeline binds more than 8 storage
// buffers (SwiftShader allows 10 per stage; one module for all passes bound 12).

struct Params {
  N: u32, K: u32, num_levels: u32, max_num: u32,
  min_size: f32, use_min_size: u32, words: u32, _p0: u32,
}

@group(0) @binding(0) var<storage, read> boxes: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read> perm: array<u32>;
// per image: valid count, ordered max-coordinate bits (rpn_proposals.wgsl PASS 0)
@group(0) @binding(4) var<storage, read> stats: array<u32>;
@group(0) @binding(5) var<storage, read_write> proposals: array<f32>;
@group(0) @binding(6) var<storage, read_write> valid: array<f32>;
@group(0) @binding(7) var<storage, read_write> counts: array<u32>;
@group(0) @binding(8) var<uniform> p: Params;

var<workgroup> removed: array<u32, 2048>;
var<workgroup> kept_n: u32;
var<workgroup> n_valid: u32;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let n = wg_index(wid, nwg);
  if (n >= p.N) { return; }
  if (lid == 0u) {
    kept_n = 0u;
    n_valid = stats[2u * n];
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
