// Online hard negative mining of mmdetection's SSDHead, one workgroup per image, no readback.
// Per image: positives are anchors with a label in [0, C), negatives those with label C; the
// value of an anchor is its cross-entropy times its label weight (mmdet's loss_cls_all).
// k = min(ratio · #pos, #neg) negatives with the largest values are kept (ties: lowest index
// first; the summed loss does not depend on which tied ones are taken). The output weight is the
// label weight for positives and kept negatives, 0 otherwise, so that
//   Σ CE · out_w = Σ pos CE·w + Σ top-k neg CE·w.
// The k-th largest value is found by a most-significant-bit-first search over order-preserving
// u32 keys of the f32 values (32 counting passes).
struct Params { n_img: u32, n_anchor: u32, num_classes: u32, ratio: u32 }

@group(0) @binding(0) var<storage, read> ce: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read> lw: array<f32>;
@group(0) @binding(3) var<storage, read_write> out_w: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<u32>; // [N, 2]: #pos, k
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> acc_a: atomic<u32>;
var<workgroup> acc_b: atomic<u32>;
var<workgroup> shared_a: u32;
var<workgroup> shared_b: u32;
var<workgroup> scan: array<u32, 256>;

fn key_of(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  if ((b & 0x80000000u) != 0u) {
    return ~b;
  }
  return b | 0x80000000u;
}

// Sum over the workgroup of `v` (every invocation must call it).
fn wg_sum(lid: u32, v: u32) -> u32 {
  if (lid == 0u) {
    atomicStore(&acc_a, 0u);
  }
  workgroupBarrier();
  atomicAdd(&acc_a, v);
  workgroupBarrier();
  if (lid == 0u) {
    shared_a = atomicLoad(&acc_a);
  }
  return workgroupUniformLoad(&shared_a);
}

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let n = wg_index(wid, nwg);
  if (n >= p.n_img) {
    return;
  }
  let A = p.n_anchor;
  let base = n * A;
  let C = i32(p.num_classes);
  var np = 0u;
  var nn = 0u;
  for (var i = lid; i < A; i += 256u) {
    let l = labels[base + i];
    if (l >= 0 && l < C) {
      np += 1u;
    } else if (l == C) {
      nn += 1u;
    }
  }
  let P = wg_sum(lid, np);
  if (lid == 0u) {
    atomicStore(&acc_b, 0u);
  }
  workgroupBarrier();
  atomicAdd(&acc_b, nn);
  workgroupBarrier();
  if (lid == 0u) {
    shared_b = atomicLoad(&acc_b);
  }
  let NN = workgroupUniformLoad(&shared_b);
  let k = min(P * p.ratio, NN);
  // T: the key of the k-th largest negative value
  var T = 0u;
  if (k > 0u) {
    for (var b = 0u; b < 32u; b++) {
      let cand = T | (1u << (31u - b));
      var c = 0u;
      for (var i = lid; i < A; i += 256u) {
        if (labels[base + i] == C && key_of(ce[base + i] * lw[base + i]) >= cand) {
          c += 1u;
        }
      }
      if (wg_sum(lid, c) >= k) {
        T = cand;
      }
    }
  }
  // ties at T: take the first (k − #greater) by anchor index, chunk by chunk
  let chunk = (A + 255u) / 256u;
  let lo = min(lid * chunk, A);
  let hi = min(lo + chunk, A);
  var gt = 0u;
  var eq = 0u;
  if (k > 0u) {
    for (var i = lo; i < hi; i++) {
      if (labels[base + i] == C) {
        let kk = key_of(ce[base + i] * lw[base + i]);
        if (kk > T) {
          gt += 1u;
        } else if (kk == T) {
          eq += 1u;
        }
      }
    }
  }
  let G = wg_sum(lid, gt);
  scan[lid] = eq;
  workgroupBarrier();
  var before = 0u;
  for (var t = 0u; t < lid; t++) {
    before += scan[t];
  }
  let ties = k - min(G, k);
  var taken = 0u;
  for (var i = lo; i < hi; i++) {
    let l = labels[base + i];
    var w = 0.0;
    if (l >= 0 && l < C) {
      w = lw[base + i];
    } else if (l == C && k > 0u) {
      let kk = key_of(ce[base + i] * lw[base + i]);
      if (kk > T) {
        w = lw[base + i];
      } else if (kk == T) {
        if (before + taken < ties) {
          w = lw[base + i];
        }
        taken += 1u;
      }
    }
    out_w[base + i] = w;
  }
  if (lid == 0u) {
    stats[2u * n] = P;
    stats[2u * n + 1u] = k;
  }
}
