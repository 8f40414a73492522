// Per image n and anchor j (all levels concatenated): whether the anchor takes part in training.
//   flags[n, j] = 0  outside: its cell lies beyond ceil(pad / stride) (mmdetection's valid flags),
//                    or, with allowed_border >= 0, the box leaves the image by more than the border
//               = 1  inside
//               = 2  inside, but its IoF with an ignore box exceeds ignore_iof_thr (the assigner
//                    then sets its whole overlap column to -1)
// The per-(image, level) valid sizes min(ceil(h / s), H_l) are computed on the CPU (exact integer
// ceil) and read from the step pack; so are the image shapes and ignore boxes (see lib/ops/targets.ts).
struct Params {
  n_img: u32, num_anchors: u32, num_levels: u32, img_stride: u32,
  img_off: u32, ign_off: u32, ign_count_off: u32, max_ign: u32,
  allowed_border: f32, ignore_iof_thr: f32, wrt_candidates: u32, use_border: u32,
  eps: f32, one: f32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read> anchors: array<vec4<f32>>;
// per level: start, feat_h, feat_w, anchors per cell
@group(0) @binding(1) var<storage, read> levels: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> pack: array<u32>;
@group(0) @binding(3) var<storage, read_write> flags: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

//#include _iou.wgsl
//#include _box.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let t = wg_index(wid, nwg) * 256u + lid;
  if (t >= p.n_img * p.num_anchors) { return; }
  let n = t / p.num_anchors;
  let j = t % p.num_anchors;
  var l = 0u;
  for (var k = 1u; k < p.num_levels; k++) {
    if (j >= levels[k].x) { l = k; }
  }
  let lv = levels[l];
  let cell = (j - lv.x) / lv.w;
  let y = cell / lv.z;
  let x = cell % lv.z;
  let img = p.img_off + n * p.img_stride;
  var state = select(0u, 1u, y < pack[img + 2u * l] && x < pack[img + 2u * l + 1u]);
  let box = anchors[j];
  if (state == 1u && p.use_border != 0u) {
    let h = bitcast<f32>(pack[img + 2u * p.num_levels]);
    let w = bitcast<f32>(pack[img + 2u * p.num_levels + 1u]);
    let b = p.allowed_border;
    if (!(box.x >= -b && box.y >= -b && box.z < w + b && box.w < h + b)) { state = 0u; }
  }
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
