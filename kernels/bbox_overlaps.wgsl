// Overlaps of boxes a [m, 4] and b [n, 4] (xyxy, mmdetection v2: no "+1", areas unclamped,
// denominators clamped below at eps): out[i, j] (or out[i] when ALIGNED) =
//   MODE 0 iou  inter / max(area_a + area_b - inter, eps)
//   MODE 1 iof  inter / max(area_a, eps)
//   MODE 2 giou iou - (enclose - uni) / max(enclose, eps)
// Every step is rounded to f32 in PyTorch's order so that exact ties equal PyTorch's; `fence`
// (a multiply by the uniform 1.0) keeps drivers from contracting a product and a sum into one FMA,
// and `div_rn` makes the quotients correctly rounded (WGSL allows 2.5 ulp for `/`).
override MODE: u32 = 0u;
override ALIGNED: bool = false;

struct Params { m: u32, n: u32, eps: f32, one: f32 }

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> o: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

//#include _fence.wgsl
//#include _div_rn.wgsl

fn overlap(u: vec4<f32>, v: vec4<f32>) -> f32 {
  let area_u = fence((u.z - u.x) * (u.w - u.y));
  let area_v = fence((v.z - v.x) * (v.w - v.y));
  let w = max(min(u.z, v.z) - max(u.x, v.x), 0.0);
  let h = max(min(u.w, v.w) - max(u.y, v.y), 0.0);
  let inter = fence(w * h);
  var uni = area_u;
  if (MODE != 1u) { uni = (area_u + area_v) - inter; }
  uni = max(uni, p.eps);
  let iou = div_rn(inter, uni);
  if (MODE != 2u) { return iou; }
  let ew = max(max(u.z, v.z) - min(u.x, v.x), 0.0);
  let eh = max(max(u.w, v.w) - min(u.y, v.y), 0.0);
  let enclose = max(fence(ew * eh), p.eps);
  return iou - div_rn(enclose - uni, enclose);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let t = wg_index(wid, nwg) * 256u + lid;
  if (ALIGNED) {
    if (t >= p.m) { return; }
    o[t] = overlap(a[t], b[t]);
    return;
  }
  if (t >= p.m * p.n) { return; }
  o[t] = overlap(a[t / p.n], b[t % p.n]);
}
