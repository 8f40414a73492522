// Flags of per-image candidate boxes (proposals of a two-stage detector), as anchor_valid.wgsl
// does for anchors: flags[n, j] = 0 for padding rows (valid[n, j] == 0), 1 for a real box, 2 for a
// real box whose IoF with an ignore box of its image exceeds ignore_iof_thr (MaxIoUAssigner's
// ignore step; the assigner then treats its overlaps as -1).
struct Params {
  n_img: u32, num_boxes: u32, ign_off: u32, ign_count_off: u32,
  max_ign: u32, wrt_candidates: u32, ignore_iof_thr: f32, eps: f32,
  one: f32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> boxes: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> valid: array<u32>;
@group(0) @binding(2) var<storage, read> pack: array<u32>;
@group(0) @binding(3) var<storage, read_write> flags: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

fn fence(x: f32) -> f32 { return x * p.one; }

// Correctly rounded x / y (WGSL's `/` may be 2.5 ulp off, and fma may not be fused): starting from
// x / y, step to a neighbour while the exact quotient lies beyond the midpoint towards it. A
// midpoint test compares integers, Mx·2^t with (2·Mq ± 1)·My, whose difference is small enough to
// be exact in wrapping 32-bit arithmetic. (An exact quotient never falls on a midpoint.)
fn div_rn(x: f32, y: f32) -> f32 {
  var q = x / y;
  let bx = bitcast<u32>(abs(x));
  let by = bitcast<u32>(y);
  let ex = i32(bx >> 23u);
  let ey = i32((by >> 23u) & 0xffu);
  if (ex == 0 || ex == 255 || ey == 0 || ey == 255 || (by >> 31u) != 0u || !(abs(q) < 3.0e38)) { return q; }
  let mx = (bx & 0x7fffffu) | 0x800000u;
  let my = (by & 0x7fffffu) | 0x800000u;
  var a = abs(q);
  for (var it = 0; it < 4; it++) {
    let bq = bitcast<u32>(a);
    let eq = i32(bq >> 23u);
    let t = ex - eq - ey + 151;
    if (eq == 0 || t < 1 || t > 30) { break; }
    let mq = (bq & 0x7fffffu) | 0x800000u;
    if (bitcast<i32>((mx << u32(t)) - (2u * mq + 1u) * my) > 0) { a = bitcast<f32>(bq + 1u); continue; }
    var below = bitcast<i32>((mx << u32(t)) - (2u * mq - 1u) * my) < 0;
    if (mq == 0x800000u) { below = bitcast<i32>((mx << u32(t + 1)) - (4u * mq - 1u) * my) < 0; }
    if (below) { a = bitcast<f32>(bq - 1u); continue; }
    break;
  }
  return select(a, -a, x < 0.0);
}

// intersection over the area of `fg`
fn iof(fg: vec4<f32>, other: vec4<f32>) -> f32 {
  let area = max(fence((fg.z - fg.x) * (fg.w - fg.y)), p.eps);
  let w = max(min(fg.z, other.z) - max(fg.x, other.x), 0.0);
  let h = max(min(fg.w, other.w) - max(fg.y, other.y), 0.0);
  return div_rn(fence(w * h), area);
}

fn pack_box(at: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<f32>(pack[at]), bitcast<f32>(pack[at + 1u]), bitcast<f32>(pack[at + 2u]),
                   bitcast<f32>(pack[at + 3u]));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let t = wg_index(wid, nwg) * 256u + lid;
  if (t >= p.n_img * p.num_boxes) { return; }
  let n = t / p.num_boxes;
  // valid may be u32 or f32: any non-zero bit pattern other than -0.0 is a real box
  var state = select(0u, 1u, (valid[t] & 0x7fffffffu) != 0u);
  let box = boxes[t];
  if (state == 1u && p.ignore_iof_thr > 0.0) {
    let cnt = pack[p.ign_count_off + n];
    var best = -1.0;
    for (var i = 0u; i < cnt; i++) {
      let ib = pack_box(p.ign_off + (n * p.max_ign + i) * 4u);
      var v: f32;
      if (p.wrt_candidates != 0u) { v = iof(box, ib); } else { v = iof(ib, box); }
      best = max(best, v);
    }
    if (best > p.ignore_iof_thr) { state = 2u; }
  }
  flags[t] = state;
}
