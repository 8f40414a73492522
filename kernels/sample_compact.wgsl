// Sampled indices of every image in mmdetection's SamplingResult order: per image the positives
// ascending, then the negatives ascending (BaseSampler.sample takes `unique()` of both), in slots
// inds[n, 0 .. S) with -1 padding after pos + neg. One workgroup per image walks its boxes in
// chunks of 256 with a workgroup prefix sum.
struct Params { n_img: u32, num_boxes: u32, slots: u32, _p0: u32 }

@group(0) @binding(0) var<storage, read> sampled: array<u32>;
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read_write> inds: array<i32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> scan: array<vec2<u32>, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let n = wg_index(wid, nwg);
  if (n >= p.n_img) { return; }
  let np = counts[2u * n];
  let nn = counts[2u * n + 1u];
  for (var s = np + nn + lid; s < p.slots; s += 256u) { inds[n * p.slots + s] = -1; }
  var base = vec2<u32>(0u, np);
  for (var c0 = 0u; c0 < p.num_boxes; c0 += 256u) {
    let j = c0 + lid;
    var k = 0u;
    if (j < p.num_boxes) { k = sampled[n * p.num_boxes + j]; }
    let mine = vec2<u32>(select(0u, 1u, k == 1u), select(0u, 1u, k == 2u));
    scan[lid] = mine;
    workgroupBarrier();
    for (var o = 1u; o < 256u; o <<= 1u) {
      var v = vec2<u32>(0u);
      if (lid >= o) { v = scan[lid - o]; }
      workgroupBarrier();
      scan[lid] += v;
      workgroupBarrier();
    }
    let incl = scan[lid];
    let at = base + incl - mine;
    if (k == 1u && at.x < p.slots) { inds[n * p.slots + at.x] = i32(j); }
    if (k == 2u && at.y < p.slots) { inds[n * p.slots + at.y] = i32(j); }
    let tot = scan[255];
    workgroupBarrier();
    base += tot;
  }
}
