// 2-D convolution as an implicit GEMM, NCHW activations and OIHW weights (PyTorch's layouts), per
// group g: C[M, N] = A[M, K] · B[K, N], no im2col buffer. MODE picks what A, B and C are:
//   0 forward          A = w [cout_g, cin_g·kh·kw]   B = x gathered (im2col)   C = y  [b, cout, oh, ow]
//   1 backward data    A = wᵀ per tap            B = dy gathered            C = dx [b, cin, h, w]
//   2 backward filter  A = dy [cout_g, b·oh·ow]  B = x gathered (im2colᵀ)   C = dw [cout, cin_g, kh, kw]
// Bindings: a, b are the GEMM operands (forward: w, x; backward data: w, dy; backward filter: dy,
// x). K may be split across workgroups (split-K): split s writes its partial sums to
// c[s·total + i] and kernels/conv2d_epilogue.wgsl adds them up; without splitting the epilogue
// (bias, per-channel scale/shift, ReLU) is applied here.
// Tiling: a BM×BN output tile per workgroup of WM×WN threads, TM×TN outputs per thread
// (interleaved: thread (tx, ty) owns rows ty + i·WM and columns tx + j·WN), K-slices of BK staged
// in workgroup memory. Requires (WM·WN) % BM == 0 and (WM·WN) % BN == 0.
override MODE: u32 = 0u;
override WM: u32 = 16u;
override WN: u32 = 16u;
override TM: u32 = 4u;
override TN: u32 = 4u;
override BK: u32 = 16u;
// Epilogue (forward without split-K only): bias, per-channel scale/shift, ReLU.
override BIAS: bool = false;
override AFFINE: bool = false;
override RELU: bool = false;
// 1×1 kernel, stride 1, no padding (forward): B is x itself, no gather arithmetic.
override POINTWISE: bool = false;

//#include _conv2d_gemm.wgsl

var<workgroup> As: array<f32, BK * WM * TM>; // [BK][BM]
var<workgroup> Bs: array<f32, BK * WN * TN>; // [BK][BN]

@compute @workgroup_size(WN, WM)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid3: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wg_index(wid, nwg);
  if (t >= p.tiles_n * p.tiles_m * p.groups * p.splits) { return; }
  let BM = WM * TM;
  let BN = WN * TN;
  let NT = WM * WN;
  let tn = t % p.tiles_n;
  let tm = (t / p.tiles_n) % p.tiles_m;
  let z = t / (p.tiles_n * p.tiles_m);
  let g = z / p.splits;
  let s = z - g * p.splits;
  let m0 = tm * BM;
  let n0 = tn * BN;
  let kbeg = s * p.ksplit;
  let kend = min(p.k, kbeg + p.ksplit);
  let tx = lid3.x;
  let ty = lid3.y;

  // This thread always loads the same A row and the same B column.
  let la_m = lid % BM;
  let la_k0 = lid / BM;
  let lb_n = lid % BN;
  let lb_k0 = lid / BN;
  let a_row = m0 + la_m;
  let a_ok = a_row < p.m;
  let col = col_info(g, n0 + lb_n);

  var acc: array<f32, 64>;
  for (var i = 0u; i < TM * TN; i = i + 1u) { acc[i] = 0.0; }

  for (var k0 = kbeg; k0 < kend; k0 = k0 + BK) {
    for (var kk = la_k0; kk < BK; kk = kk + NT / BM) {
      let k = k0 + kk;
      var v = 0.0;
      if (a_ok && k < kend) { v = load_a(g, a_row, k); }
      As[kk * BM + la_m] = v;
    }
    for (var kk = lb_k0; kk < BK; kk = kk + NT / BN) {
      let k = k0 + kk;
      var v = 0.0;
      if (col.ok && k < kend) { v = load_b(col, k); }
      Bs[kk * BN + lb_n] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk = kk + 1u) {
      var av: array<f32, 8>;
      var bv: array<f32, 8>;
      for (var i = 0u; i < TM; i = i + 1u) { av[i] = As[kk * BM + ty + i * WM]; }
      for (var j = 0u; j < TN; j = j + 1u) { bv[j] = Bs[kk * BN + tx + j * WN]; }
      for (var i = 0u; i < TM; i = i + 1u) {
        for (var j = 0u; j < TN; j = j + 1u) { acc[i * TN + j] = fma(av[i], bv[j], acc[i * TN + j]); }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < TM; i = i + 1u) {
    let m = m0 + ty + i * WM;
    if (m >= p.m) { continue; }
    for (var j = 0u; j < TN; j = j + 1u) {
      let n = n0 + tx + j * WN;
      if (n >= p.n) { continue; }
      let o = out_index(g, m, n);
      var v = acc[i * TN + j];
      if (p.splits > 1u) {
        c[s * p.total + o.x] = v;
        continue;
      }
      if (BIAS) { v = v + bias[o.y]; }
      if (AFFINE) { v = fma(v, scale[o.y], shift[o.y]); }
      if (RELU) { v = max(v, 0.0); }
      c[o.x] = v;
    }
  }
}
