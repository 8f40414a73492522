// The gradient of gather: dst[o, idx[i], r] += g[o, i, r] on f32. Repeated indices are summed
// with a compare-and-swap loop on the float's bits (WGSL has no float atomics), so the order of
// additions, and hence the last bits of the result, may vary between runs.
struct Params { outer: u32, nidx: u32, inner: u32, len: u32, n: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> dst: array<atomic<u32>>;
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
  if (j < 0 || u32(j) >= p.len) { return; }
  let at = (o * p.len + u32(j)) * p.inner + r;
  let v = g[t];
  var old = atomicLoad(&dst[at]);
  loop {
    let res = atomicCompareExchangeWeak(&dst[at], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (res.exchanged) { break; }
    old = res.old_value;
  }
}
