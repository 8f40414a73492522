// Candidates of class-wise NMS (mmdetection's multiclass_nms / batched_nms input), from per-image
// rows: boxes [N, K, 4] and scores [N, K, S]; with S > 1 every (row k, class s) pair is a candidate
// labelled s (mmdetection <= 2.17), with S = 1 row k is one candidate labelled labels[n, k].
// A candidate needs score > score_thr (strict). Its order key is k * S + s (the position in
// mmdetection's flattened pair list), which breaks score ties (lower first).
//   PASS 0: counts[n * (C + 1) + label] and counts[n * (C + 1) + C] (all labels)
//   PASS 1: scatter into its NMS segment segmap[n * C + label] at start + atomic cursor:
//           box, score, label, key = (desc(score), order), order
override PASS: u32 = 0u;

struct Params { N: u32, K: u32, S: u32, C: u32, score_thr: f32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> boxes: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read> segmap: array<u32>;
// per segment: start, capacity, mask offset, image | use_offset << 31
@group(0) @binding(4) var<storage, read> segs: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read_write> cand_box: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> cand_score: array<f32>;
@group(0) @binding(8) var<storage, read_write> cand_label: array<i32>;
@group(0) @binding(9) var<storage, read_write> cand_key: array<vec2<u32>>;
@group(0) @binding(10) var<uniform> p: Params;

//#include _sort_key.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let t = wg_index(wid, nwg) * 256u + lid;
  if (t >= p.N * p.K * p.S) { return; }
  let s = t % p.S;
  let k = (t / p.S) % p.K;
  let n = t / (p.S * p.K);
  let sc = scores[t];
  if (!(sc > p.score_thr)) { return; }
  var label = s;
  if (p.S == 1u) { label = u32(labels[n * p.K + k]); }
  if (label >= p.C) { return; }
  if (PASS == 0u) {
    atomicAdd(&counts[n * (p.C + 1u) + label], 1u);
    atomicAdd(&counts[n * (p.C + 1u) + p.C], 1u);
    return;
  }
  let g = segmap[n * p.C + label];
  let seg = segs[g];
  // the cursors of PASS 1 reuse `counts` (cleared in between), one per segment
  let pos = seg.x + atomicAdd(&counts[g], 1u);
  cand_box[pos] = boxes[n * p.K + k];
  cand_score[pos] = sc;
  cand_label[pos] = i32(label);
  cand_key[pos] = vec2<u32>(desc_key(sc), k * p.S + s);
}
