// Per-channel epilogue over an NCHW-like tensor, also the split-K reduction of
// kernels/conv2d.wgsl: out[i] = act((Σ_s src[s·total + i] + bias[c]) · scale[c] + shift[c]) with
// channel c = (i / inner) % channels (each factor only when its override is on). One thread per
// output element.
// Used for: split-K sums (SPLITS > 1 or the filter gradient), a frozen BatchNorm / affine channel
// (SCALE, SHIFT, RELU), and BatchNorm's normalisation with precomputed scale and shift.
override BIAS: bool = false;
override SCALE: bool = false;
override SHIFT: bool = false;
override RELU: bool = false;

struct Params { total: u32, splits: u32, inner: u32, channels: u32 }

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> shift: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wg_index(wid, nwg) * 256u + lid;
  if (i >= p.total) { return; }
  var v = 0.0;
  for (var s = 0u; s < p.splits; s = s + 1u) { v = v + src[s * p.total + i]; }
  let ch = (i / p.inner) % p.channels;
  if (BIAS) { v = v + bias[ch]; }
  if (SCALE) { v = v * scale[ch]; }
  if (SHIFT) { v = v + shift[ch]; }
  if (RELU) { v = max(v, 0.0); }
  out[i] = v;
}
