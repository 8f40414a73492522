// Gradients of a conv followed by a frozen BatchNorm folded into its epilogue,
// y = conv(x, w)·s + t with s = γ/√(var + eps), t = β − mean·s, from G = the filter gradient of
// the unscaled conv (backward filter of the masked output gradient gy) and gt[c] = Σ gy:
//   grad w[c, k] = s[c]·G[c, k]
//   grad s[c]    = Σ_k w[c, k]·G[c, k]          (= Σ gy·conv(x, w) over the channel)
//   grad γ[c]    = (grad s[c] − mean[c]·gt[c]) / √(var[c] + eps),   grad β = gt (no kernel).
// One workgroup per output channel c, WG threads over the K taps, then a tree reduction.
override WG: u32 = 64u;
override NEED_DW: bool = true;
override NEED_DG: bool = true;

struct Params { channels: u32, k: u32, eps: f32, _p0: u32 }

@group(0) @binding(0) var<storage, read> gw: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> gt: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read> running_var: array<f32>;
@group(0) @binding(6) var<storage, read_write> dw: array<f32>;
@group(0) @binding(7) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x;
  let s = scale[c];
  let base = c * p.k;
  var acc = 0.0;
  for (var k = lid; k < p.k; k = k + WG) {
    let g = gw[base + k];
    if (NEED_DW) { dw[base + k] = g * s; }
    if (NEED_DG) { acc = fma(w[base + k], g, acc); }
  }
  if (!NEED_DG) { return; }
  red[lid] = acc;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h = h >> 1u) {
    if (lid < h) { red[lid] = red[lid] + red[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    dgamma[c] = (red[0] - running_mean[c] * gt[c]) / sqrt(running_var[c] + p.eps);
  }
}
