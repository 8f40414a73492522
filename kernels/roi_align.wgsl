// RoIAlign forward (mmcv / torchvision semantics, average pooling): one thread per output bin
// out[k, c..c+CG, ph, pw] of rois [K, 5] (batch index, x1, y1, x2, y2): the RoI geometry, its level
// and every sample's bilinear taps are computed once for CG channels. With p.level >= 0 only the RoIs
// that mmdetection's SingleRoIExtractor.map_roi_levels sends to that level are written (the
// caller zero-fills the output and runs one dispatch per pyramid level); rows whose batch index
// is outside [0, n) (padding rows, index -1) are written as 0.
struct Params {
  k: u32, c: u32, h: u32, w: u32,
  oh: u32, ow: u32, n: u32, sampling: i32,
  aligned: u32, scale: f32, level: i32, num_levels: u32,
  finest: f32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> feat: array<f32>;
@group(0) @binding(1) var<storage, read> rois: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

// map_roi_levels: floor(log2(sqrt(w * h) / finest_scale + 1e-6)) clamped to [0, num_levels - 1].
//#include _roi_level.wgsl

// Channels per thread (ROI_ALIGN_CHANNELS in lib/ops/roi_align.ts).
const CG: u32 = 8u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wg_index(wid, nwg) * 256u + lid;
  let bins = p.oh * p.ow;
  let cb_n = (p.c + CG - 1u) / CG;
  if (i >= p.k * cb_n * bins) { return; }
  let r = i / (cb_n * bins);
  if (p.level >= 0 && roi_level(r) != p.level) { return; }
  let rem = i - r * cb_n * bins;
  let cb = rem / bins;
  let b2 = rem - cb * bins;
  let ph = b2 / p.ow;
  let pw = b2 - ph * p.ow;
  let c0 = cb * CG;
  let nc = min(CG, p.c - c0);
  let obase = (r * p.c + c0) * bins + b2;
  let bi = i32(rois[r * 5u]);
  if (bi < 0 || bi >= i32(p.n)) {
    for (var cc = 0u; cc < nc; cc = cc + 1u) { out[obase + cc * bins] = 0.0; }
    return;
  }
  let off = select(0.0, 0.5, p.aligned != 0u);
  let sx = rois[r * 5u + 1u] * p.scale - off;
  let sy = rois[r * 5u + 2u] * p.scale - off;
  var rw = rois[r * 5u + 3u] * p.scale - off - sx;
  var rh = rois[r * 5u + 4u] * p.scale - off - sy;
  if (p.aligned == 0u) { rw = max(rw, 1.0); rh = max(rh, 1.0); }
  let bh = rh / f32(p.oh);
  let bw = rw / f32(p.ow);
  var gy = p.sampling;
  var gx = p.sampling;
  if (p.sampling <= 0) { gy = i32(ceil(rh / f32(p.oh))); gx = i32(ceil(rw / f32(p.ow))); }
  let cnt = f32(max(gy * gx, 1));
  let hw = p.h * p.w;
  let base = (u32(bi) * p.c + c0) * hw;
  let H = f32(p.h);
  let W = f32(p.w);
  var acc: array<f32, CG>;
  for (var cc = 0u; cc < CG; cc = cc + 1u) { acc[cc] = 0.0; }
  for (var iy = 0; iy < gy; iy = iy + 1) {
    let y_in = sy + f32(ph) * bh + (f32(iy) + 0.5) * bh / f32(gy);
    for (var ix = 0; ix < gx; ix = ix + 1) {
      let x_in = sx + f32(pw) * bw + (f32(ix) + 0.5) * bw / f32(gx);
      if (y_in < -1.0 || y_in > H || x_in < -1.0 || x_in > W) { continue; }
      var y = max(y_in, 0.0);
      var x = max(x_in, 0.0);
      var y0 = i32(y);
      var x0 = i32(x);
      var y1: i32;
      var x1: i32;
      if (y0 >= i32(p.h) - 1) { y0 = i32(p.h) - 1; y1 = y0; y = f32(y0); } else { y1 = y0 + 1; }
      if (x0 >= i32(p.w) - 1) { x0 = i32(p.w) - 1; x1 = x0; x = f32(x0); } else { x1 = x0 + 1; }
      let ly = y - f32(y0);
      let lx = x - f32(x0);
      let hy = 1.0 - ly;
      let hx = 1.0 - lx;
      let t00 = u32(y0) * p.w + u32(x0);
      let t01 = u32(y0) * p.w + u32(x1);
      let t10 = u32(y1) * p.w + u32(x0);
      let t11 = u32(y1) * p.w + u32(x1);
      for (var cc = 0u; cc < nc; cc = cc + 1u) {
        let bc = base + cc * hw;
        acc[cc] = acc[cc] + (hy * hx * feat[bc + t00] + hy * lx * feat[bc + t01] +
          ly * hx * feat[bc + t10] + ly * lx * feat[bc + t11]);
      }
    }
  }
  for (var cc = 0u; cc < nc; cc = cc + 1u) { out[obase + cc * bins] = acc[cc] / cnt; }
}
