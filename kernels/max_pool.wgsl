// 2-D max pooling over NCHW, one thread per output element: the window of k×k at stride s with
// implicit −∞ padding p. Also writes the argmax (flat y·w + x within the plane) for the backward
// pass. Ties keep the first maximum in row-major window order, NaN wins (as PyTorch).
struct Params { planes: u32, h: u32, w: u32, oh: u32, ow: u32, k: u32, s: u32, p: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> arg: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wg_index(wid, nwg) * 256u + lid;
  let ohw = p.oh * p.ow;
  if (i >= p.planes * ohw) { return; }
  let plane = i / ohw;
  let r = i - plane * ohw;
  let oy = r / p.ow;
  let ox = r - oy * p.ow;
  let y0 = i32(oy * p.s) - i32(p.p);
  let x0 = i32(ox * p.s) - i32(p.p);
  let ys = u32(max(y0, 0));
  let xs = u32(max(x0, 0));
  let ye = u32(min(y0 + i32(p.k), i32(p.h)));
  let xe = u32(min(x0 + i32(p.k), i32(p.w)));
  let base = plane * p.h * p.w;
  var best = f32_bits(0xff800000u); // −∞
  var bi = ys * p.w + xs;
  for (var yy = ys; yy < ye; yy = yy + 1u) {
    for (var xx = xs; xx < xe; xx = xx + 1u) {
      let v = x[base + yy * p.w + xx];
      if (v > best || v != v) {
        best = v;
        bi = yy * p.w + xx;
      }
    }
  }
  y[i] = best;
  arg[i] = bi;
}
