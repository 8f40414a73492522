// GIoU loss (mmdetection's GIoULoss), forward and gradient in one pass, one thread per box pair:
//   U = max(area_p + area_t - I, eps), E = max(enclose, eps), loss = 1 - (I / U - (E - U) / E)
// The gradient with respect to pred follows PyTorch's autograd of mmdetection's expression:
// maximum/minimum split the gradient in half on ties, clamp(min=0) passes it at 0.
// Row weights (WKIND 2: [M, 4] weights averaged over the 4 coordinates, as GIoULoss does), a zero
// weight zeroes the element even when it is not finite; reduction and denominators as in
// focal_loss.wgsl.
override WKIND: u32 = 0u;
override DENOM_BUF: bool = false;
override REDUCE: u32 = 1u;
override GRAD: bool = true;
const ITEMS: u32 = 1u; // loss terms per thread

struct Params { total: u32, eps: f32, lw: f32, denom: f32, avg_eps: f32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> pred: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> tgt: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_out: array<vec4<f32>>;
@group(0) @binding(6) var<uniform> p: Params;

// d max(a, b) / da with PyTorch's tie rule
fn dmax(a: f32, b: f32) -> f32 { return select(select(0.0, 1.0, a > b), 0.5, a == b); }
fn dmin(a: f32, b: f32) -> f32 { return select(select(0.0, 1.0, a < b), 0.5, a == b); }

// one loss term (the entry point is _loss_main.wgsl's)
fn loss_term(i: u32, denom: f32) -> f32 {
  let b = pred[i];
  let t = tgt[i];
  var w = 1.0;
  if (WKIND == 1u) { w = weight[i]; }
  if (WKIND == 2u) { w = (weight[4u * i] + weight[4u * i + 1u] + weight[4u * i + 2u] + weight[4u * i + 3u]) / 4.0; }
  let area_p = (b.z - b.x) * (b.w - b.y);
  let area_t = (t.z - t.x) * (t.w - t.y);
  let iw_raw = min(b.z, t.z) - max(b.x, t.x);
  let ih_raw = min(b.w, t.w) - max(b.y, t.y);
  let iw = max(iw_raw, 0.0);
  let ih = max(ih_raw, 0.0);
  let inter = iw * ih;
  let u_raw = area_p + area_t - inter;
  let u = max(u_raw, p.eps);
  let ew_raw = max(b.z, t.z) - min(b.x, t.x);
  let eh_raw = max(b.w, t.w) - min(b.y, t.y);
  let ew = max(ew_raw, 0.0);
  let eh = max(eh_raw, 0.0);
  let e_raw = ew * eh;
  let e = max(e_raw, p.eps);
  var loss = 1.0 - (inter / u - (e - u) / e);
  if (GRAD) {
    // L = 1 - I/U + (E - U)/E
    let g_u = (inter / (u * u) - 1.0 / e) * dmax(u_raw, p.eps);
    let g_e = (u / (e * e)) * dmax(e_raw, p.eps);
    let g_i = -1.0 / u - g_u;
    let g_iw = g_i * ih * select(0.0, 1.0, iw_raw >= 0.0);
    let g_ih = g_i * iw * select(0.0, 1.0, ih_raw >= 0.0);
    let g_ew = g_e * eh * select(0.0, 1.0, ew_raw >= 0.0);
    let g_eh = g_e * ew * select(0.0, 1.0, eh_raw >= 0.0);
    let bw = b.z - b.x;
    let bh = b.w - b.y;
    var g = vec4<f32>(
      -g_u * bh - g_iw * dmax(b.x, t.x) - g_ew * dmin(b.x, t.x),
      -g_u * bw - g_ih * dmax(b.y, t.y) - g_eh * dmin(b.y, t.y),
      g_u * bh + g_iw * dmin(b.z, t.z) + g_ew * dmax(b.z, t.z),
      g_u * bw + g_ih * dmin(b.w, t.w) + g_eh * dmax(b.w, t.w));
    g = g * (w * p.lw / denom);
    if (w == 0.0) { g = vec4<f32>(0.0); }
    grad_out[i] = g;
  }
  loss = loss * w;
  if (w == 0.0) { loss = 0.0; }
  if (REDUCE == 0u) {
    loss_out[i] = loss * p.lw;
    return 0.0;
  }
  return loss;
}

//#include _loss_main.wgsl
