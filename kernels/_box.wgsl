// Shared helper (//#include _box.wgsl): box `at` of the packed u32 buffer `pack` (a binding of
// the including kernel) as f32 (x1, y1, x2, y2).
fn pack_box(at: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<f32>(pack[at]), bitcast<f32>(pack[at + 1u]), bitcast<f32>(pack[at + 2u]),
                   bitcast<f32>(pack[at + 3u]));
}
