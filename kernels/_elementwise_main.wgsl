// The entry point of the one-thread-per-element kernels (unary, binary, fill, cast): PER elements
// per thread, 256 apart, each handled by the including kernel's `fn one(i)` for i < p.n.
// lib/ops/elementwise.ts elementGrid gives a software adapter (which pays a fixed cost per
// workgroup) few, long workgroups, a GPU one element per thread.
override PER: u32 = 1u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let base = wg_index(wid, nwg) * 256u * PER + lid;
  for (var k = 0u; k < PER; k = k + 1u) {
    let i = base + k * 256u;
    if (i < p.n) { one(i); }
  }
}
