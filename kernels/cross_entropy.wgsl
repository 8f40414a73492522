// Softmax cross-entropy (mmdetection's CrossEntropyLoss, use_sigmoid=False), forward and gradient
// in one pass, one thread per row i with label y:
//   loss_i = cw[y] * (logsumexp(x_i) - x_i[y]),  dloss/dx_ic = cw[y] * (softmax(x_i)_c - [c == y])
// A row whose label is ignore_index, or outside [0, C), gives 0 (PyTorch rejects the latter).
// Row weights, reduction, LAYOUT and the denominators as in focal_loss.wgsl (reduction 'none' gives
// one loss per row).
override LAYOUT: u32 = 0u;
override HAS_W: bool = false;
override CW: bool = false;
override DENOM_BUF: bool = false;
override REDUCE: u32 = 1u;
override GRAD: bool = true;
const ITEMS: u32 = 1u; // loss terms per thread

struct Params {
  total: u32, C: u32, HW: u32, A: u32,
  ignore_index: i32, lw: f32, denom: f32, avg_eps: f32,
}

@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> cw: array<f32>;
@group(0) @binding(4) var<storage, read> avg: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad_out: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

// memory index of element (row i, class c) of pred
fn at(i: u32, c: u32) -> u32 {
  if (LAYOUT == 0u) { return i * p.C + c; }
  let a = i % p.A;
  let ns = i / p.A;
  let s = ns % p.HW;
  let n = ns / p.HW;
  return ((n * p.A + a) * p.C + c) * p.HW + s;
}

// one loss term (the entry point is _loss_main.wgsl's)
fn loss_term(i: u32, denom: f32) -> f32 {
  let y = labels[i];
  let valid = y != p.ignore_index && y >= 0 && u32(y) < p.C;
  var m = pred[at(i, 0u)];
  for (var c = 1u; c < p.C; c++) { m = max(m, pred[at(i, c)]); }
  var s = 0.0;
  for (var c = 0u; c < p.C; c++) { s += exp(pred[at(i, c)] - m); }
  var w = 1.0;
  if (HAS_W) { w = weight[i]; }
  var cwy = 1.0;
  if (CW && valid) { cwy = cw[y]; }
  var loss = 0.0;
  if (valid) { loss = cwy * (m + log(s) - pred[at(i, u32(y))]); }
  if (GRAD) {
    let scale = select(0.0, cwy * w * p.lw / denom, valid);
    for (var c = 0u; c < p.C; c++) {
      let sm = exp(pred[at(i, c)] - m) / s;
      grad_out[at(i, c)] = scale * (sm - select(0.0, 1.0, valid && u32(y) == c));
    }
  }
  if (REDUCE == 0u) {
    loss_out[i] = loss * w * p.lw;
    return 0.0;
  }
  return loss * w;
}

//#include _loss_main.wgsl
