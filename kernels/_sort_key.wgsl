// Shared helper (//#include _sort_key.wgsl).
// larger values get smaller keys; -0 == +0
fn desc_key(v: f32) -> u32 {
  var b = bitcast<u32>(v);
  if (b == 0x80000000u) { b = 0u; }
  let ord = select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
  return ~ord;
}
