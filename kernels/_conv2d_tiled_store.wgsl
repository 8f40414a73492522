// Shared by the unrolled kernels/conv2d_tiled_*.wgsl (//#include _conv2d_tiled_store.wgsl).
// Writes one output: a split-K partial, or the value with the epilogue applied.
fn store(g: u32, s: u32, m: u32, n: u32, acc: f32) {
  if (m >= p.m || n >= p.n) { return; }
  let o = out_index(g, m, n);
  if (p.splits > 1u) {
    c[s * p.total + o.x] = acc;
    return;
  }
  var v = acc;
  if (BIAS) { v = v + bias[o.y]; }
  if (AFFINE) { v = fma(v, scale[o.y], shift[o.y]); }
  if (RELU) { v = max(v, 0.0); }
  c[o.x] = v;
}
