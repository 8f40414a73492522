// 2-D max pooling over NCHW: the window of K×K at stride S with implicit −∞ padding P (override
// constants, so the window loops unroll and no index is divided by a runtime value). Grid
// [1, oh, planes]: each workgroup is one output row of one plane, its threads walk the row. Also
// writes the argmax (flat y·w + x within the plane) for the backward pass. Ties keep the first
// maximum in row-major window order, NaN wins (as PyTorch).
override K: u32 = 3u;
override S: u32 = 2u;
override P: u32 = 1u;

struct Params { planes: u32, h: u32, w: u32, oh: u32, ow: u32, plane0: u32, rows: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> arg: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  for (var oy = wid.y * p.rows; oy < min(p.oh, (wid.y + 1u) * p.rows); oy = oy + 1u) {
    let plane = p.plane0 + wid.z;
    let y0 = i32(oy * S) - i32(P);
    let ys = u32(max(y0, 0));
    let ye = u32(min(y0 + i32(K), i32(p.h)));
    let base = plane * p.h * p.w;
    let obase = (plane * p.oh + oy) * p.ow;
    for (var ox = lid; ox < p.ow; ox = ox + 64u) {
      let x0 = i32(ox * S) - i32(P);
      let xs = u32(max(x0, 0));
      let xe = u32(min(x0 + i32(K), i32(p.w)));
      var best = f32_bits(0xff800000u); // −∞
      var bi = ys * p.w + xs;
      for (var a = 0u; a < K; a = a + 1u) {
        let yy = ys + a;
        if (yy < ye) {
          for (var b = 0u; b < K; b = b + 1u) {
            let xx = xs + b;
            if (xx < xe) {
              let v = x[base + yy * p.w + xx];
              if (v > best || v != v) {
                best = v;
                bi = yy * p.w + xx;
              }
            }
          }
        }
      }
      y[obase + ox] = best;
      arg[obase + ox] = bi;
    }
  }
}
