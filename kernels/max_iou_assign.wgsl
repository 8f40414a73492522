// mmdetection's MaxIoUAssigner + PseudoSampler + AnchorHead target builder (spec §2.5-§2.7) for all
// anchors of all images at once: one thread per (image n, anchor j); the gts of image n are read
// in tiles of 256 through workgroup memory (any number of gts). Per anchor, in gt order:
//   IoU (or -1 for ignore-region anchors), max and first argmax over gts, and the low-quality match:
//   every gt i with gt_max[i] >= min_pos_iou and IoU == gt_max[i] (exact, ties included) overwrites,
//   so the last such gt wins (mmdetection's sequential loop).
// Then: negative if lo <= max < hi, positive (argmax + 1) if max >= pos_iou_thr, low-quality match
// last; no gts: every inside anchor negative. Outputs (see lib/ops/targets.ts for shapes):
//   labels (background = num_classes), label_weights, bbox_targets (DeltaXYWH-encoded, or the gt
//   box when REG_DECODED), bbox_weights, assign = (gt_inds, max_overlaps bits), per-image counts of
//   positives and negatives (atomics).
// FUSED = false is the composable MaxIoUAssigner stage: only assign and counts are written (the
// target outputs are bound to sinks). Boxes are shared (box_stride 0) or per image.
override FUSED: bool = true;

struct Params {
  n_img: u32, num_anchors: u32, max_gt: u32, wg_per_img: u32,
  gt_off: u32, label_off: u32, count_off: u32, num_classes: u32,
  pos_iou_thr: f32, neg_lo: f32, neg_hi: f32, min_pos_iou: f32,
  pos_weight: f32, eps: f32, one: f32, opts: u32,
  means: vec4<f32>,
  stds: vec4<f32>,
  box_stride: u32, _q0: u32, _q1: u32, _q2: u32,
}
// opts bits: 1 match_low_quality, 2 gt_max_assign_all, 4 reg_decoded_bbox

@group(0) @binding(0) var<storage, read> anchors: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> flags: array<u32>;
@group(0) @binding(2) var<storage, read> pack: array<u32>;
@group(0) @binding(3) var<storage, read> gt_best: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read_write> labels: array<i32>;
@group(0) @binding(5) var<storage, read_write> label_weights: array<f32>;
@group(0) @binding(6) var<storage, read_write> bbox_targets: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> bbox_weights: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> assign: array<vec2<i32>>;
@group(0) @binding(9) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(10) var<uniform> p: Params;

var<workgroup> t_box: array<vec4<f32>, 256>;
var<workgroup> t_best: array<vec2<u32>, 256>;
// workgroup memory starts zeroed
var<workgroup> n_pos: atomic<u32>;
var<workgroup> n_neg: atomic<u32>;

//#include _iou.wgsl
//#include _box.wgsl

// DeltaXYWHBBoxCoder.encode (v2, spec §2.7)
fn encode(a: vec4<f32>, g: vec4<f32>) -> vec4<f32> {
  let px = (a.x + a.z) * 0.5;
  let py = (a.y + a.w) * 0.5;
  let pw = a.z - a.x;
  let ph = a.w - a.y;
  let gx = (g.x + g.z) * 0.5;
  let gy = (g.y + g.w) * 0.5;
  let gw = g.z - g.x;
  let gh = g.w - g.y;
  let d = vec4<f32>(div_rn(gx - px, pw), div_rn(gy - py, ph), log(div_rn(gw, pw)), log(div_rn(gh, ph)));
  return (d - p.means) / p.stds;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let w = wg_index(wid, nwg);
  let n = w / p.wg_per_img;
  if (n >= p.n_img) { return; }
  let j = (w % p.wg_per_img) * 256u + lid;
  let live = j < p.num_anchors;
  let t = n * p.num_anchors + j;
  var f = 0u;
  var box = vec4<f32>(0.0);
  if (live) {
    f = flags[t];
    box = anchors[n * p.box_stride + j];
  }
  let k = pack[p.count_off + n];
  let low_quality = (p.opts & 1u) != 0u;
  let assign_all = (p.opts & 2u) != 0u;
  var best = f32_bits(0xff800000u);
  var arg = 0u;
  var lq = 0u;
  for (var t0 = 0u; t0 < k; t0 += 256u) {
    workgroupBarrier();
    if (t0 + lid < k) {
      let s = n * p.max_gt + t0 + lid;
      t_box[lid] = pack_box(p.gt_off + s * 4u);
      t_best[lid] = gt_best[s];
    }
    workgroupBarrier();
    if (f != 0u) {
      let m = min(256u, k - t0);
      for (var i = 0u; i < m; i++) {
        var o = -1.0;
        if (f == 1u) { o = iou(t_box[i], box); }
        if (o > best || i + t0 == 0u) {
          best = o;
          arg = t0 + i;
        }
        let gm = bitcast<f32>(t_best[i].x);
        if (low_quality && gm >= p.min_pos_iou) {
          if (assign_all) {
            if (o == gm) { lq = t0 + i + 1u; }
          } else if (t_best[i].y == j) {
            lq = t0 + i + 1u;
          }
        }
      }
    }
  }
  var gi = -1;
  var maxo = 0.0;
  if (f != 0u) {
    if (k == 0u) {
      gi = 0;
    } else {
      maxo = best;
      if (best >= p.neg_lo && best < p.neg_hi) { gi = 0; }
      if (best >= p.pos_iou_thr) { gi = i32(arg) + 1; }
      if (lq > 0u) { gi = i32(lq); }
    }
  }
  if (live && !FUSED) {
    if (gi > 0) { atomicAdd(&n_pos, 1u); } else if (gi == 0) { atomicAdd(&n_neg, 1u); }
    assign[t] = vec2<i32>(gi, bitcast<i32>(maxo));
  }
  if (live && FUSED) {
    var label = i32(p.num_classes);
    var lw = 0.0;
    var bt = vec4<f32>(0.0);
    var bw = vec4<f32>(0.0);
    if (gi > 0) {
      let s = n * p.max_gt + u32(gi - 1);
      let g = pack_box(p.gt_off + s * 4u);
      label = bitcast<i32>(pack[p.label_off + s]);
      lw = select(1.0, p.pos_weight, p.pos_weight > 0.0);
      if ((p.opts & 4u) != 0u) { bt = g; } else { bt = encode(box, g); }
      bw = vec4<f32>(1.0);
      atomicAdd(&n_pos, 1u);
    } else if (gi == 0) {
      lw = 1.0;
      atomicAdd(&n_neg, 1u);
    }
    labels[t] = label;
    label_weights[t] = lw;
    bbox_targets[t] = bt;
    bbox_weights[t] = bw;
    assign[t] = vec2<i32>(gi, bitcast<i32>(maxo));
  }
  workgroupBarrier();
  if (lid == 0u) {
    let np = atomicLoad(&n_pos);
    let nn = atomicLoad(&n_neg);
    if (np > 0u) { atomicAdd(&counts[2u * n], np); }
    if (nn > 0u) { atomicAdd(&counts[2u * n + 1u], nn); }
  }
}
