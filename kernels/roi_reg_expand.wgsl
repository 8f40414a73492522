// Class-specific box regression targets of a RoI head: spreads each RoI's [4] target and weight
// into the [4 * C] slots of its label (zeros elsewhere, all zeros for background), so an L1 loss
// over the whole [R, 4C] prediction equals mmdetection's loss on the rows picked by label.
struct Params { rows: u32, classes: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> labels: array<i32>;
@group(0) @binding(1) var<storage, read> targets: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> out_t: array<f32>;
@group(0) @binding(4) var<storage, read_write> out_w: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wg_index(wid, nwg) * 256u + lid;
  let w4 = 4u * p.classes;
  if (i >= p.rows * w4) { return; }
  let r = i / w4;
  let j = i - r * w4;
  let c = i32(j / 4u);
  let k = r * 4u + (j & 3u);
  if (labels[r] == c) {
    out_t[i] = targets[k];
    out_w[i] = weights[k];
  } else {
    out_t[i] = 0.0;
    out_w[i] = 0.0;
  }
}
