// Reduces each row of a [rows, len] f32 matrix over a chunk of its columns:
// out[row, chunk] = OP(x[row, chunk*CH .. min(len, (chunk+1)*CH))), one workgroup per (row, chunk).
// OP: 0 sum  1 max  2 min. Long rows are reduced in several passes by the TS wrapper.
override OP: u32 = 0u;

struct Params { rows: u32, len: u32, chunk: u32, nchunks: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> part: array<f32, 256>;

fn ident() -> f32 {
  if (OP == 1u) { return -3.4028234663852886e38; }
  if (OP == 2u) { return 3.4028234663852886e38; }
  return 0.0;
}

fn comb(u: f32, v: f32) -> f32 {
  if (OP == 1u) { return max(u, v); }
  if (OP == 2u) { return min(u, v); }
  return u + v;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wg_index(wid, nwg);
  let valid = g < p.rows * p.nchunks;
  let row = g / max(p.nchunks, 1u);
  let ch = g % max(p.nchunks, 1u);
  var acc = ident();
  if (valid) {
    let start = ch * p.chunk;
    let end = min(p.len, start + p.chunk);
    let base = row * p.len;
    for (var j = start + lid; j < end; j = j + 256u) {
      acc = comb(acc, x[base + j]);
    }
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) { part[lid] = comb(part[lid], part[lid + s]); }
    workgroupBarrier();
  }
  if (valid && lid == 0u) { y[g] = part[0]; }
}
