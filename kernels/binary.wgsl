// out = a OP b with NumPy broadcasting on f32. Shapes and strides (0 on broadcast dimensions)
// come in Params; when BCAST is 0 both inputs have the output's shape and are read linearly; 2: a
// has the output's shape and b is one value; 3: b has the output's shape and a is one value.
//  OP: 0 add  1 sub  2 mul  3 div  4 max  5 min  6 pow  7 (a > b)  8 (a == b)  9 (a >= b)
//      10 (a < b)  11 (b > 0 ? a : 0), the ReLU gradient mask (PyTorch's threshold_backward: 0
//      where b ≤ 0, even when a is not finite)  12 max(a + b, 0), a residual add with its ReLU
override OP: u32 = 0u;
override BCAST: u32 = 1u;

struct Params {
  n: u32, rank: u32, _p0: u32, _p1: u32,
  shape: array<vec4<u32>, 2>,
  sa: array<vec4<u32>, 2>,
  sb: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> o: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

//#include _dims.wgsl

fn one(i: u32) {
  var ia = i;
  var ib = i;
  if (BCAST == 2u) {
    ib = 0u;
  } else if (BCAST == 3u) {
    ia = 0u;
  } else if (BCAST != 0u) {
    ia = 0u;
    ib = 0u;
    var rem = i;
    for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
      let du = u32(d);
      let s = dim(p.shape, du);
      let c = rem % s;
      rem = rem / s;
      ia = ia + c * dim(p.sa, du);
      ib = ib + c * dim(p.sb, du);
    }
  }
  let x = a[ia];
  let y = b[ib];
  var r: f32;
  switch OP {
    case 0u: { r = x + y; }
    case 1u: { r = x - y; }
    case 2u: { r = x * y; }
    case 3u: { r = x / y; }
    case 4u: { r = max(x, y); }
    case 5u: { r = min(x, y); }
    case 6u: { r = pow(x, y); }
    case 7u: { r = select(0.0, 1.0, x > y); }
    case 8u: { r = select(0.0, 1.0, x == y); }
    case 9u: { r = select(0.0, 1.0, x >= y); }
    case 10u: { r = select(0.0, 1.0, x < y); }
    case 12u: { r = max(x + y, 0.0); }
    default: { r = select(0.0, x, y > 0.0); }
  }
  o[i] = r;
}

//#include _elementwise_main.wgsl
