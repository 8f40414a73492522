// Converts between 4-byte dtypes by value. MODE: 0 f32→i32 (truncation), 1 i32→f32,
// 2 u32→f32, 3 f32→u32 (truncation, negatives to 0), 4 i32→u32, 5 u32→i32.
override MODE: u32 = 0u;

struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

fn one(i: u32) {
  let v = x[i];
  var r: u32;
  switch MODE {
    case 0u: { r = bitcast<u32>(i32(bitcast<f32>(v))); }
    case 1u: { r = bitcast<u32>(f32(bitcast<i32>(v))); }
    case 2u: { r = bitcast<u32>(f32(v)); }
    case 3u: { r = u32(max(bitcast<f32>(v), 0.0)); }
    case 4u: { r = u32(max(bitcast<i32>(v), 0)); }
    default: { r = min(v, 0x7fffffffu); }
  }
  y[i] = r;
}

//#include _elementwise_main.wgsl
