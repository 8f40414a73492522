// The sequential half of bitmask NMS: one workgroup per segment visits its sorted candidates in
// order, keeps those not yet suppressed and ORs their mask rows into the suppressed set (workgroup
// memory, so a segment holds at most 65536 candidates). Kept candidates are appended to their
// image's list kept[img_start[img] + cursor] (order restored later by sort_rank.wgsl).
struct Params { num_segs: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> mask: array<u32>;
@group(0) @binding(1) var<storage, read> perm: array<u32>;
// per segment: start, len, mask offset, image | use_offset << 31
@group(0) @binding(2) var<storage, read> segs: array<vec4<u32>>;
// per image: start of its candidate region
@group(0) @binding(3) var<storage, read> img_start: array<u32>;
@group(0) @binding(4) var<storage, read_write> kept: array<u32>;
@group(0) @binding(5) var<storage, read_write> kept_count: array<atomic<u32>>;
@group(0) @binding(6) var<uniform> p: Params;

var<workgroup> removed: array<u32, 2048>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let s = wg_index(wid, nwg);
  if (s >= p.num_segs) { return; }
  let seg = segs[s];
  let img = seg.w & 0x7fffffffu;
  let words = (seg.y + 31u) / 32u;
  for (var i = 0u; i < seg.y; i++) {
    let word = workgroupUniformLoad(&removed[i / 32u]);
    if (((word >> (i % 32u)) & 1u) == 0u) {
      if (lid == 0u) { kept[img_start[img] + atomicAdd(&kept_count[img], 1u)] = perm[seg.x + i]; }
      let row = seg.z + i * words;
      for (var w = i / 32u + lid; w < words; w += 256u) { removed[w] |= mask[row + w]; }
    }
  }
}
