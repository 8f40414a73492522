// Per-channel BatchNorm bookkeeping, one thread per channel.
// MODE 0 (training forward): from s1 = Σx and s2 = Σ(x − mean)² over `count` values per channel,
//   out = [mean, invstd, scale, shift] (scale = w·invstd, shift = b − mean·scale, so that
//   y = x·scale + shift) and, when UPDATE, the running statistics are updated in place with
//   `momentum` (PyTorch: the unbiased variance goes into running_var).
// MODE 1 (eval forward): the same four rows from running_mean / running_var.
// MODE 2 (backward): from s1 = Σdy, s2 = Σdy·(x − mean) and the forward's rows in `saved`,
//   out = [a, b, d, grad_w, grad_b] such that dx = a·dy + b·x + d (training: through the batch
//   statistics; eval: a = w·invstd, b = d = 0).
override MODE: u32 = 0u;
override TRAIN: bool = true;
override UPDATE: bool = true;
override HAS_W: bool = false;
override HAS_B: bool = false;

struct Params { channels: u32, count: f32, eps: f32, momentum: f32 }

@group(0) @binding(0) var<storage, read> s1: array<f32>;
@group(0) @binding(1) var<storage, read> s2: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> saved: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let c = wg_index(wid, nwg) * 64u + lid;
  let C = p.channels;
  if (c >= C) { return; }
  var w = 1.0;
  if (HAS_W) { w = weight[c]; }
  var b = 0.0;
  if (HAS_B) { b = bias[c]; }
  if (MODE == 0u || MODE == 1u) {
    var mean: f32;
    var invstd: f32;
    if (MODE == 0u) {
      mean = s1[c] / p.count;
      let v = s2[c] / p.count;
      invstd = inverseSqrt(v + p.eps);
      if (UPDATE) {
        let unbiased = s2[c] / max(p.count - 1.0, 1.0);
        running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mean;
        running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * unbiased;
      }
    } else {
      mean = running_mean[c];
      invstd = inverseSqrt(running_var[c] + p.eps);
    }
    let sc = w * invstd;
    out[c] = mean;
    out[C + c] = invstd;
    out[2u * C + c] = sc;
    out[3u * C + c] = b - mean * sc;
    return;
  }
  let mean = saved[c];
  let invstd = saved[C + c];
  let sdy = s1[c];
  let sdyxc = s2[c];
  let a = w * invstd;
  var bb = 0.0;
  var d = 0.0;
  if (TRAIN) {
    bb = -w * invstd * invstd * invstd * sdyxc / p.count;
    d = -a * sdy / p.count - bb * mean;
  }
  out[c] = a;
  out[C + c] = bb;
  out[2u * C + c] = d;
  out[3u * C + c] = sdyxc * invstd;
  out[4u * C + c] = sdy;
}
