// Nearest-neighbour resizing over NCHW planes with PyTorch's 'nearest' index rule:
// src = min(floor(dst · scale), in − 1), scale = in/out (or 1/scale_factor), computed in f32.
// MODE 0 (forward): dst[plane, oy, ox] = src[plane, sy, sx], one thread per output element.
// MODE 1 (backward): dx[plane, iy, ix] = Σ dy over the outputs that read (iy, ix), one thread per
// input element (a gather: no atomics).
override MODE: u32 = 0u;

struct Params { planes: u32, ih: u32, iw: u32, oh: u32, ow: u32, scale_h: f32, scale_w: f32, _p0: u32 }

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn near(d: u32, scale: f32, n_in: u32) -> u32 {
  return min(u32(floor(f32(d) * scale)), n_in - 1u);
}

// First output coordinate that may map to input coordinate v (a safe lower bound).
fn first(v: u32, scale: f32) -> u32 {
  let f = floor(f32(v) / scale);
  return u32(max(f - 1.0, 0.0));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wg_index(wid, nwg) * 256u + lid;
  if (MODE == 0u) {
    let ohw = p.oh * p.ow;
    if (i >= p.planes * ohw) { return; }
    let plane = i / ohw;
    let r = i - plane * ohw;
    let oy = r / p.ow;
    let ox = r - oy * p.ow;
    let sy = near(oy, p.scale_h, p.ih);
    let sx = near(ox, p.scale_w, p.iw);
    dst[i] = src[(plane * p.ih + sy) * p.iw + sx];
    return;
  }
  let ihw = p.ih * p.iw;
  if (i >= p.planes * ihw) { return; }
  let plane = i / ihw;
  let r = i - plane * ihw;
  let iy = r / p.iw;
  let ix = r - iy * p.iw;
  let base = plane * p.oh * p.ow;
  var acc = 0.0;
  for (var oy = first(iy, p.scale_h); oy < p.oh; oy = oy + 1u) {
    let sy = near(oy, p.scale_h, p.ih);
    if (sy > iy) { break; }
    if (sy < iy) { continue; }
    for (var ox = first(ix, p.scale_w); ox < p.ow; ox = ox + 1u) {
      let sx = near(ox, p.scale_w, p.iw);
      if (sx > ix) { break; }
      if (sx == ix) { acc = acc + src[base + oy * p.ow + ox]; }
    }
  }
  dst[i] = acc;
}
