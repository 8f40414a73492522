// Shared helper (//#include _dims.wgsl): entry d of up to 8 dims packed in two vec4<u32>.
fn dim(arr: array<vec4<u32>, 2>, d: u32) -> u32 {
  return arr[d / 4u][d % 4u];
}
