// Shared entry point of the loss kernels (//#include _loss_main.wgsl): the forward and gradient
// in one pass, then mmdetection's weight_reduce_loss. Each thread takes ITEMS consecutive loss
// terms 256 apart (`loss_term(i, denom)` of the kernel, for i < `p.total`); with REDUCE 0
// ('none') the terms write their own outputs, otherwise each workgroup writes the partial sum of
// its terms to loss_out[workgroup] (summed on the host side by loss_finalize.wgsl). The kernel
// declares ITEMS, REDUCE, DENOM_BUF, the bindings `avg` and `loss_out`, and `p.total`, `p.denom`,
// `p.avg_eps` in its Params.

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let wg = wg_index(wid, nwg);
  var denom = 1.0;
  if (REDUCE != 0u) {
    denom = p.denom;
    if (DENOM_BUF) { denom = avg[0] + p.avg_eps; }
  }
  var acc = 0.0;
  for (var k = 0u; k < ITEMS; k++) {
    let i = (wg * ITEMS + k) * 256u + lid;
    if (i < p.total) { acc += loss_term(i, denom); }
  }
  if (REDUCE == 0u) { return; }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { part[lid] += part[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { loss_out[wg] = part[0]; }
}
