// Packs the A operand of the direct convolution kernels (kernels/conv2d_direct*.wgsl) into the
// windows they read as uniform buffers: window wi = gi·nchunks + ci holds rows m = gi·mg + mm
// (mm < mg) and columns k = ci·kchunk + kk (kk < kchunk) as dst[wi·wstride + kk·mg + mm], zero
// outside A. Each workgroup packs 16 (window, kk) rows, its threads striding over mm (no
// per-element division: integer division and workgroups are expensive on CPU adapters). A(m, k) by MODE (groups = 1):
//   0 forward          w[m, k]                       k = (ic, ky, kx)
//   1 backward data    w[oc, m, ky, kx]              k = (oc, ky, kx)
//   2 backward filter  dy[b, m, oy, ox]              k = (b, oy, ox): the output gradient transposed
override MODE: u32 = 0u;

struct Params {
  rows: u32, mg: u32, kchunk: u32, nchunks: u32,
  m: u32, k: u32, wstride: u32, khw: u32,
  cin: u32, cout: u32, ohw: u32, _p0: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row0 = wg_index(wid, nwg) * 16u;
  let row1 = min(p.rows, row0 + 16u);
  // decode the first row once; later rows step incrementally (k is continuous within a channel
  // group and restarts at 0 with the next group)
  let wi0 = row0 / p.kchunk;
  var kk = row0 - wi0 * p.kchunk;
  var gi = wi0 / p.nchunks;
  var ci = wi0 - gi * p.nchunks;
  var k = ci * p.kchunk + kk;
  var per = p.khw;
  var step = p.cin * p.khw;
  if (MODE == 2u) {
    per = p.ohw;
    step = p.cout * p.ohw;
  }
  var q = k / per;
  var rem = k - q * per;
  for (var row = row0; row < row1; row++) {
    // source offset of A(m, k) = base + m · mstep
    var base: u32;
    var mstep: u32;
    if (MODE == 0u) {
      base = k;
      mstep = p.k;
    } else {
      base = q * step + rem;
      mstep = per;
    }
    let o = (gi * p.nchunks + ci) * p.wstride + kk * p.mg;
    let m0 = gi * p.mg;
    for (var mm = lid; mm < p.mg; mm += 64u) {
      let m = m0 + mm;
      let ok = k < p.k && m < p.m;
      dst[o + mm] = select(0.0, src[select(0u, base + m * mstep, ok)], ok);
    }
    k += 1u;
    kk += 1u;
    rem += 1u;
    if (rem == per) {
      rem = 0u;
      q += 1u;
    }
    if (kk == p.kchunk) {
      kk = 0u;
      ci += 1u;
      if (ci == p.nchunks) {
        ci = 0u;
        gi += 1u;
        k = 0u;
        q = 0u;
        rem = 0u;
      }
    }
  }
}
