// Test-time decoding of one pyramid level's selected candidates (spec §2.10, §2.7): for image n
// and slot j < k of this level, the selected anchor row r (MODE 0) or (anchor, class) pair
// r * C + c (MODE 1) comes from the top-k result (sel[perm[seg_off + n * k + j]].y). Writes
//   boxes[n, k_off + j]  DeltaXYWH decode (means/stds, dw/dh clamped to +-max_ratio), clipped to
//                        img_shape (CLIP), optionally flipped back (FLIP 1 horizontal, 2 vertical,
//                        3 diagonal) and divided by scale_factor (RESCALE).
//                        coder 0: DeltaXYWHBBoxCoder; 2: with add_ctr_clamp (centre shift clamped
//                        to +-ctr_clamp px, dw/dh clamped from above only); 1: the legacy coder
//                        (widths x2 - x1 + 1, clipped to [0, w - 1] x [0, h - 1])
//   scores[n, k_off + j, c] for all C classes (MODE 0) or the pair's score (MODE 1)
//   labels[n, k_off + j] the pair's class (MODE 1)
// imeta per image (8 f32): img_h, img_w, sx, sy, sx2, sy2, flip code, -
override MODE: u32 = 0u;
override SIGMOID: bool = true;

struct Params {
  N: u32, HW: u32, A: u32, C: u32,
  k: u32, k_tot: u32, k_off: u32, seg_off: u32,
  start: u32, rescale: u32, clip: u32, one: f32,
  max_ratio: f32, coder: u32, ctr_clamp: f32, _p2: u32,
  means: vec4<f32>,
  stds: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> anchors: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> cls: array<f32>;
@group(0) @binding(2) var<storage, read> reg: array<f32>;
@group(0) @binding(3) var<storage, read> sel: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read> perm: array<u32>;
@group(0) @binding(5) var<storage, read> imeta: array<f32>;
@group(0) @binding(6) var<storage, read_write> boxes: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> scores: array<f32>;
@group(0) @binding(8) var<storage, read_write> labels: array<i32>;
@group(0) @binding(9) var<uniform> p: Params;

//#include _fence.wgsl

//#include _sigmoid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let t = wg_index(wid, nwg) * 256u + lid;
  if (t >= p.N * p.k) { return; }
  let n = t / p.k;
  let j = t % p.k;
  let idx = sel[perm[p.seg_off + t]].y;
  var r = idx;
  if (MODE == 1u) { r = idx / p.C; }
  let a = r % p.A;
  let s = r / p.A;
  // deltas of anchor r: channels a*4 + i of reg [N, A*4, H, W]
  let rb = (n * p.A + a) * 4u * p.HW + s;
  let d = vec4<f32>(reg[rb], reg[rb + p.HW], reg[rb + 2u * p.HW], reg[rb + 3u * p.HW]) * p.stds + p.means;
  let an = anchors[p.start + r];
  let px = (an.x + an.z) * 0.5;
  let py = (an.y + an.w) * 0.5;
  let legacy = p.coder == 1u;
  let size_off = select(0.0, 1.0, legacy);
  let pw = fence(an.z - an.x) + size_off;
  let ph = fence(an.w - an.y) + size_off;
  var dw = clamp(d.z, -p.max_ratio, p.max_ratio);
  var dh = clamp(d.w, -p.max_ratio, p.max_ratio);
  var sx = fence(pw * d.x);
  var sy = fence(ph * d.y);
  if (p.coder == 2u) {
    sx = clamp(sx, -p.ctr_clamp, p.ctr_clamp);
    sy = clamp(sy, -p.ctr_clamp, p.ctr_clamp);
    dw = min(d.z, p.max_ratio);
    dh = min(d.w, p.max_ratio);
  }
  let gx = px + sx;
  let gy = py + sy;
  let hw = fence(pw * exp(dw)) * 0.5;
  let hh = fence(ph * exp(dh)) * 0.5;
  var b = vec4<f32>(gx - hw, gy - hh, gx + hw, gy + hh);
  let m = 8u * n;
  if (p.clip != 0u) {
    let edge = select(0.0, 1.0, legacy);
    let hi = vec4<f32>(imeta[m + 1u], imeta[m], imeta[m + 1u], imeta[m]) - vec4<f32>(edge);
    b = clamp(b, vec4<f32>(0.0), hi);
  }
  let flip = u32(imeta[m + 6u]);
  if ((flip & 1u) != 0u) { b = vec4<f32>(imeta[m + 1u] - b.z, b.y, imeta[m + 1u] - b.x, b.w); }
  if ((flip & 2u) != 0u) { b = vec4<f32>(b.x, imeta[m] - b.w, b.z, imeta[m] - b.y); }
  if (p.rescale != 0u) { b = b / vec4<f32>(imeta[m + 2u], imeta[m + 3u], imeta[m + 4u], imeta[m + 5u]); }
  let o = n * p.k_tot + p.k_off + j;
  boxes[o] = b;
  // scores of anchor r: channels a*Cout + c of cls [N, A*Cout, H, W]
  let cout = select(p.C + 1u, p.C, SIGMOID);
  let cb = (n * p.A + a) * cout * p.HW + s;
  var mx = 0.0;
  var z = 1.0;
  if (!SIGMOID) {
    mx = cls[cb];
    for (var c = 1u; c < cout; c++) { mx = max(mx, cls[cb + c * p.HW]); }
    z = 0.0;
    for (var c = 0u; c < cout; c++) { z += exp(cls[cb + c * p.HW] - mx); }
  }
  if (MODE == 1u) {
    let c = idx % p.C;
    let x = cls[cb + c * p.HW];
    scores[o] = select(exp(x - mx) / z, sigmoid(x), SIGMOID);
    labels[o] = i32(c);
    return;
  }
  for (var c = 0u; c < p.C; c++) {
    let x = cls[cb + c * p.HW];
    scores[o * p.C + c] = select(exp(x - mx) / z, sigmoid(x), SIGMOID);
  }
}
