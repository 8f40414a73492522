// Batched C[b] = A[b] · B[b] on f32 with arbitrary element strides, so transposed and
// broadcast operands need no copy. A[b][m][k] = a[b*sab + m*sam + k*sak],
// B[b][k][n] = bm[b*sbb + k*sbk + n*sbn], C is contiguous [batch, M, N].
// 64×64 output tile per workgroup, 16×16 threads, 4×4 outputs per thread, K-slice 16.
struct Params {
  m: u32, n: u32, k: u32, batch: u32,
  sab: u32, sam: u32, sak: u32, sbb: u32,
  sbk: u32, sbn: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> bm: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> As: array<f32, 1024>; // [16 k][64 m]
var<workgroup> Bs: array<f32, 1024>; // [16 k][64 n]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let tx = lid3.x;
  let ty = lid3.y;
  let lid = ty * 16u + tx;
  let b = wid.z;
  let m0 = wid.y * 64u;
  let n0 = wid.x * 64u;
  let abase = b * p.sab;
  let bbase = b * p.sbb;
  var acc: array<array<f32, 4>, 4>;
  for (var i = 0u; i < 4u; i = i + 1u) {
    for (var j = 0u; j < 4u; j = j + 1u) { acc[i][j] = 0.0; }
  }
  for (var k0 = 0u; k0 < p.k; k0 = k0 + 16u) {
    // 1024 elements of each tile, 4 per thread.
    for (var r = 0u; r < 4u; r = r + 1u) {
      let e = lid + r * 256u;
      let kk = e / 64u;
      let mm = e % 64u;
      let gk = k0 + kk;
      let gm = m0 + mm;
      var va = 0.0;
      if (gk < p.k && gm < p.m) { va = a[abase + gm * p.sam + gk * p.sak]; }
      As[e] = va;
      let gn = n0 + mm;
      var vb = 0.0;
      if (gk < p.k && gn < p.n) { vb = bm[bbase + gk * p.sbk + gn * p.sbn]; }
      Bs[e] = vb;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk = kk + 1u) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i = i + 1u) {
        av[i] = As[kk * 64u + ty * 4u + i];
        bv[i] = Bs[kk * 64u + tx * 4u + i];
      }
      for (var i = 0u; i < 4u; i = i + 1u) {
        for (var j = 0u; j < 4u; j = j + 1u) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  let cbase = b * p.m * p.n;
  for (var i = 0u; i < 4u; i = i + 1u) {
    let gm = m0 + ty * 4u + i;
    if (gm >= p.m) { continue; }
    for (var j = 0u; j < 4u; j = j + 1u) {
      let gn = n0 + tx * 4u + j;
      if (gn < p.n) { c[cbase + gm * p.n + gn] = acc[i][j]; }
    }
  }
}
