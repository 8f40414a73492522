// The detections of each image after NMS: the first min(max_num, kept) kept candidates in
// (score descending, order key ascending) order (perm from sort_rank.wgsl over the kept list):
// dets[n, r] = (x1, y1, x2, y2, score), labels[n, r], inds[n, r] = order key, count[n].
struct Params { N: u32, max_num: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> cand_box: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> cand_score: array<f32>;
@group(0) @binding(2) var<storage, read> cand_label: array<i32>;
@group(0) @binding(3) var<storage, read> cand_key: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read> kept: array<u32>;
@group(0) @binding(5) var<storage, read> perm: array<u32>;
@group(0) @binding(6) var<storage, read> img_start: array<u32>;
@group(0) @binding(7) var<storage, read> kept_count: array<u32>;
@group(0) @binding(8) var<storage, read_write> dets: array<f32>;
@group(0) @binding(9) var<storage, read_write> out_idx: array<i32>;
@group(0) @binding(10) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let t = wg_index(wid, nwg) * 256u + lid;
  if (t >= p.N * p.max_num) { return; }
  let n = t / p.max_num;
  let r = t % p.max_num;
  let cnt = min(kept_count[n], p.max_num);
  // out_idx: [N, max_num, 2] (label, order key) then [N] counts at the end
  if (r == 0u) { out_idx[2u * p.N * p.max_num + n] = i32(cnt); }
  if (r >= cnt) { return; }
  let e = kept[perm[img_start[n] + r]];
  let b = cand_box[e];
  dets[5u * t] = b.x;
  dets[5u * t + 1u] = b.y;
  dets[5u * t + 2u] = b.z;
  dets[5u * t + 3u] = b.w;
  dets[5u * t + 4u] = cand_score[e];
  out_idx[2u * t] = cand_label[e];
  out_idx[2u * t + 1u] = i32(cand_key[e].y);
}
