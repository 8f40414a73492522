// Test-time augmentation box mapping of one image's padded proposals [M, 5] (valid [M]) between an
// augmentation's frame and the original image (mmdetection v2.25 bbox_mapping / _back):
//   MODE 0 (back, merge_aug_proposals): flip in the augmentation's img_shape, then divide by
//          scale_factor; boxes go to out_a [K, 4] at row `offset`, scores to out_b [K] (NaN on
//          padding rows so that rpn_proposals.wgsl skips them);
//   MODE 1 (forward, aug_test_bboxes RoIs): multiply by scale_factor, then flip; rows go to
//          out_a [M, 5] as RoIs (batch index 0, or -1 on padding rows).
// flip: 0 none, 1 horizontal, 2 vertical, 3 diagonal.
struct Params {
  rows: u32, offset: u32, mode: u32, flip: u32,
  img_h: f32, img_w: f32, _p0: u32, _p1: u32,
  sf: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> props: array<f32>;
@group(0) @binding(1) var<storage, read> valid: array<f32>;
@group(0) @binding(2) var<storage, read_write> out_a: array<f32>;
@group(0) @binding(3) var<storage, read_write> out_b: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

//#include _div_rn.wgsl

fn flip_box(b: vec4<f32>) -> vec4<f32> {
  var o = b;
  if (p.flip == 1u || p.flip == 3u) {
    o.x = p.img_w - b.z;
    o.z = p.img_w - b.x;
  }
  if (p.flip == 2u || p.flip == 3u) {
    o.y = p.img_h - b.w;
    o.w = p.img_h - b.y;
  }
  return o;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let r = wg_index(wid, nwg) * 256u + lid;
  if (r >= p.rows) { return; }
  let b = vec4<f32>(props[r * 5u], props[r * 5u + 1u], props[r * 5u + 2u], props[r * 5u + 3u]);
  let ok = valid[r] > 0.5;
  if (p.mode == 0u) {
    let f = flip_box(b);
    let o = (p.offset + r) * 4u;
    out_a[o] = div_rn(f.x, p.sf.x);
    out_a[o + 1u] = div_rn(f.y, p.sf.y);
    out_a[o + 2u] = div_rn(f.z, p.sf.z);
    out_a[o + 3u] = div_rn(f.w, p.sf.w);
    out_b[p.offset + r] = select(f32_bits(0x7fc00000u), props[r * 5u + 4u], ok);
  } else {
    let m = flip_box(b * p.sf);
    let o = (p.offset + r) * 5u;
    out_a[o] = select(-1.0, 0.0, ok);
    out_a[o + 1u] = m.x;
    out_a[o + 2u] = m.y;
    out_a[o + 3u] = m.z;
    out_a[o + 4u] = m.w;
  }
}
