// GroupNorm row statistics. Row r = b·groups + g is the contiguous run of len = cg·hw values of
// group g in sample b (NCHW); one workgroup per row.
// MODE 0 (forward): stats[2r] = mean, stats[2r + 1] = 1/√(var + eps) (biased variance, two-pass).
// MODE 1 (backward): sums[2r] = Σ dy·w[c], sums[2r + 1] = Σ dy·w[c]·x̂, x̂ = (x − mean)·rstd.
override MODE: u32 = 0u;
override HAS_W: bool = false;

struct Params { rows: u32, len: u32, hw: u32, groups: u32, cg: u32, eps: f32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> stats_in: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> part: array<f32, 256>;
var<workgroup> part2: array<f32, 256>;

fn reduce2(lid: u32) {
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      part[lid] = part[lid] + part[lid + s];
      part2[lid] = part2[lid] + part2[lid + s];
    }
    workgroupBarrier();
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let r = wg_index(wid, nwg);
  let valid = r < p.rows;
  let base = r * p.len;
  let inv = 1.0 / f32(p.len);
  if (MODE == 0u) {
    var acc = 0.0;
    if (valid) {
      for (var e = lid; e < p.len; e = e + 256u) { acc = acc + x[base + e]; }
    }
    part[lid] = acc;
    part2[lid] = 0.0;
    reduce2(lid);
    let mean = part[0] * inv;
    workgroupBarrier();
    var acc2 = 0.0;
    if (valid) {
      for (var e = lid; e < p.len; e = e + 256u) {
        let d = x[base + e] - mean;
        acc2 = fma(d, d, acc2);
      }
    }
    part[lid] = acc2;
    part2[lid] = 0.0;
    reduce2(lid);
    if (valid && lid == 0u) {
      out[2u * r] = mean;
      out[2u * r + 1u] = inverseSqrt(part[0] * inv + p.eps);
    }
    return;
  }
  var sa = 0.0;
  var sb = 0.0;
  if (valid) {
    let mean = stats_in[2u * r];
    let rstd = stats_in[2u * r + 1u];
    let g = r % p.groups;
    for (var e = lid; e < p.len; e = e + 256u) {
      var gw = dy[base + e];
      if (HAS_W) { gw = gw * weight[g * p.cg + e / p.hw]; }
      sa = sa + gw;
      sb = fma(gw, (x[base + e] - mean) * rstd, sb);
    }
  }
  part[lid] = sa;
  part2[lid] = sb;
  reduce2(lid);
  if (valid && lid == 0u) {
    out[2u * r] = part[0];
    out[2u * r + 1u] = part2[0];
  }
}
