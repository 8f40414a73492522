// RoIAlign backward without atomics: one thread per input position dx[n, c..c+CG, y, x] gathers from
// every RoI of image n (and, with p.level >= 0, of that pyramid level; listed in ascending order by
// roi_align_segments.wgsl) whose samples touch it.
// Bilinear weights factor into a y part and an x part (a sample outside the image contributes 0
// in both), so a RoI's contribution is sum_ph sum_pw dy[k, c, ph, pw] * Ay[ph] * Ax[pw] / count,
// with Ay[ph] the summed y weights at row y of bin row ph's samples (Ax likewise). The sum runs
// in a fixed order: the result is deterministic.
struct Params {
  k: u32, c: u32, h: u32, w: u32,
  oh: u32, ow: u32, n: u32, sampling: i32,
  aligned: u32, scale: f32, level: i32, num_levels: u32,
  finest: f32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> rois: array<f32>;
// list[n * K + j], j < counts[n]: the RoIs of image n (and level), ascending
@group(0) @binding(2) var<storage, read> list: array<u32>;
@group(0) @binding(3) var<storage, read> counts: array<u32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

// Summed weight that pixel index q (of n) gets from the g samples at s + (j + 0.5) * b / g.
fn axis_weight(q: i32, n: u32, s: f32, b: f32, g: i32) -> f32 {
  let N = f32(n);
  var acc = 0.0;
  for (var j = 0; j < g; j = j + 1) {
    var v = s + (f32(j) + 0.5) * b / f32(g);
    if (v < -1.0 || v > N) { continue; }
    v = max(v, 0.0);
    var lo = i32(v);
    var hi: i32;
    if (lo >= i32(n) - 1) { lo = i32(n) - 1; hi = lo; v = f32(lo); } else { hi = lo + 1; }
    let l = v - f32(lo);
    if (lo == q) { acc = acc + (1.0 - l); }
    if (hi == q) { acc = acc + l; }
  }
  return acc;
}

// Channels per thread: the RoI geometry and the axis weights are computed once for CG channels.
const CG: u32 = 8u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wg_index(wid, nwg) * 256u + lid;
  let hw = p.h * p.w;
  let cb_n = (p.c + CG - 1u) / CG;
  if (i >= p.n * cb_n * hw) { return; }
  let n = i / (cb_n * hw);
  let rem = i - n * cb_n * hw;
  let cb = rem / hw;
  let q = rem - cb * hw;
  let c0 = cb * CG;
  let nc = min(CG, p.c - c0);
  let qy = i32(q / p.w);
  let qx = i32(q - u32(qy) * p.w);
  let off = select(0.0, 0.5, p.aligned != 0u);
  var ax: array<f32, 32>;
  var ay: array<f32, 32>;
  var acc: array<f32, CG>;
  for (var cc = 0u; cc < CG; cc = cc + 1u) { acc[cc] = 0.0; }
  let nr = counts[n];
  for (var j = 0u; j < nr; j = j + 1u) {
    let r = list[n * p.k + j];
    let sx = rois[r * 5u + 1u] * p.scale - off;
    let sy = rois[r * 5u + 2u] * p.scale - off;
    var rw = rois[r * 5u + 3u] * p.scale - off - sx;
    var rh = rois[r * 5u + 4u] * p.scale - off - sy;
    if (p.aligned == 0u) { rw = max(rw, 1.0); rh = max(rh, 1.0); }
    // cull: samples lie between s and s + extent (extent < 0 for reversed RoIs with a fixed
    // sampling_ratio); a pixel gets weight only within one of them (clamping moves samples below
    // 0 to 0 and above n - 1 to n - 1)
    let fy = f32(qy);
    let fx = f32(qx);
    let y_lo = min(sy, sy + rh);
    let x_lo = min(sx, sx + rw);
    if (fy < min(floor(max(y_lo, 0.0)), f32(p.h) - 1.0) - 1.0 || fy > max(sy, sy + rh) + 1.0) {
      continue;
    }
    if (fx < min(floor(max(x_lo, 0.0)), f32(p.w) - 1.0) - 1.0 || fx > max(sx, sx + rw) + 1.0) {
      continue;
    }
    let bh = rh / f32(p.oh);
    let bw = rw / f32(p.ow);
    var gy = p.sampling;
    var gx = p.sampling;
    if (p.sampling <= 0) { gy = i32(ceil(rh / f32(p.oh))); gx = i32(ceil(rw / f32(p.ow))); }
    if (gy <= 0 || gx <= 0) { continue; }
    let cnt = f32(max(gy * gx, 1));
    var any_x = false;
    for (var pw = 0u; pw < p.ow; pw = pw + 1u) {
      ax[pw] = axis_weight(qx, p.w, sx + f32(pw) * bw, bw, gx);
      any_x = any_x || ax[pw] != 0.0;
    }
    if (!any_x) { continue; }
    var any_y = false;
    for (var ph = 0u; ph < p.oh; ph = ph + 1u) {
      ay[ph] = axis_weight(qy, p.h, sy + f32(ph) * bh, bh, gy);
      any_y = any_y || ay[ph] != 0.0;
    }
    if (!any_y) { continue; }
    for (var cc = 0u; cc < nc; cc = cc + 1u) {
      let dbase = (r * p.c + c0 + cc) * p.oh * p.ow;
      var part = 0.0;
      for (var ph = 0u; ph < p.oh; ph = ph + 1u) {
        if (ay[ph] == 0.0) { continue; }
        var row = 0.0;
        for (var pw = 0u; pw < p.ow; pw = pw + 1u) {
          row = row + dy[dbase + ph * p.ow + pw] * ax[pw];
        }
        part = part + ay[ph] * row;
      }
      acc[cc] = acc[cc] + part / cnt;
    }
  }
  for (var cc = 0u; cc < nc; cc = cc + 1u) {
    dx[(n * p.c + c0 + cc) * hw + q] = acc[cc];
  }
}
