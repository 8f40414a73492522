// GroupNorm backward per row r = b·groups + g (rows as in group_norm_forward.wgsl), one
// dispatch: with the (ReLU-masked when RELU: dy where y > 0, else 0) output gradient,
//   part[(b·C + c)·2] = Σ_hw dy, part[(b·C + c)·2 + 1] = Σ_hw dy·x̂ per channel c of the group
//   (kernels/group_norm_wsum.wgsl adds them over the batch: grad_b, grad_w), and, with NEED_DX,
//   dx = rstd·(dy·w[c] − sa/len − x̂·sb/len), sa = Σ dy·w[c] = Σ_c w[c]·part₀, sb = Σ_c w[c]·part₁.
// SERIAL: one thread per row; otherwise one workgroup of WG threads per row.
override SERIAL: bool = true;
override WG: u32 = 64u;
override HAS_W: bool = false;
override RELU: bool = false;
override NEED_DX: bool = true;

struct Params { rows: u32, len: u32, hw: u32, groups: u32, cg: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> part: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

var<workgroup> ra: array<f32, 256>;
var<workgroup> rb: array<f32, 256>;

fn grad_out(i: u32) -> f32 {
  if (RELU) { return select(0.0, dy[i], y[i] > 0.0); }
  return dy[i];
}

fn wt(c: u32) -> f32 {
  if (HAS_W) { return weight[c]; }
  return 1.0;
}

fn dx_pass(r: u32, sa: f32, sb: f32, start: u32, step: u32) {
  let base = r * p.len;
  let g = r % p.groups;
  let mean = stats[2u * r];
  let rstd = stats[2u * r + 1u];
  let inv = 1.0 / f32(p.len);
  for (var ci = 0u; ci < p.cg; ci = ci + 1u) {
    let w = wt(g * p.cg + ci);
    let off = base + ci * p.hw;
    for (var q = start; q < p.hw; q = q + step) {
      let xh = (x[off + q] - mean) * rstd;
      dx[off + q] = rstd * (grad_out(off + q) * w - sa * inv - xh * sb * inv);
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  if (SERIAL) {
    let r = wg_index(wid, nwg) * WG + lid;
    if (r >= p.rows) { return; }
    let base = r * p.len;
    let g = r % p.groups;
    let b = r / p.groups;
    let mean = stats[2u * r];
    let rstd = stats[2u * r + 1u];
    var sa = 0.0;
    var sb = 0.0;
    for (var ci = 0u; ci < p.cg; ci = ci + 1u) {
      let c = g * p.cg + ci;
      let off = base + ci * p.hw;
      var s0 = 0.0;
      var s1 = 0.0;
      for (var q = 0u; q < p.hw; q = q + 1u) {
        let d = grad_out(off + q);
        s0 = s0 + d;
        s1 = fma(d, (x[off + q] - mean) * rstd, s1);
      }
      let o = (b * p.groups * p.cg + c) * 2u;
      part[o] = s0;
      part[o + 1u] = s1;
      let w = wt(c);
      sa = fma(w, s0, sa);
      sb = fma(w, s1, sb);
    }
    if (NEED_DX) { dx_pass(r, sa, sb, 0u, 1u); }
  } else {
    let r = wg_index(wid, nwg);
    let valid = r < p.rows;
    let rr = min(r, p.rows - 1u);
    let base = rr * p.len;
    let g = rr % p.groups;
    let b = rr / p.groups;
    let mean = stats[2u * rr];
    let rstd = stats[2u * rr + 1u];
    var sa = 0.0;
    var sb = 0.0;
    for (var ci = 0u; ci < p.cg; ci = ci + 1u) {
      let c = g * p.cg + ci;
      let off = base + ci * p.hw;
      var s0 = 0.0;
      var s1 = 0.0;
      for (var q = lid; q < p.hw; q = q + WG) {
        let d = grad_out(off + q);
        s0 = s0 + d;
        s1 = fma(d, (x[off + q] - mean) * rstd, s1);
      }
      ra[lid] = s0;
      rb[lid] = s1;
      workgroupBarrier();
      for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
          ra[lid] = ra[lid] + ra[lid + s];
          rb[lid] = rb[lid] + rb[lid + s];
        }
        workgroupBarrier();
      }
      let t0 = ra[0];
      let t1 = rb[0];
      workgroupBarrier();
      if (valid && lid == 0u) {
        let o = (b * p.groups * p.cg + c) * 2u;
        part[o] = t0;
        part[o + 1u] = t1;
      }
      let w = wt(c);
      sa = fma(w, t0, sa);
      sb = fma(w, t1, sb);
    }
    if (NEED_DX && valid) { dx_pass(rr, sa, sb, lid, WG); }
  }
}
