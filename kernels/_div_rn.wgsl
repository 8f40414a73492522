// Shared helper (//#include _div_rn.wgsl).
// Correctly rounded x / y (WGSL's `/` may be 2.5 ulp off, and fma may not be fused): starting from
// x / y, step to a neighbour while the exact quotient lies beyond the midpoint towards it. A
// midpoint test compares integers, Mx·2^t with (2·Mq ± 1)·My, whose difference is small enough to
// be exact in wrapping 32-bit arithmetic. (An exact quotient never falls on a midpoint.)
fn div_rn(x: f32, y: f32) -> f32 {
  var q = x / y;
  let bx = bitcast<u32>(abs(x));
  let by = bitcast<u32>(y);
  let ex = i32(bx >> 23u);
  let ey = i32((by >> 23u) & 0xffu);
  if (ex == 0 || ex == 255 || ey == 0 || ey == 255 || (by >> 31u) != 0u || !(abs(q) < 3.0e38)) { return q; }
  let mx = (bx & 0x7fffffu) | 0x800000u;
  let my = (by & 0x7fffffu) | 0x800000u;
  var a = abs(q);
  for (var it = 0; it < 4; it++) {
    let bq = bitcast<u32>(a);
    let eq = i32(bq >> 23u);
    let t = ex - eq - ey + 151;
    if (eq == 0 || t < 1 || t > 30) { break; }
    let mq = (bq & 0x7fffffu) | 0x800000u;
    if (bitcast<i32>((mx << u32(t)) - (2u * mq + 1u) * my) > 0) { a = bitcast<f32>(bq + 1u); continue; }
    var below = bitcast<i32>((mx << u32(t)) - (2u * mq - 1u) * my) < 0;
    if (mq == 0x800000u) { below = bitcast<i32>((mx << u32(t + 1)) - (4u * mq - 1u) * my) < 0; }
    if (below) { a = bitcast<f32>(bq - 1u); continue; }
    break;
  }
  return select(a, -a, x < 0.0);
}
