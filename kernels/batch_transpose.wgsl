// [N, C, P] → [C, N, P], or with pixel_major ≠ 0 → [N, P, C] (the filter gradient's
// output-gradient layouts with the batch folded into the pixels). Thread t copies segment s of
// row r = n·C + c (t = r·segs + s, one division per thread) serially: seg_len contiguous values.
struct Params {
  n: u32, c: u32, p: u32, segs: u32, seg_len: u32, total: u32, pixel_major: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let t = wg_index(wid, nwg) * 64u + lid;
  if (t >= p.total) { return; }
  let r = t / p.segs;
  let q0 = (t - r * p.segs) * p.seg_len;
  let q1 = min(p.p, q0 + p.seg_len);
  let nb = r / p.c;
  let ch = r - nb * p.c;
  let s0 = r * p.p;
  if (p.pixel_major != 0u) {
    let e0 = nb * p.p * p.c + ch;
    for (var q = q0; q < q1; q = q + 1u) { dst[e0 + q * p.c] = src[s0 + q]; }
    return;
  }
  let d0 = (ch * p.n + nb) * p.p;
  for (var q = q0; q < q1; q = q + 1u) { dst[d0 + q] = src[s0 + q]; }
}
