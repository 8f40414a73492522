// Shared helper (//#include _roi_level.wgsl): mmdetection's SingleRoIExtractor.map_roi_levels for
// RoI r of `rois` [K, 5] (image, x1, y1, x2, y2): floor(log2(sqrt(w * h) / finest_scale + 1e-6))
// clamped to [0, num_levels - 1]. Requires `p.finest: f32` and `p.num_levels: u32`.
fn roi_level(r: u32) -> i32 {
  let s = sqrt((rois[r * 5u + 3u] - rois[r * 5u + 1u]) * (rois[r * 5u + 4u] - rois[r * 5u + 2u]));
  let l = i32(floor(log2(s / p.finest + 1e-6)));
  return clamp(l, 0, i32(p.num_levels) - 1);
}
