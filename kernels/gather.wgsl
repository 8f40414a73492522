// Index select along one axis of a [outer, len, inner] tensor (any 4-byte dtype):
// out[o, i, r] = src[o, idx[i], r]. Indices outside [0, len) give 0.
struct Params { outer: u32, nidx: u32, inner: u32, len: u32, n: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let t = wg_index(wid, nwg) * 256u + lid;
  if (t >= p.n) { return; }
  let r = t % p.inner;
  let i = (t / p.inner) % p.nidx;
  let o = t / (p.inner * p.nidx);
  let j = idx[i];
  var v = 0u;
  if (j >= 0 && u32(j) < p.len) { v = src[(o * p.len + u32(j)) * p.inner + r]; }
  dst[t] = v;
}
