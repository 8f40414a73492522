// Gradient of kernels/max_pool.wgsl without atomics: one thread per input element gathers dy
// from every output window that contains it and chose it as the argmax. K, S, P are override
// constants (at most ⌈K/S⌉² windows cover an element: fixed, unrolled loops; divisions by
// constants only). Grid [1, ⌈h/rows⌉, planes]: each workgroup is `rows` input rows of one plane.
override K: u32 = 3u;
override S: u32 = 2u;
override P: u32 = 1u;
override NW: u32 = 2u; // ⌈K/S⌉, set by lib/ops/pool.ts

struct Params { planes: u32, h: u32, w: u32, oh: u32, ow: u32, plane0: u32, rows: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> arg: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

// The first output index along one axis whose window covers input coordinate v.
fn first_cover(v: u32) -> u32 {
  let t = i32(v + P) - i32(K) + i32(S);
  return select(0u, u32(t) / S, t > 0);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  for (var iy = wid.y * p.rows; iy < min(p.h, (wid.y + 1u) * p.rows); iy = iy + 1u) {
    let plane = p.plane0 + wid.z;
    let oy0 = first_cover(iy);
    let oy1 = min(p.oh, (iy + P) / S + 1u);
    let base = plane * p.oh * p.ow;
    let ibase = (plane * p.h + iy) * p.w;
    for (var ix = lid; ix < p.w; ix = ix + 64u) {
      let r = iy * p.w + ix;
      let ox0 = first_cover(ix);
      let ox1 = min(p.ow, (ix + P) / S + 1u);
      var acc = 0.0;
      for (var a = 0u; a < NW; a = a + 1u) {
        let oy = oy0 + a;
        if (oy < oy1) {
          for (var b = 0u; b < NW; b = b + 1u) {
            let ox = ox0 + b;
            if (ox < ox1) {
              let o = base + oy * p.ow + ox;
              if (arg[o] == r) { acc = acc + dy[o]; }
            }
          }
        }
      }
      dx[ibase + ix] = acc;
    }
  }
}
