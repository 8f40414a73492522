// Prepended to every kernel by lib/gpu/kernel.ts. Keep it small: line numbers in compiler
// messages are reported relative to the kernel file by subtracting this file's line count.

// Linear workgroup index of a grid that the runtime may have folded into 2-D or 3-D
// (more than 65535 workgroups in one dimension).
fn wg_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
}

// The f32 with IEEE bits `b`, computed at run time: WGSL makes a NaN or an infinity produced by a
// constant expression a shader-creation error (Chromium's compiler enforces it, Deno's does not),
// so write `f32_bits(0xff800000u)` for −∞ and `f32_bits(0x7fc00000u)` for NaN.
fn f32_bits(b: u32) -> f32 {
  return bitcast<f32>(b);
}
