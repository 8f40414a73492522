// BatchNorm's input gradient as a per-channel combination: dx = a[c]·dy + b[c]·x + d[c], with the
// coefficient rows [a, b, d] from kernels/batch_norm_finalize.wgsl (MODE 2). One thread per
// element of the NCHW tensor; channel c = (i / inner) % channels.
struct Params { total: u32, inner: u32, channels: u32, _p0: u32 }

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> coef: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wg_index(wid, nwg) * 256u + lid;
  if (i >= p.total) { return; }
  let C = p.channels;
  let ch = (i / p.inner) % C;
  dx[i] = coef[ch] * dy[i] + coef[C + ch] * x[i] + coef[2u * C + ch];
}
