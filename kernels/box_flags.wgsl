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

//#include _iou.wgsl
//#include _box.wgsl

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
