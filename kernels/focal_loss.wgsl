// Sigmoid focal loss and sigmoid binary cross-entropy, forward and gradient in one pass.
// Element (row i, class c), logit x, target y in [0, 1], p = sigmoid(x), q = sigmoid(-x),
// sp(z) = ln(1 + e^z) (softplus, the BCE-with-logits form: exact for any |x|):
//   loss = y * wp * q^g * sp(-x)  +  (1 - y) * wn * p^g * sp(x)
//   dloss/dx = -y * wp * q^g * (q + g * p * sp(-x))  +  (1 - y) * wn * p^g * (p + g * q * sp(x))
// Focal loss: wp = alpha, wn = 1 - alpha, g = gamma. BCE: wp = pos_weight[c] (or 1), wn = 1, g = 0.
// This equals PyTorch's / torchvision's form; mmcv's CUDA kernel uses ln(max(p, FLT_MIN)) instead
// and differs only where p < FLT_MIN (|x| > 87).
// Element weights w (per row or per element), then mmdetection's weight_reduce_loss:
//   REDUCE 0 ('none'): loss_out[e] = lw * w * loss, grad = lw * w * dloss/dx
//   REDUCE 1 (sum / mean / avg_factor): loss_out[workgroup] = partial sum of w * loss,
//            grad = lw * w * dloss/dx / denom, denom = p.denom or avg[0] + avg_eps (DENOM_BUF)
// LAYOUT 0: pred is [M, C] rows. LAYOUT 1: pred is a conv output [N, A*C, H, W] whose rows are
// ordered as mmdetection's permute(0, 2, 3, 1).reshape(-1, C): row = ((n*H + y)*W + x)*A + a.
// TARGET 0: labels [M] (i32; a label outside [0, C) gives all-zero targets, e.g. background C);
// TARGET 1: dense f32 targets in row layout [M, C].
override LAYOUT: u32 = 0u;
override TARGET: u32 = 0u;
override WKIND: u32 = 0u;      // 0 none, 1 per row [M], 2 per element [M, C] (row layout)
override CW: bool = false;     // per-class wp (BCE pos_weight)
override DENOM_BUF: bool = false;
override REDUCE: u32 = 1u;
override GRAD: bool = true;
const ITEMS: u32 = 8u;

struct Params {
  total: u32, C: u32, HW: u32, A: u32,
  wp: f32, wn: f32, gamma: f32, lw: f32,
  denom: f32, avg_eps: f32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> tgt: array<u32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> cw: array<f32>;
@group(0) @binding(4) var<storage, read> avg: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad_out: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

// ln(1 + v) for v >= 0, accurate for tiny v
fn log1p_pos(v: f32) -> f32 {
  let u = 1.0 + v;
  if (u == 1.0) { return v; }
  return log(u) * (v / (u - 1.0));
}

fn powg(v: f32) -> f32 {
  if (p.gamma == 2.0) { return v * v; }
  if (p.gamma == 0.0) { return 1.0; }
  if (v <= 0.0) { return 0.0; }
  return pow(v, p.gamma);
}

// row and class of pred element e
fn row_class(e: u32) -> vec2<u32> {
  if (LAYOUT == 0u) { return vec2<u32>(e / p.C, e % p.C); }
  let K = p.A * p.C;
  let n = e / (K * p.HW);
  let r = e % (K * p.HW);
  let ch = r / p.HW;
  let s = r % p.HW;
  return vec2<u32>((n * p.HW + s) * p.A + ch / p.C, ch % p.C);
}

// one loss term (the entry point is _loss_main.wgsl's)
fn loss_term(e: u32, denom: f32) -> f32 {
  let rc = row_class(e);
  let x = pred[e];
  var y: f32;
  if (TARGET == 0u) {
    y = select(0.0, 1.0, bitcast<i32>(tgt[rc.x]) == i32(rc.y));
  } else {
    y = bitcast<f32>(tgt[rc.x * p.C + rc.y]);
  }
  var w = 1.0;
  if (WKIND == 1u) { w = weight[rc.x]; }
  if (WKIND == 2u) { w = weight[rc.x * p.C + rc.y]; }
  var wp = p.wp;
  if (CW) { wp = cw[rc.y]; }
  let ex = exp(-abs(x));
  let big = 1.0 / (1.0 + ex);   // sigmoid(|x|)
  let small = ex * big;         // sigmoid(-|x|)
  let pr = select(small, big, x >= 0.0);
  let qr = select(big, small, x >= 0.0);
  let l1p = log1p_pos(ex);
  let sp_pos = max(x, 0.0) + l1p;    // sp(x)
  let sp_neg = max(-x, 0.0) + l1p;   // sp(-x)
  let qg = powg(qr);
  let pg = powg(pr);
  var loss = 0.0;
  var g = 0.0;
  if (y != 0.0) {
    loss += y * wp * qg * sp_neg;
    g -= y * wp * qg * (qr + p.gamma * pr * sp_neg);
  }
  if (y != 1.0) {
    loss += (1.0 - y) * p.wn * pg * sp_pos;
    g += (1.0 - y) * p.wn * pg * (pr + p.gamma * qr * sp_pos);
  }
  if (GRAD) { grad_out[e] = g * w * p.lw / denom; }
  if (REDUCE == 0u) {
    loss_out[e] = loss * w * p.lw;
    return 0.0;
  }
  return loss * w;
}

//#include _loss_main.wgsl
