// The suppression bitmask of greedy NMS (mmcv / torchvision semantics), per segment of candidates
// sorted by score (perm from sort_rank.wgsl): bit j of row i is set when j > i and
// IoU(i, j) > iou_thr (strict; no eps, 0/0 never suppresses), with widths x2 - x1 + offset.
// The threshold is a double as in torchvision (`ovr > iou_threshold` with a double threshold):
// iou_thr is its f32 rounding, and thr_inclusive says that the rounding went up, so that an IoU
// equal to iou_thr already exceeds the real threshold.
// Rows are ceil(len / 32) words at mask_off + i * words. With use_offset, boxes are shifted by
// label * (max coordinate of the segment + 1) first, as mmcv's batched_nms (f32).
//   PASS 0: a workgroup per segment: segmax[s] = max over its boxes' coordinates
//   PASS 1: a workgroup per (segment, 256 rows): column boxes through workgroup memory
override PASS: u32 = 0u;

struct Params { num_tiles: u32, num_segs: u32, iou_thr: f32, offset: f32, one: f32, thr_inclusive: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> cand_box: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> cand_label: array<i32>;
@group(0) @binding(2) var<storage, read> perm: array<u32>;
// per segment: start, len, mask offset, image | use_offset << 31
@group(0) @binding(3) var<storage, read> segs: array<vec4<u32>>;
// per tile: segment, first row
@group(0) @binding(4) var<storage, read> tiles: array<vec2<u32>>;
@group(0) @binding(5) var<storage, read_write> segmax: array<f32>;
@group(0) @binding(6) var<storage, read_write> mask: array<u32>;
@group(0) @binding(7) var<uniform> p: Params;

var<workgroup> red: array<f32, 256>;
var<workgroup> cols: array<vec4<f32>, 256>;

//#include _fence.wgsl
//#include _div_rn.wgsl

fn shifted(e: u32, seg: vec4<u32>, smax: f32) -> vec4<f32> {
  let b = cand_box[e];
  if ((seg.w & 0x80000000u) == 0u) { return b; }
  let off = fence(f32(cand_label[e]) * (smax + 1.0));
  return b + vec4<f32>(off);
}

fn suppresses(u: vec4<f32>, v: vec4<f32>) -> bool {
  let area_u = fence((u.z - u.x + p.offset) * (u.w - u.y + p.offset));
  let area_v = fence((v.z - v.x + p.offset) * (v.w - v.y + p.offset));
  let w = max(0.0, min(u.z, v.z) - max(u.x, v.x) + p.offset);
  let h = max(0.0, min(u.w, v.w) - max(u.y, v.y) + p.offset);
  let inter = fence(w * h);
  let iou = div_rn(inter, (area_u + area_v) - inter);
  return iou > p.iou_thr || (p.thr_inclusive != 0u && iou == p.iou_thr);
}

fn seg_max(s: u32, lid: u32) {
  let seg = segs[s];
  var m = -3.4028234663852886e38;
  for (var i = lid; i < seg.y; i += 256u) {
    let b = cand_box[seg.x + i];
    m = max(m, max(max(b.x, b.y), max(b.z, b.w)));
  }
  red[lid] = m;
  workgroupBarrier();
  for (var k = 128u; k > 0u; k >>= 1u) {
    if (lid < k) { red[lid] = max(red[lid], red[lid + k]); }
    workgroupBarrier();
  }
  if (lid == 0u) { segmax[s] = red[0]; }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let w = wg_index(wid, nwg);
  if (PASS == 0u) {
    if (w < p.num_segs) { seg_max(w, lid); }
    return;
  }
  if (w >= p.num_tiles) { return; }
  let tile = tiles[w];
  let seg = segs[tile.x];
  let smax = segmax[tile.x];
  let len = seg.y;
  let words = (len + 31u) / 32u;
  let i = tile.y + lid;
  let mine = i < len;
  var bi = vec4<f32>(0.0);
  if (mine) { bi = shifted(perm[seg.x + i], seg, smax); }
  for (var c0 = tile.y - tile.y % 256u; c0 < len; c0 += 256u) {
    workgroupBarrier();
    if (c0 + lid < len) { cols[lid] = shifted(perm[seg.x + c0 + lid], seg, smax); }
    workgroupBarrier();
    if (mine) {
      for (var q = 0u; q < 8u; q++) {
        let wd = c0 / 32u + q;
        if (wd >= words || wd * 32u + 31u <= i) { continue; }
        var bits = 0u;
        for (var b = 0u; b < 32u; b++) {
          let j = wd * 32u + b;
          if (j > i && j < len && suppresses(bi, cols[j - c0])) { bits |= 1u << b; }
        }
        mask[seg.z + i * words + wd] = bits;
      }
    }
  }
}
