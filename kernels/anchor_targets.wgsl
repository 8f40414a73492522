// The normalisers of AnchorHead.get_targets (spec §2.6 step 9), kept on the GPU for the losses:
//   num_total_pos = sum over images of max(#positives, 1), num_total_neg likewise,
// from the per-image counts (positives, negatives) written by max_iou_assign.wgsl. One thread.
struct Params { n_img: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> counts: array<u32>;
@group(0) @binding(1) var<storage, read_write> num_pos: array<f32>;
@group(0) @binding(2) var<storage, read_write> num_neg: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(1)
fn main() {
  var pos = 0u;
  var neg = 0u;
  for (var n = 0u; n < p.n_img; n++) {
    pos += max(counts[2u * n], 1u);
    neg += max(counts[2u * n + 1u], 1u);
  }
  num_pos[0] = f32(pos);
  num_neg[0] = f32(neg);
}
