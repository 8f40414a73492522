// BatchNorm backward in one pass per chunk after kernels/batch_norm_moments.wgsl (MODE 1); grid
// [nchunks, channels], chunks as there. Every workgroup of channel c adds up the channel's
// partial Σdy and Σdy·(x − mean) (same order everywhere), forms dx = a·dy + b·x + d (training:
// through the batch statistics; eval: a = w·invstd, b = d = 0) for its chunk, and the chunk-0
// workgroup writes grad_w = Σdy·(x − mean)·invstd and grad_b = Σdy. w·invstd is the forward's
// scale (saved row 2: the same product). With RELU, dy is first masked by the fused ReLU of the
// forward, dy·(y > 0) with y its output (the moments pass masked it the same way).
override WG: u32 = 64u;
override TRAIN: bool = true;
override RELU: bool = false;
override NEED_DX: bool = true;
override NEED_DW: bool = false;
override NEED_DB: bool = false;

struct Params {
  n: u32, channels: u32, hw: u32, nchunks: u32,
  segs: u32, seg_len: u32, planes: u32, _p0: u32,
  count: f32, _p1: f32, _p2: f32, _p3: f32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> saved: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read> partial: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> dw: array<f32>;
@group(0) @binding(7) var<storage, read_write> db: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let c = wid.y;
  let C = p.channels;
  var sdy = 0.0;
  var sdyxc = 0.0;
  let o = c * p.nchunks * 2u;
  for (var j = 0u; j < p.nchunks; j = j + 1u) {
    sdy = sdy + partial[o + 2u * j];
    sdyxc = sdyxc + partial[o + 2u * j + 1u];
  }
  let mean = saved[c];
  let invstd = saved[C + c];
  if (g == 0u && lid == 0u) {
    if (NEED_DW) { dw[c] = sdyxc * invstd; }
    if (NEED_DB) { db[c] = sdy; }
  }
  if (!NEED_DX) { return; }
  let a = saved[2u * C + c];
  var bb = 0.0;
  var d = 0.0;
  if (TRAIN) {
    bb = -a * invstd * invstd * sdyxc / p.count;
    d = -a * sdy / p.count - bb * mean;
  }
  var n0 = g * p.planes;
  var n1 = min(p.n, n0 + p.planes);
  var q0 = 0u;
  var q1 = p.hw;
  if (p.segs > 1u) {
    n0 = g / p.segs;
    n1 = n0 + 1u;
    q0 = (g - n0 * p.segs) * p.seg_len;
    q1 = min(p.hw, q0 + p.seg_len);
  }
  for (var nb = n0; nb < n1; nb = nb + 1u) {
    let base = (nb * C + c) * p.hw;
    for (var q = q0 + lid; q < q1; q = q + WG) {
      var v = dy[base + q];
      if (RELU && !(y[base + q] > 0.0)) { v = 0.0; }
      dx[base + q] = a * v + bb * x[base + q] + d;
    }
  }
}
