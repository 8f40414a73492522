// Splits x [N, A, W] (the bits of any 4-byte dtype) along A into up to 5 contiguous parts
// o_l [N, A_l, W], rows [s_l, s_{l+1}) with s_0 = 0 and s_parts = A: the per-level views of a
// batch's anchor targets (mmdetection's images_to_levels) in one dispatch instead of one copy per
// part. One thread per element of x, PER elements 256 apart.
override PER: u32 = 1u;

struct Params {
  n: u32, a: u32, w: u32, parts: u32,
  s1: u32, s2: u32, s3: u32, s4: u32,
}

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> o0: array<u32>;
@group(0) @binding(2) var<storage, read_write> o1: array<u32>;
@group(0) @binding(3) var<storage, read_write> o2: array<u32>;
@group(0) @binding(4) var<storage, read_write> o3: array<u32>;
@group(0) @binding(5) var<storage, read_write> o4: array<u32>;
@group(0) @binding(6) var<uniform> p: Params;

fn one(e: u32) {
  let row = p.a * p.w;
  let n = e / row;
  let r = e - n * row;
  let j = r / p.w;
  let k = r - j * p.w;
  let v = x[e];
  if (p.parts > 4u && j >= p.s4) {
    o4[(n * (p.a - p.s4) + j - p.s4) * p.w + k] = v;
  } else if (p.parts > 3u && j >= p.s3) {
    let e4 = select(p.a, p.s4, p.parts > 4u);
    o3[(n * (e4 - p.s3) + j - p.s3) * p.w + k] = v;
  } else if (p.parts > 2u && j >= p.s2) {
    let e3 = select(p.a, p.s3, p.parts > 3u);
    o2[(n * (e3 - p.s2) + j - p.s2) * p.w + k] = v;
  } else if (p.parts > 1u && j >= p.s1) {
    let e2 = select(p.a, p.s2, p.parts > 2u);
    o1[(n * (e2 - p.s1) + j - p.s1) * p.w + k] = v;
  } else {
    let e1 = select(p.a, p.s1, p.parts > 1u);
    o0[(n * e1 + j) * p.w + k] = v;
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let base = wg_index(wid, nwg) * 256u * PER + lid;
  for (var q = 0u; q < PER; q = q + 1u) {
    let e = base + q * 256u;
    if (e < p.n * p.a * p.w) { one(e); }
  }
}
