// GroupNorm forward in one dispatch: statistics of each row r = b·groups + g (the contiguous run
// of len = cg·hw values of group g in sample b, NCHW), then y = x̂·w[c] + b[c] with x̂ =
// (x − mean)·rstd and an optional ReLU; stats[2r] = mean, stats[2r + 1] = 1/√(var + eps) (biased
// variance, two passes over the row: no cancellation).
// SERIAL: one thread per row, adding up serially (no workgroup reduction: for the short rows of
//   a software adapter); otherwise one workgroup of WG threads per row with tree reductions.
// The apply loop walks channel by channel, so no per-element division.
override SERIAL: bool = true;
override WG: u32 = 64u;
override HAS_W: bool = false;
override HAS_B: bool = false;
override RELU: bool = false;

struct Params { rows: u32, len: u32, hw: u32, groups: u32, cg: u32, _p0: u32, _p1: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> red: array<f32, 256>;

fn tree_sum(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn apply(r: u32, mean: f32, rstd: f32, start: u32, step: u32) {
  let base = r * p.len;
  let g = r % p.groups;
  for (var ci = 0u; ci < p.cg; ci = ci + 1u) {
    let c = g * p.cg + ci;
    var w = 1.0;
    if (HAS_W) { w = weight[c]; }
    var b = 0.0;
    if (HAS_B) { b = bias[c]; }
    let off = base + ci * p.hw;
    for (var q = start; q < p.hw; q = q + step) {
      var v = fma((x[off + q] - mean) * rstd, w, b);
      if (RELU) { v = max(v, 0.0); }
      y[off + q] = v;
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let inv = 1.0 / f32(p.len);
  if (SERIAL) {
    let r = wg_index(wid, nwg) * WG + lid;
    if (r >= p.rows) { return; }
    let base = r * p.len;
    var s = 0.0;
    for (var e = 0u; e < p.len; e = e + 1u) { s = s + x[base + e]; }
    let mean = s * inv;
    var m2 = 0.0;
    for (var e = 0u; e < p.len; e = e + 1u) {
      let d = x[base + e] - mean;
      m2 = fma(d, d, m2);
    }
    let rstd = inverseSqrt(m2 * inv + p.eps);
    stats[2u * r] = mean;
    stats[2u * r + 1u] = rstd;
    apply(r, mean, rstd, 0u, 1u);
  } else {
    let r = wg_index(wid, nwg);
    let valid = r < p.rows;
    let base = r * p.len;
    var s = 0.0;
    if (valid) {
      for (var e = lid; e < p.len; e = e + WG) { s = s + x[base + e]; }
    }
    let mean = tree_sum(lid, s) * inv;
    var m2 = 0.0;
    if (valid) {
      for (var e = lid; e < p.len; e = e + WG) {
        let d = x[base + e] - mean;
        m2 = fma(d, d, m2);
      }
    }
    let rstd = inverseSqrt(tree_sum(lid, m2) * inv + p.eps);
    if (!valid) { return; }
    if (lid == 0u) {
      stats[2u * r] = mean;
      stats[2u * r + 1u] = rstd;
    }
    apply(r, mean, rstd, lid, WG);
  }
}
