// One fused SGD step on a parameter tensor, in place (PyTorch semantics):
//   g ← grad + wd·θ;  buf ← g (first step) or μ·buf + (1 − dampening)·g;
//   d ← g + μ·buf (nesterov) or buf;  θ ← θ − lr·d.
// With μ = 0 no momentum buffer is kept (it is bound but untouched).
struct Params {
  n: u32, first: u32, nesterov: u32, _p0: u32,
  lr: f32, momentum: f32, dampening: f32, wd: f32,
}

@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> buf: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wg_index(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  let theta = param[i];
  var g = grad[i] + p.wd * theta;
  if (p.momentum != 0.0) {
    var b: f32;
    if (p.first != 0u) { b = g; } else { b = p.momentum * buf[i] + (1.0 - p.dampening) * g; }
    buf[i] = b;
    if (p.nesterov != 0u) { g = g + p.momentum * b; } else { g = b; }
  }
  param[i] = theta - p.lr * g;
}
