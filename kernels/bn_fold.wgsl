// A frozen (evaluation-mode) BatchNorm folded into per-channel scale and shift for a conv
// epilogue, one thread per output channel c:
//   s = γ / √(running_var + eps),  t = β − running_mean·s   (γ = 1, β = 0 without them)
// and, with NEED_WS, the conv weights scaled per output channel, ws[c, k] = w[c, k]·s[c] (k over
// the K = C_in/groups·kh·kw taps), which the input gradient uses.
override HAS_W: bool = true;
override HAS_B: bool = true;
override NEED_WS: bool = false;

struct Params { channels: u32, k: u32, eps: f32, _p0: u32 }

@group(0) @binding(0) var<storage, read> gamma: array<f32>;
@group(0) @binding(1) var<storage, read> beta: array<f32>;
@group(0) @binding(2) var<storage, read> running_mean: array<f32>;
@group(0) @binding(3) var<storage, read> running_var: array<f32>;
@group(0) @binding(4) var<storage, read> w: array<f32>;
@group(0) @binding(5) var<storage, read_write> scale: array<f32>;
@group(0) @binding(6) var<storage, read_write> shift: array<f32>;
@group(0) @binding(7) var<storage, read_write> ws: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x * 64u + lid;
  if (c >= p.channels) { return; }
  var g = 1.0;
  if (HAS_W) { g = gamma[c]; }
  var b = 0.0;
  if (HAS_B) { b = beta[c]; }
  let s = g / sqrt(running_var[c] + p.eps);
  scale[c] = s;
  shift[c] = b - running_mean[c] * s;
  if (NEED_WS) {
    for (var k = 0u; k < p.k; k = k + 1u) { ws[c * p.k + k] = w[c * p.k + k] * s; }
  }
}
