// Sorts each segment by rank counting: element e of segment s (start, len) goes to position
// start + #{j in s : key_j < key_e}, keys compared lexicographically as (x, y) pairs of u32, which
// callers make unique (e.g. (desc(score), original index)), so the result is a permutation:
// perm[start + rank] = e. Work per segment is O(len^2) in tiles of 256 keys through workgroup
// memory: meant for the few thousand candidates of NMS and top-k, not for whole score maps.
// INDIRECT: the segment holds element ids, the keys are keys[ids[e]] (perm stores e).
// LEN_BUF: the segment's length is lens[seg.z] (a count computed on the GPU, <= seg.y).
override INDIRECT: bool = false;
override LEN_BUF: bool = false;

struct Params { num_tiles: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> keys: array<vec2<u32>>;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
// per segment: start, capacity (or len), index into lens, -
@group(0) @binding(2) var<storage, read> segs: array<vec4<u32>>;
// per tile: segment, first element (relative)
@group(0) @binding(3) var<storage, read> tiles: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read> lens: array<u32>;
@group(0) @binding(5) var<storage, read_write> perm: array<u32>;
@group(0) @binding(6) var<uniform> p: Params;

var<workgroup> tk: array<vec2<u32>, 256>;

fn key(e: u32) -> vec2<u32> {
  if (INDIRECT) { return keys[ids[e]]; }
  return keys[e];
}

fn less(a: vec2<u32>, b: vec2<u32>) -> bool {
  return a.x < b.x || (a.x == b.x && a.y < b.y);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let w = wg_index(wid, nwg);
  if (w >= p.num_tiles) { return; }
  let tile = tiles[w];
  let seg = segs[tile.x];
  var len = seg.y;
  if (LEN_BUF) { len = min(len, lens[seg.z]); }
  if (tile.y >= len) { return; }
  let i = tile.y + lid;
  let mine = i < len;
  var k = vec2<u32>(0u);
  if (mine) { k = key(seg.x + i); }
  var rank = 0u;
  for (var t0 = 0u; t0 < len; t0 += 256u) {
    workgroupBarrier();
    if (t0 + lid < len) { tk[lid] = key(seg.x + t0 + lid); }
    workgroupBarrier();
    let m = min(256u, len - t0);
    for (var j = 0u; j < m; j++) {
      if (less(tk[j], k)) { rank += 1u; }
    }
  }
  if (mine) { perm[seg.x + rank] = seg.x + i; }
}
