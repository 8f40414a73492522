// Fills n elements with a 32-bit pattern (the bits of an f32, i32 or u32 value).
struct Params { n: u32, bits: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read_write> y: array<u32>;
@group(0) @binding(1) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wg_index(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  y[i] = p.bits;
}
