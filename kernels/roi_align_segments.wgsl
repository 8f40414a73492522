// The RoIs of each image for kernels/roi_align_backward.wgsl: one thread per image n lists, in
// ascending order, the RoIs r of rois [K, 5] whose batch index is n (and, with p.level >= 0, that
// map_roi_levels sends to that level): list[n * K + j] = r for j < counts[n]. The backward then
// loops over its image's RoIs only instead of all K.
struct Params {
  k: u32, c: u32, h: u32, w: u32,
  oh: u32, ow: u32, n: u32, sampling: i32,
  aligned: u32, scale: f32, level: i32, num_levels: u32,
  finest: f32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> rois: array<f32>;
@group(0) @binding(1) var<storage, read_write> list: array<u32>;
@group(0) @binding(2) var<storage, read_write> counts: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

//#include _roi_level.wgsl

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  if (n >= p.n) { return; }
  var j = 0u;
  for (var r = 0u; r < p.k; r = r + 1u) {
    if (i32(rois[r * 5u]) != i32(n)) { continue; }
    if (p.level >= 0 && roi_level(r) != p.level) { continue; }
    list[n * p.k + j] = r;
    j = j + 1u;
  }
  counts[n] = j;
}
