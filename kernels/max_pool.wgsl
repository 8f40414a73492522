// 2-D max pooling over NCHW: the window of K×K at stride S with implicit −∞ padding P (override
// constants, so the window loops unroll; one division by the row width per output). Grid
// [1, ⌈oh/rows⌉, planes]: each workgroup is `rows` output rows of one plane, its threads walk them
// as one run (selects, not branches, inside the window). Also
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
  // the workgroup's rows [r0, r1) as one run of outputs, so that rows narrower than the workgroup
  // keep every lane busy (one division per output)
  let plane = p.plane0 + wid.z;
  let r0 = wid.y * p.rows;
  let r1 = min(p.oh, r0 + p.rows);
  let base = plane * p.h * p.w;
  let n = (r1 - min(r0, r1)) * p.ow;
  for (var i = lid; i < n; i = i + 64u) {
    let dyr = i / p.ow;
    let oy = r0 + dyr;
    let ox = i - dyr * p.ow;
    let y0 = i32(oy * S) - i32(P);
    let ys = u32(max(y0, 0));
    let ye = u32(min(y0 + i32(K), i32(p.h)));
    let x0 = i32(ox * S) - i32(P);
    let xs = u32(max(x0, 0));
    let xe = u32(min(x0 + i32(K), i32(p.w)));
    var best = f32_bits(0xff800000u); // −∞
    var bi = ys * p.w + xs;
    for (var a = 0u; a < K; a = a + 1u) {
      let yy = ys + a;
      for (var b = 0u; b < K; b = b + 1u) {
        let xx = xs + b;
        let inside = yy < ye && xx < xe;
        let at = select(ys * p.w + xs, yy * p.w + xx, inside); // a valid address either way
        let v = x[base + at];
        let take = inside && (v > best || v != v);
        best = select(best, v, take);
        bi = select(bi, at, take);
      }
    }
    let o = (plane * p.oh + oy) * p.ow + ox;
    y[o] = best;
    arg[o] = bi;
  }
}
