// Shared body of kernels/batch_norm_apply.wgsl and kernels/batch_norm_apply_residual.wgsl
// (//#include _batch_norm_apply.wgsl): the kernel declares the overrides MODE, WG, HAS_W, HAS_B,
// RELU, RES, the bindings x, partial, weight, bias, running_mean, running_var, saved, y, the
// Params, and `residual_at(i)` (the residual added before the ReLU when RES); this file holds the
// entry point `main`.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let c = wid.y;
  let C = p.channels;
  var w = 1.0;
  if (HAS_W) { w = weight[c]; }
  var b = 0.0;
  if (HAS_B) { b = bias[c]; }
  var mean: f32;
  var invstd: f32;
  if (MODE == 0u) {
    let o = c * p.nchunks * 3u;
    var na = partial[o];
    mean = partial[o + 1u];
    var m2 = partial[o + 2u];
    for (var j = 1u; j < p.nchunks; j = j + 1u) {
      let nb = partial[o + 3u * j];
      let mb = partial[o + 3u * j + 1u];
      let nn = na + nb;
      let delta = mb - mean;
      mean = mean + delta * (nb / nn);
      m2 = m2 + partial[o + 3u * j + 2u] + delta * delta * (na * nb / nn);
      na = nn;
    }
    invstd = inverseSqrt(m2 / na + p.eps);
    if (g == 0u && lid == 0u) {
      let unbiased = m2 / max(na - 1.0, 1.0);
      running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mean;
      running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * unbiased;
    }
  } else {
    mean = running_mean[c];
    invstd = inverseSqrt(running_var[c] + p.eps);
  }
  let sc = w * invstd;
  let sh = b - mean * sc;
  if (g == 0u && lid == 0u) {
    saved[c] = mean;
    saved[C + c] = invstd;
    saved[2u * C + c] = sc;
    saved[3u * C + c] = sh;
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
      // (x − mean)·scale + b rather than x·scale + shift: no cancellation when |mean| ≫ std
      var v = fma(x[base + q] - mean, sc, b);
      if (RES) { v = v + residual_at(base + q); }
      if (RELU) { v = max(v, 0.0); }
      y[base + q] = v;
    }
  }
}
