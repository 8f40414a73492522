// Shared by kernels/conv2d.wgsl and the unrolled kernels/conv2d_tiled_*.wgsl
// (//#include _conv2d_gemm.wgsl): the implicit GEMM's Params, bindings and im2col helpers. The
// including kernel declares the overrides MODE and POINTWISE (see kernels/conv2d.wgsl).
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
