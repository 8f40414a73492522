// Prepended to every kernel by lib/gpu/kernel.ts. Keep it small: line numbers in compiler
// messages are reported relative to the kernel file by subtracting this file's line count.

// Linear workgroup index of a grid that the runtime may have folded into 2-D or 3-D
// (more than 65535 workgroups in one dimension).
fn wg_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y;
}
