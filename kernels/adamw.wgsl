// One fused AdamW step in place (PyTorch AdamW, amsgrad off):
//   θ ← θ·(1 − lr·wd);  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;
//   θ ← θ − lr · (m / bc1) / (sqrt(v / bc2) + eps), with bias corrections bc = 1 − β^t.
struct Params {
  n: u32, _p0: u32, _p1: u32, _p2: u32,
  lr: f32, beta1: f32, beta2: f32, eps: f32,
  wd: f32, bc1: f32, bc2: f32, _p3: f32,
}

@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wg_index(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  let g = grad[i];
  var theta = param[i] * (1.0 - p.lr * p.wd);
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  theta = theta - p.lr * (mi / p.bc1) / (sqrt(vi / p.bc2) + p.eps);
  param[i] = theta;
}
