// Copies the bits of n elements (any 4-byte dtype) from a strided source window into a strided
// destination window: the primitive behind permute, slice, concat, broadcast and padding.
// lib/ops/copy.ts merges dimensions that are contiguous on both sides first (rank 1 for most
// slices and concats).
// Element with coordinates c (row-major over `shape`) moves from
// src[src_base + sum(c_d * ss_d)] to dst[dst_base + sum(c_d * ds_d)].
struct Params {
  n: u32, rank: u32, src_base: u32, dst_base: u32,
  shape: array<vec4<u32>, 2>,
  ss: array<vec4<u32>, 2>,
  ds: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

//#include _dims.wgsl

fn one(i: u32) {
  var s = p.src_base;
  var t = p.dst_base;
  var rem = i;
  for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
    let du = u32(d);
    let sz = dim(p.shape, du);
    let c = rem % sz;
    rem = rem / sz;
    s = s + c * dim(p.ss, du);
    t = t + c * dim(p.ds, du);
  }
  dst[t] = src[s];
}

//#include _elementwise_main.wgsl
