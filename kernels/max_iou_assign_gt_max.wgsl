// Per ground truth: its best IoU over the inside anchors of its image and the first anchor that
// reaches it (PyTorch's max(dim) on CPU returns the lowest index on ties), in two passes:
//   PASS 0: workgroup (gt s = n * max_gt + g, chunk c) reduces anchors [c * chunk, (c + 1) * chunk)
//           into part[s * nchunks + c] = (max IoU bits, first argmax)
//   PASS 1: thread s reduces its chunks in order into gt_best[s] = (max IoU bits, argmax)
// Anchors with flag 0 (outside) do not take part; flag 2 (ignore region) anchors count with IoU -1,
// as mmdetection's masked overlap column. A gt without any inside anchor gets -inf (no low-quality
// match). Padding gts (g >= count[n]) are skipped. Boxes are shared by all images (box_stride 0:
// anchors) or per image (box_stride = boxes per image: proposals), at anchors[n * box_stride + j].
override PASS: u32 = 0u;

struct Params {
  n_img: u32, num_anchors: u32, max_gt: u32, chunk: u32,
  nchunks: u32, gt_off: u32, count_off: u32, box_stride: u32,
  eps: f32, one: f32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> anchors: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> flags: array<u32>;
@group(0) @binding(2) var<storage, read> pack: array<u32>;
@group(0) @binding(3) var<storage, read_write> part: array<vec2<u32>>;
// per gt: (best IoU bits, first anchor reaching it)
@group(0) @binding(4) var<storage, read_write> gt_best: array<vec2<u32>>;
@group(0) @binding(5) var<uniform> p: Params;


var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;

//#include _iou.wgsl
//#include _box.wgsl




// (v, i) beats (w, k): larger value, or equal value and lower index
fn better(v: f32, i: u32, w: f32, k: u32) -> bool {
  return v > w || (v == w && i < k);
}

fn reduce_chunks(s: u32) {
  if (s >= p.n_img * p.max_gt) { return; }
  var v = f32_bits(0xff800000u);
  var i = 0xffffffffu;
  for (var c = 0u; c < p.nchunks; c++) {
    let q = part[s * p.nchunks + c];
    if (better(bitcast<f32>(q.x), q.y, v, i)) { v = bitcast<f32>(q.x); i = q.y; }
  }
  gt_best[s] = vec2<u32>(bitcast<u32>(v), i);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  if (PASS == 1u) {
    reduce_chunks(wg_index(wid, nwg) * 256u + lid);
    return;
  }
  let w = wg_index(wid, nwg);
  let s = w / p.nchunks;
  let c = w % p.nchunks;
  if (s >= p.n_img * p.max_gt) { return; }
  let n = s / p.max_gt;
  let g = s % p.max_gt;
  var v = f32_bits(0xff800000u);
  var i = 0xffffffffu;
  if (g < pack[p.count_off + n]) {
    let gt = pack_box(p.gt_off + s * 4u);
    let end = min(p.num_anchors, (c + 1u) * p.chunk);
    for (var j = c * p.chunk + lid; j < end; j += 256u) {
      let f = flags[n * p.num_anchors + j];
      if (f == 0u) { continue; }
      var o = -1.0;
      if (f == 1u) { o = iou(gt, anchors[n * p.box_stride + j]); }
      if (better(o, j, v, i)) { v = o; i = j; }
    }
  }
  best_v[lid] = v;
  best_i[lid] = i;
  workgroupBarrier();
  for (var k = 128u; k > 0u; k >>= 1u) {
    if (lid < k && better(best_v[lid + k], best_i[lid + k], best_v[lid], best_i[lid])) {
      best_v[lid] = best_v[lid + k];
      best_i[lid] = best_i[lid + k];
    }
    workgroupBarrier();
  }
  if (lid == 0u) { part[s * p.nchunks + c] = vec2<u32>(bitcast<u32>(best_v[0]), best_i[0]); }
}
