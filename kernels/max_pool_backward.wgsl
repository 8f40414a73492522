// Gradient of kernels/max_pool.wgsl without atomics: one thread per input element gathers dy
// from every output window that contains it and chose it as the argmax.
struct Params { planes: u32, h: u32, w: u32, oh: u32, ow: u32, k: u32, s: u32, p: u32 }

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> arg: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

// The output range [lo, hi) along one axis whose windows cover input coordinate v.
fn cover(v: u32, n_out: u32) -> vec2<u32> {
  let t = i32(v + p.p);
  let lo = max(0, (t - i32(p.k) + i32(p.s)) / i32(p.s));
  let hi = min(i32(n_out), t / i32(p.s) + 1);
  return vec2<u32>(u32(lo), u32(max(hi, lo)));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wg_index(wid, nwg) * 256u + lid;
  let hw = p.h * p.w;
  if (i >= p.planes * hw) { return; }
  let plane = i / hw;
  let r = i - plane * hw;
  let iy = r / p.w;
  let ix = r - iy * p.w;
  let ry = cover(iy, p.oh);
  let rx = cover(ix, p.ow);
  let base = plane * p.oh * p.ow;
  var acc = 0.0;
  for (var oy = ry.x; oy < ry.y; oy = oy + 1u) {
    for (var ox = rx.x; ox < rx.y; ox = ox + 1u) {
      let o = base + oy * p.ow + ox;
      if (arg[o] == r) { acc = acc + dy[o]; }
    }
  }
  dx[i] = acc;
}
