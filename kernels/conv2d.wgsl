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

struct Params {
  batch: u32, cin: u32, h: u32, w: u32,
  cout: u32, oh: u32, ow: u32, kh: u32,
  kw: u32, sh: u32, sw: u32, ph: u32,
  pw: u32, dh: u32, dw: u32, groups: u32,
  cin_g: u32, cout_g: u32, m: u32, n: u32,
  k: u32, ksplit: u32, splits: u32, tiles_n: u32,
  tiles_m: u32, total: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> shift: array<f32>;
@group(0) @binding(5) var<storage, read_write> c: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

var<workgroup> As: array<f32, BK * WM * TM>; // [BK][BM]
var<workgroup> Bs: array<f32, BK * WN * TN>; // [BK][BN]

// Element (row m, column k) of A in group g; k < p.k.
fn load_a(g: u32, m: u32, k: u32) -> f32 {
  if (MODE == 0u) {
    return a[(g * p.cout_g + m) * p.k + k];
  }
  if (MODE == 1u) {
    let khw = p.kh * p.kw;
    let oc = k / khw;
    let r = k - oc * khw;
    return a[((g * p.cout_g + oc) * p.cin_g + m) * khw + r];
  }
  let ohw = p.oh * p.ow;
  let bi = k / ohw;
  let pix = k - bi * ohw;
  return a[(bi * p.cout + g * p.cout_g + m) * ohw + pix];
}

// Per-column constants of B (hoisted out of the K loop): a base offset and two coordinates.
struct Col { base: i32, y: i32, x: i32, ok: bool }

fn col_info(g: u32, n: u32) -> Col {
  var r: Col;
  r.ok = n < p.n;
  if (MODE == 0u) {
    let ohw = p.oh * p.ow;
    let bi = n / ohw;
    let pix = n - bi * ohw;
    let oy = pix / p.ow;
    let ox = pix - oy * p.ow;
    r.base = i32((bi * p.cin + g * p.cin_g) * p.h * p.w);
    if (POINTWISE) { r.base = r.base + i32(pix); }
    r.y = i32(oy * p.sh) - i32(p.ph);
    r.x = i32(ox * p.sw) - i32(p.pw);
  } else if (MODE == 1u) {
    let hw = p.h * p.w;
    let bi = n / hw;
    let pix = n - bi * hw;
    let iy = pix / p.w;
    let ix = pix - iy * p.w;
    r.base = i32((bi * p.cout + g * p.cout_g) * p.oh * p.ow);
    r.y = i32(iy + p.ph);
    r.x = i32(ix + p.pw);
  } else {
    let khw = p.kh * p.kw;
    let ic = n / khw;
    let t = n - ic * khw;
    let ky = t / p.kw;
    let kx = t - ky * p.kw;
    r.base = i32(g * p.cin_g + ic) * i32(p.h * p.w);
    r.y = i32(ky * p.dh) - i32(p.ph);
    r.x = i32(kx * p.dw) - i32(p.pw);
  }
  return r;
}

// Element (row k, column described by col) of B; k < p.k.
fn load_b(col: Col, k: u32) -> f32 {
  if (MODE == 0u) {
    if (POINTWISE) { return b[u32(col.base) + k * p.h * p.w]; }
    let khw = p.kh * p.kw;
    let ic = k / khw;
    let t = k - ic * khw;
    let ky = t / p.kw;
    let kx = t - ky * p.kw;
    let iy = col.y + i32(ky * p.dh);
    let ix = col.x + i32(kx * p.dw);
    if (iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) { return 0.0; }
    return b[u32(col.base) + (ic * p.h + u32(iy)) * p.w + u32(ix)];
  }
  if (MODE == 1u) {
    let khw = p.kh * p.kw;
    let oc = k / khw;
    let t = k - oc * khw;
    let ky = t / p.kw;
    let kx = t - ky * p.kw;
    let ty = col.y - i32(ky * p.dh);
    let tx = col.x - i32(kx * p.dw);
    if (ty < 0 || tx < 0) { return 0.0; }
    let oy = u32(ty) / p.sh;
    let ox = u32(tx) / p.sw;
    if (oy * p.sh != u32(ty) || ox * p.sw != u32(tx) || oy >= p.oh || ox >= p.ow) { return 0.0; }
    return b[u32(col.base) + (oc * p.oh + oy) * p.ow + ox];
  }
  let ohw = p.oh * p.ow;
  let bi = k / ohw;
  let pix = k - bi * ohw;
  let oy = pix / p.ow;
  let ox = pix - oy * p.ow;
  let iy = col.y + i32(oy * p.sh);
  let ix = col.x + i32(ox * p.sw);
  if (iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) { return 0.0; }
  return b[u32(col.base) + bi * p.cin * p.h * p.w + u32(iy) * p.w + u32(ix)];
}

// Where output element (row m, column n) of group g lives in C, and its channel.
fn out_index(g: u32, m: u32, n: u32) -> vec2<u32> {
  if (MODE == 0u) {
    let ohw = p.oh * p.ow;
    let bi = n / ohw;
    let pix = n - bi * ohw;
    let ch = g * p.cout_g + m;
    return vec2<u32>((bi * p.cout + ch) * ohw + pix, ch);
  }
  if (MODE == 1u) {
    let hw = p.h * p.w;
    let bi = n / hw;
    let pix = n - bi * hw;
    let ch = g * p.cin_g + m;
    return vec2<u32>((bi * p.cin + ch) * hw + pix, ch);
  }
  let ch = g * p.cout_g + m;
  return vec2<u32>(ch * p.n + n, ch);
}

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
