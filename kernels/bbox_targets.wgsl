// The target builder of sampled boxes (mmdetection's AnchorHead._get_targets_single and
// BBoxHead._get_target_single) for every image of a batch, from the composable stages: assign
// [N, B] (gt_inds, max_overlaps bits) from the assigner, sampled [N, B] (0 / 1 pos / 2 neg) from
// the sampler, and the box coder's encode (DeltaXYWHBBoxCoder, or the legacy one with SIZE_OFF = 1).
//   COMPACT = false: one thread per box (n, j): dense targets [N, B] (anchor heads)
//   COMPACT = true: one thread per slot (n, s) of inds [N, S] (positives first, -1 padding):
//                   rois [N, S, 5] = (n, box) and the targets of the sampled boxes (RoI heads)
// Positives: label of the gt (gt labels from the step pack), label weight pos_weight (1 when
// <= 0), regression target encode(box, gt) (or the gt box with REG_DECODED), weight 1.
// Negatives: background label num_classes, label weight 1. Others (and padding): weight 0.
override COMPACT: bool = false;
override REG_DECODED: bool = false;
override SIZE_OFF: f32 = 0.0;

struct Params {
  n_img: u32, num_boxes: u32, box_stride: u32, slots: u32,
  gt_off: u32, label_off: u32, max_gt: u32, num_classes: u32,
  pos_weight: f32, _p0: u32, _p1: u32, _p2: u32,
  means: vec4<f32>,
  stds: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> boxes: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> assign: array<vec2<i32>>;
@group(0) @binding(2) var<storage, read> sampled: array<u32>;
@group(0) @binding(3) var<storage, read> inds: array<i32>;
@group(0) @binding(4) var<storage, read> pack: array<u32>;
@group(0) @binding(5) var<storage, read_write> labels: array<i32>;
@group(0) @binding(6) var<storage, read_write> label_weights: array<f32>;
@group(0) @binding(7) var<storage, read_write> bbox_targets: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> bbox_weights: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> rois: array<f32>;
@group(0) @binding(10) var<uniform> p: Params;

//#include _div_rn.wgsl
//#include _box.wgsl

// DeltaXYWHBBoxCoder.encode (SIZE_OFF 0) / LegacyDeltaXYWHBBoxCoder.encode (SIZE_OFF 1)
fn encode(a: vec4<f32>, g: vec4<f32>) -> vec4<f32> {
  let px = (a.x + a.z) * 0.5;
  let py = (a.y + a.w) * 0.5;
  let pw = (a.z - a.x) + SIZE_OFF;
  let ph = (a.w - a.y) + SIZE_OFF;
  let gx = (g.x + g.z) * 0.5;
  let gy = (g.y + g.w) * 0.5;
  let gw = (g.z - g.x) + SIZE_OFF;
  let gh = (g.w - g.y) + SIZE_OFF;
  let d = vec4<f32>(div_rn(gx - px, pw), div_rn(gy - py, ph), log(div_rn(gw, pw)), log(div_rn(gh, ph)));
  return (d - p.means) / p.stds;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let t = wg_index(wid, nwg) * 256u + lid;
  let per = select(p.num_boxes, p.slots, COMPACT);
  if (t >= p.n_img * per) { return; }
  let n = t / per;
  var j = t % per;
  var kind = 0u;
  if (COMPACT) {
    let ix = inds[t];
    if (ix >= 0) {
      j = u32(ix);
      kind = sampled[n * p.num_boxes + j];
    }
  } else {
    kind = sampled[t];
  }
  var label = i32(p.num_classes);
  var lw = 0.0;
  var bt = vec4<f32>(0.0);
  var bw = vec4<f32>(0.0);
  var box = vec4<f32>(0.0);
  if (kind != 0u || !COMPACT) { box = boxes[n * p.box_stride + j]; }
  if (kind == 1u) {
    let gi = assign[n * p.num_boxes + j].x;
    let s = n * p.max_gt + u32(gi - 1);
    let g = pack_box(p.gt_off + s * 4u);
    label = bitcast<i32>(pack[p.label_off + s]);
    lw = select(1.0, p.pos_weight, p.pos_weight > 0.0);
    if (REG_DECODED) { bt = g; } else { bt = encode(box, g); }
    bw = vec4<f32>(1.0);
  } else if (kind == 2u) {
    lw = 1.0;
  }
  labels[t] = label;
  label_weights[t] = lw;
  bbox_targets[t] = bt;
  bbox_weights[t] = bw;
  if (COMPACT) {
    let valid = kind != 0u;
    rois[t * 5u] = select(-1.0, f32(n), valid);
    rois[t * 5u + 1u] = box.x;
    rois[t * 5u + 2u] = box.y;
    rois[t * 5u + 3u] = box.z;
    rois[t * 5u + 4u] = box.w;
  }
}
