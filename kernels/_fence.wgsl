// Shared helper (//#include _fence.wgsl). Requires `p.one: f32` (1.0) in the kernel's Params.
// x · p.one: a value the compiler cannot see through, so that a product is rounded before it is
// used (no fused multiply-add contracts it), as the CPU reference rounds it.
fn fence(x: f32) -> f32 { return x * p.one; }
