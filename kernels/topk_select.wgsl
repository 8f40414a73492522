// Exact top-k of many segments at once by radix select on the composite key
// (desc(value), index within the segment): keys are unique, so exactly k elements are selected
// and ties in value go to the lower index (a stable sort's choice).
//   PASS 0 (per tile of CHUNK elements): histogram of the current 8-bit digit of the keys that
//           match the digits fixed so far
//   PASS 1 (a workgroup per segment): pick the digit where the k-th key falls, fix it, clear the
//           histogram
//   PASS 2 (per tile): write the selected elements' keys (hi, index) to sel[out_off + slot]
// Segments with k >= len ("all") keep every element: slot = index, no rounds needed; with
// keep_order their keys are (0, index) so that sorting keeps the original order (mmdetection <= 2.17
// skips top-k for levels with at most nms_pre anchors).
// state per segment (8 words): hi mask, hi value, lo mask, lo value, remaining k, all flag, -, -
override PASS: u32 = 0u;
const CHUNK: u32 = 4096u;

struct Params { word: u32, shift: u32, num_tiles: u32, num_segs: u32, keep_order: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> vals: array<f32>;
// per segment: start in vals, len, k, out_off
@group(0) @binding(1) var<storage, read> segs: array<vec4<u32>>;
// per tile: segment, first element (relative to the segment start)
@group(0) @binding(2) var<storage, read> tiles: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> state: array<u32>;
@group(0) @binding(4) var<storage, read_write> hist: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> sel: array<vec2<u32>>;
@group(0) @binding(6) var<uniform> p: Params;

var<workgroup> lh: array<atomic<u32>, 256>;
var<workgroup> scan: array<u32, 256>;

//#include _sort_key.wgsl

fn matches(s: u32, hi: u32, lo: u32) -> bool {
  return (hi & state[8u * s]) == state[8u * s + 1u] && (lo & state[8u * s + 2u]) == state[8u * s + 3u];
}

fn scan_pass(s: u32, lid: u32) {
  let base = 8u * s;
  let c = atomicLoad(&hist[s * 256u + lid]);
  atomicStore(&hist[s * 256u + lid], 0u);
  scan[lid] = c;
  workgroupBarrier();
  for (var d = 1u; d < 256u; d <<= 1u) {
    var v = scan[lid];
    if (lid >= d) { v += scan[lid - d]; }
    workgroupBarrier();
    scan[lid] = v;
    workgroupBarrier();
  }
  let k = state[base + 4u];
  let incl = scan[lid];
  let excl = incl - c;
  workgroupBarrier();
  if (state[base + 5u] == 0u && excl < k && k <= incl) {
    let m = 255u << p.shift;
    state[base + 2u * p.word] |= m;
    state[base + 2u * p.word + 1u] |= lid << p.shift;
    state[base + 4u] = k - excl;
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let w = wg_index(wid, nwg);
  if (PASS == 1u) {
    if (w < p.num_segs) { scan_pass(w, lid); }
    return;
  }
  if (w >= p.num_tiles) { return; }
  let tile = tiles[w];
  let s = tile.x;
  let seg = segs[s];
  let all = state[8u * s + 5u] != 0u;
  let end = min(seg.y, tile.y + CHUNK);
  for (var i = tile.y + lid; i < end; i += 256u) {
    let hi = desc_key(vals[seg.x + i]);
    if (PASS == 0u) {
      if (!all && matches(s, hi, i)) {
        let d = select(hi, i, p.word == 1u);
        atomicAdd(&lh[(d >> p.shift) & 255u], 1u);
      }
    } else if (all) {
      sel[seg.w + i] = vec2<u32>(select(hi, 0u, p.keep_order != 0u), i);
    } else {
      let th = state[8u * s + 1u];
      let tl = state[8u * s + 3u];
      if (hi < th || (hi == th && i <= tl)) {
        sel[seg.w + atomicAdd(&hist[s * 256u], 1u)] = vec2<u32>(hi, i);
      }
    }
  }
  if (PASS != 0u) { return; }
  workgroupBarrier();
  let c = atomicLoad(&lh[lid]);
  if (c > 0u) { atomicAdd(&hist[s * 256u + lid], c); }
}
