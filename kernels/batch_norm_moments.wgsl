// BatchNorm statistics in one pass over each channel chunk; grid [nchunks, channels].
// A chunk is `planes` whole (n, c) planes, or (segs > 1) one segment of `seg_len` pixels of one
// plane, so the loops walk contiguous pixels with no per-element division. Each thread adds up
// its elements serially (WG threads per workgroup, few large workgroups on a software adapter),
// then one tree reduction per workgroup.
// MODE 0 (forward): shifted sums about K = the chunk's first value, Σ(x−K) and Σ(x−K)², turned
//   into the chunk's (count, mean, M2) — partial[(c·nchunks + g)·3 + 0..2] — which
//   kernels/batch_norm_apply.wgsl merges exactly (Chan et al.). Shifting by a value of the data
//   keeps the sum of squares free of the cancellation of Σx² − (Σx)²/n. With HAS_COUNT the
//   first thread also adds 1 to num_batches_tracked.
// MODE 1 (backward): Σdy and Σdy·(x − mean[c]) (mean = saved row 0) —
//   partial[(c·nchunks + g)·2 + 0..1].
//   With RELU, dy is first masked by the fused ReLU of the forward: dy·(y > 0), y its output.
// MODE 2 (per-channel sums, e.g. a conv bias gradient): Σx — partial[c·nchunks + g].
// LANES virtual lanes per thread (at most 8): virtual lane L = lid + WG·j adds up the elements a
// thread L of a WG·LANES-thread workgroup would, and the first log2(LANES) steps of the tree
// reduction run inside the thread, so the sums are bit-identical to WG·LANES real threads (a
// software adapter runs 8 threads × 8 lanes, which costs less than 64 threads there).
override MODE: u32 = 0u;
override WG: u32 = 64u;
override LANES: u32 = 1u;
override HAS_COUNT: bool = false;
override RELU: bool = false;

struct Params {
  n: u32, channels: u32, hw: u32, nchunks: u32,
  segs: u32, seg_len: u32, planes: u32, _p0: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> saved: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
@group(0) @binding(4) var<storage, read> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> counter: array<i32>;
@group(0) @binding(6) var<uniform> p: Params;

var<workgroup> ra: array<f32, 256>;
var<workgroup> rb: array<f32, 256>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let c = wid.y;
  let C = p.channels;
  var n0 = g * p.planes;
  var n1 = min(p.n, n0 + p.planes);
  var q0 = 0u;
  var q1 = p.hw;
  if (p.segs > 1u) {
    n0 = g / p.segs;
    n1 = n0 + 1u;
    q0 = (g - n0 * p.segs) * p.seg_len;
    q1 = min(p.hw, q0 + p.seg_len);
  }
  var a1: array<f32, 8>;
  var a2: array<f32, 8>;
  var k = 0.0;
  if (MODE == 0u) {
    k = x[(n0 * C + c) * p.hw + q0];
  } else if (MODE == 1u) {
    k = saved[c];
  }
  for (var nb = n0; nb < n1; nb = nb + 1u) {
    let base = (nb * C + c) * p.hw;
    for (var q = q0 + lid; q < q1; q = q + WG * LANES) {
      for (var j = 0u; j < LANES; j = j + 1u) {
        let qq = q + j * WG;
        if (qq < q1) {
          if (MODE == 0u) {
            let d = x[base + qq] - k;
            a1[j] = a1[j] + d;
            a2[j] = fma(d, d, a2[j]);
          } else if (MODE == 2u) {
            a1[j] = a1[j] + x[base + qq];
          } else {
            var v = dy[base + qq];
            if (RELU && !(y[base + qq] > 0.0)) { v = 0.0; }
            a1[j] = a1[j] + v;
            a2[j] = fma(v, x[base + qq] - k, a2[j]);
          }
        }
      }
    }
  }
  for (var h = LANES / 2u; h > 0u; h = h >> 1u) {
    for (var j = 0u; j < h; j = j + 1u) {
      a1[j] = a1[j] + a1[j + h];
      a2[j] = a2[j] + a2[j + h];
    }
  }
  let s1 = a1[0];
  let s2 = a2[0];
  ra[lid] = s1;
  rb[lid] = s2;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      ra[lid] = ra[lid] + ra[lid + s];
      if (MODE != 2u) { rb[lid] = rb[lid] + rb[lid + s]; }
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let t1 = ra[0];
    let t2 = rb[0];
    if (MODE == 0u) {
      let cnt = f32((n1 - n0) * (q1 - q0));
      let o = (c * p.nchunks + g) * 3u;
      let dm = t1 / cnt;
      partial[o] = cnt;
      partial[o + 1u] = k + dm;
      partial[o + 2u] = max(t2 - t1 * dm, 0.0);
      if (HAS_COUNT && g == 0u && c == 0u) { counter[0] = counter[0] + 1; }
    } else if (MODE == 2u) {
      partial[c * p.nchunks + g] = t1;
    } else {
      let o = (c * p.nchunks + g) * 2u;
      partial[o] = t1;
      partial[o + 1u] = t2;
    }
  }
}
