// GroupNorm parameter gradients: grad_b[c] = Σ_b part[(b·C + c)·2], grad_w[c] = Σ_b
// part[(b·C + c)·2 + 1] with the per-sample channel sums of group_norm_backward.wgsl; one thread
// per channel, serial over the batch.
override NEED_DW: bool = true;
override NEED_DB: bool = true;

struct Params { n: u32, channels: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> dw: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let c = wg_index(wid, nwg) * 64u + lid;
  if (c >= p.channels) { return; }
  var s0 = 0.0;
  var s1 = 0.0;
  for (var b = 0u; b < p.n; b = b + 1u) {
    let o = (b * p.channels + c) * 2u;
    s0 = s0 + part[o];
    s1 = s1 + part[o + 1u];
  }
  if (NEED_DB) { db[c] = s0; }
  if (NEED_DW) { dw[c] = s1; }
}
