// L1 and smooth L1 losses, forward and gradient in one pass (mmdetection's L1Loss, SmoothL1Loss).
// d = pred - target per element:
//   L1 (SMOOTH false): loss = |d|, dloss/dpred = sign(d) (0 at 0, as PyTorch's abs)
//   SmoothL1(beta):    loss = |d| < beta ? 0.5 d^2 / beta : |d| - 0.5 beta,
//                      dloss/dpred = |d| < beta ? d / beta : sign(d)
// Weights, reduction, LAYOUT and the denominators as in focal_loss.wgsl; here rows have K values
// (4 for boxes) and LAYOUT 1 reads pred from a conv output [N, A*K, H, W].
override LAYOUT: u32 = 0u;
override WKIND: u32 = 0u;      // 0 none, 1 per row [M], 2 per element [M, K]
override SMOOTH: bool = false;
override DENOM_BUF: bool = false;
override REDUCE: u32 = 1u;
override GRAD: bool = true;
const ITEMS: u32 = 8u;

struct Params {
  total: u32, K: u32, HW: u32, A: u32,
  beta: f32, lw: f32, denom: f32, avg_eps: f32,
}

@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> tgt: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_out: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

// index of pred element e in row layout [M, K]
fn row_index(e: u32) -> u32 {
  if (LAYOUT == 0u) { return e; }
  let C = p.A * p.K;
  let n = e / (C * p.HW);
  let r = e % (C * p.HW);
  let ch = r / p.HW;
  let s = r % p.HW;
  return ((n * p.HW + s) * p.A + ch / p.K) * p.K + ch % p.K;
}

// one loss term (the entry point is _loss_main.wgsl's)
fn loss_term(e: u32, denom: f32) -> f32 {
  let ri = row_index(e);
  let d = pred[e] - tgt[ri];
  var w = 1.0;
  if (WKIND == 1u) { w = weight[ri / p.K]; }
  if (WKIND == 2u) { w = weight[ri]; }
  let ad = abs(d);
  var loss = ad;
  var g = sign(d);
  if (SMOOTH && ad < p.beta) {
    loss = 0.5 * ad * ad / p.beta;
    g = d / p.beta;
  } else if (SMOOTH) {
    loss = ad - 0.5 * p.beta;
  }
  if (GRAD) { grad_out[e] = g * w * p.lw / denom; }
  if (REDUCE == 0u) {
    loss_out[e] = loss * w * p.lw;
    return 0.0;
  }
  return loss * w;
}

//#include _loss_main.wgsl
