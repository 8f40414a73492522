// Shared helpers (//#include _iou.wgsl): overlaps of two boxes (x1, y1, x2, y2) rounded as the
// CPU reference rounds them. Requires `p.one: f32` and `p.eps: f32` in the kernel's Params.
//#include _fence.wgsl
//#include _div_rn.wgsl

fn iou(u: vec4<f32>, v: vec4<f32>) -> f32 {
  let area_u = fence((u.z - u.x) * (u.w - u.y));
  let area_v = fence((v.z - v.x) * (v.w - v.y));
  let w = max(min(u.z, v.z) - max(u.x, v.x), 0.0);
  let h = max(min(u.w, v.w) - max(u.y, v.y), 0.0);
  let inter = fence(w * h);
  return div_rn(inter, max((area_u + area_v) - inter, p.eps));
}

// intersection over the area of `fg`
fn iof(fg: vec4<f32>, other: vec4<f32>) -> f32 {
  let area = max(fence((fg.z - fg.x) * (fg.w - fg.y)), p.eps);
  let w = max(min(fg.z, other.z) - max(fg.x, other.x), 0.0);
  let h = max(min(fg.w, other.w) - max(fg.y, other.y), 0.0);
  return div_rn(fence(w * h), area);
}
