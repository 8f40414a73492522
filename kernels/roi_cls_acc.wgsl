// mmdetection's accuracy(cls_score, labels) (top-1) per RoI row: 1 when the first maximum of the
// row is at its label and the row is a sampled RoI (label weight > 0), else 0.
struct Params { rows: u32, cols: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> score: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> hit: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let r = wg_index(wid, nwg) * 256u + lid;
  if (r >= p.rows) { return; }
  var best = 0u;
  var bv = score[r * p.cols];
  for (var c = 1u; c < p.cols; c = c + 1u) {
    let v = score[r * p.cols + c];
    if (v > bv) { bv = v; best = c; }
  }
  hit[r] = select(0.0, 1.0, weights[r] > 0.0 && i32(best) == labels[r]);
}
