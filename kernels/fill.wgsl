// Fills n elements with a 32-bit pattern (the bits of an f32, i32 or u32 value).
struct Params { n: u32, bits: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read_write> y: array<u32>;
@group(0) @binding(1) var<uniform> p: Params;

fn one(i: u32) {
  y[i] = p.bits;
}

//#include _elementwise_main.wgsl
