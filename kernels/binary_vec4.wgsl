// out = a OP b on f32 tensors of one shape, four elements at a time (the element count is a
// multiple of 4; n counts vec4s). OP as kernels/binary.wgsl. PER vec4s per thread, 64 apart:
// lib/ops/elementwise.ts gives a software adapter few, long workgroups (it pays a fixed cost per
// workgroup), a GPU one vec4 per thread.
override OP: u32 = 0u;
override PER: u32 = 1u;

struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> o: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> p: Params;

fn op4(x: vec4<f32>, y: vec4<f32>) -> vec4<f32> {
  let z = vec4<f32>(0.0);
  let one = vec4<f32>(1.0);
  switch OP {
    case 0u: { return x + y; }
    case 1u: { return x - y; }
    case 2u: { return x * y; }
    case 3u: { return x / y; }
    case 4u: { return max(x, y); }
    case 5u: { return min(x, y); }
    case 6u: { return pow(x, y); }
    case 7u: { return select(z, one, x > y); }
    case 8u: { return select(z, one, x == y); }
    case 9u: { return select(z, one, x >= y); }
    case 10u: { return select(z, one, x < y); }
    case 12u: { return max(x + y, z); }
    default: { return select(z, x, y > z); }
  }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let base = wg_index(wid, nwg) * 64u * PER + lid;
  for (var k = 0u; k < PER; k = k + 1u) {
    let i = base + k * 64u;
    if (i < p.n) { o[i] = op4(a[i], b[i]); }
  }
}
