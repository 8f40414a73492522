// Per-channel partial sums over an NCHW tensor, one workgroup per (channel, chunk of the n·hw
// elements of that channel); partial[c·nchunks + chunk]. The TS side adds up the chunks.
// MODE 0: Σ x                          (BatchNorm mean, bias gradients)
// MODE 1: Σ (x − sum[c]·inv_count)²    (BatchNorm variance about the mean, two-pass)
// MODE 2: Σ x·(y − sum[c]·inv_count)   (BatchNorm backward; Σ x·y when CENTER is false)
override MODE: u32 = 0u;
override CENTER: bool = true;

struct Params { n: u32, channels: u32, hw: u32, chunk: u32, nchunks: u32, inv_count: f32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> sum: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wg_index(wid, nwg);
  let valid = g < p.channels * p.nchunks;
  let ch = g / max(p.nchunks, 1u);
  let chunk = g - ch * p.nchunks;
  var acc = 0.0;
  if (valid) {
    var mean = 0.0;
    if (MODE == 1u || (MODE == 2u && CENTER)) { mean = sum[ch] * p.inv_count; }
    let len = p.n * p.hw;
    let start = chunk * p.chunk;
    let end = min(len, start + p.chunk);
    for (var e = start + lid; e < end; e = e + 256u) {
      let bi = e / p.hw;
      let idx = (bi * p.channels + ch) * p.hw + (e - bi * p.hw);
      let v = x[idx];
      if (MODE == 0u) {
        acc = acc + v;
      } else if (MODE == 1u) {
        let d = v - mean;
        acc = fma(d, d, acc);
      } else {
        acc = fma(v, y[idx] - mean, acc);
      }
    }
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) { part[lid] = part[lid] + part[lid + s]; }
    workgroupBarrier();
  }
  if (valid && lid == 0u) { partial[g] = part[0]; }
}
