// The last step of mmdetection's weight_reduce_loss for the fused loss kernels: one workgroup sums
// their per-workgroup partial sums and scales, out[0] = loss_weight * sum / denom, with
// denom = p.denom (numel for 'mean', 1 for 'sum', a constant avg_factor) or, with DENOM_BUF,
// avg[0] + avg_eps (avg_factor as a GPU scalar, e.g. num_total_pos: never read back).
override DENOM_BUF: bool = false;

struct Params { n: u32, lw: f32, denom: f32, avg_eps: f32 }

@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read> avg: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var i = lid; i < p.n; i += 256u) { acc += partials[i]; }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { part[lid] += part[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    var denom = p.denom;
    if (DENOM_BUF) { denom = avg[0] + p.avg_eps; }
    out[0] = p.lw * (part[0] / denom);
  }
}
