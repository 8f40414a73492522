// GroupNorm elementwise passes over NCHW, one thread per element; row r = i / len (b·groups + g),
// channel c = (i / hw) % channels, x̂ = (x − mean_r)·rstd_r with stats from group_norm_stats.wgsl.
// MODE 0 (forward):  out = x̂·w[c] + b[c]
// MODE 1 (backward): out = dx = rstd_r·(dy·w[c] − sums[2r]/len − x̂·sums[2r + 1]/len)
// MODE 2 (backward): out = dy·x̂ (summed per channel by the TS side for the weight gradient)
override MODE: u32 = 0u;
override HAS_W: bool = false;
override HAS_B: bool = false;

struct Params { total: u32, len: u32, hw: u32, channels: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> sums: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wg_index(wid, nwg) * 256u + lid;
  if (i >= p.total) { return; }
  let r = i / p.len;
  let c = (i / p.hw) % p.channels;
  let rstd = stats[2u * r + 1u];
  let xh = (x[i] - stats[2u * r]) * rstd;
  var w = 1.0;
  if (HAS_W) { w = weight[c]; }
  if (MODE == 0u) {
    var b = 0.0;
    if (HAS_B) { b = bias[c]; }
    out[i] = fma(xh, w, b);
  } else if (MODE == 1u) {
    let inv = 1.0 / f32(p.len);
    out[i] = rstd * (dy[i] * w - sums[2u * r] * inv - xh * sums[2u * r + 1u] * inv);
  } else {
    out[i] = dy[i] * xh;
  }
}
