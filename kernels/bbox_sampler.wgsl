// Samplers of assigned boxes (mmdetection's PseudoSampler and RandomSampler) for every image of a
// batch at once. Input: assign [N, B] (gt_inds, max_overlaps bits) and the per-image counts of
// available positives / negatives [N, 2]. Output: sampled [N, B] u32 (0 unused, 1 positive,
// 2 negative) and the sampled counts [N, 2].
//   PASS 0 (PseudoSampler): every positive (gt_inds > 0) and every negative (gt_inds == 0).
// RandomSampler draws, per image and category c (0 positives, 1 negatives), k_c boxes without
// replacement: k_pos = min(floor(num * pos_fraction), #pos), k_neg = min(num - k_pos (capped at
// floor(neg_pos_ub * max(k_pos, 1)) when neg_pos_ub >= 0), #neg). Each candidate gets the key
// perm_seed(j), a bijection of u32 chosen by (seed, image, category), and the k_c smallest keys
// win (a pseudo-random subset; keys are distinct, so exactly k_c). The k-th key is found by a
// two-round radix select on 16-bit digits:
//   PASS 1: hist[(n, c), high digit] += 1 over candidates
//   PASS 2: workgroup per (n, c): k_c, the high digit holding the k-th key and the rank left in it
//   PASS 3: hist2[(n, c), low digit] += 1 over candidates in that high digit
//   PASS 4: workgroup per (n, c): the threshold key (high << 16 | low digit of the k-th key)
//   PASS 5: sampled = c + 1 where key <= threshold
//   PASS 6: recount the available positives / negatives into zeroed counts (after add_gt)
override PASS: u32 = 0u;

struct Params {
  n_img: u32, num_boxes: u32, num: u32, num_pos: u32,
  neg_pos_ub: f32, seed: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read> assign: array<vec2<i32>>;
@group(0) @binding(1) var<storage, read> avail: array<u32>;
@group(0) @binding(2) var<storage, read_write> hist: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> hist2: array<atomic<u32>>;
// per (n, c): k, high digit, rank left in it, threshold key (or 0xffffffff: all, k == 0: none)
@group(0) @binding(4) var<storage, read_write> sel: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read_write> sampled: array<u32>;
@group(0) @binding(6) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(7) var<uniform> p: Params;

var<workgroup> part: array<u32, 256>;
var<workgroup> fsel: vec2<u32>;

// murmur3's finaliser: a bijection of u32
fn fmix(x: u32) -> u32 {
  var h = x;
  h ^= h >> 16u;
  h *= 0x85ebca6bu;
  h ^= h >> 13u;
  h *= 0xc2b2ae35u;
  h ^= h >> 16u;
  return h;
}

fn key_of(n: u32, c: u32, j: u32) -> u32 {
  let s0 = fmix(p.seed ^ fmix(n * 2u + c + 0x9e3779b9u));
  let s1 = fmix(s0 + 0x632be5abu);
  return fmix(fmix(j ^ s0) + s1);
}

// category of a box: 0 positive, 1 negative, 2 neither
fn category(gi: i32) -> u32 {
  if (gi > 0) { return 0u; }
  if (gi == 0) { return 1u; }
  return 2u;
}

fn k_of(n: u32, c: u32) -> u32 {
  let kp = min(p.num_pos, avail[2u * n]);
  if (c == 0u) { return kp; }
  var kn = p.num - kp;
  if (p.neg_pos_ub >= 0.0) {
    kn = min(kn, u32(floor(p.neg_pos_ub * f32(max(kp, 1u)))));
  }
  return min(kn, avail[2u * n + 1u]);
}

// Workgroup select over 65536 bins h[base ..]: the bin holding the r-th (1-based) element and the
// rank left inside it.
fn select_bin(base: u32, r: u32, lid: u32, second: bool) -> vec2<u32> {
  var s = 0u;
  for (var b = 0u; b < 256u; b++) {
    if (second) { s += atomicLoad(&hist2[base + lid * 256u + b]); } else { s += atomicLoad(&hist[base + lid * 256u + b]); }
  }
  part[lid] = s;
  workgroupBarrier();
  // inclusive scan
  for (var o = 1u; o < 256u; o <<= 1u) {
    var v = 0u;
    if (lid >= o) { v = part[lid - o]; }
    workgroupBarrier();
    part[lid] += v;
    workgroupBarrier();
  }
  var found = vec2<u32>(0xffffffffu, 0u);
  var before = 0u;
  if (lid > 0u) { before = part[lid - 1u]; }
  if (before < r && r <= part[lid]) {
    var cum = before;
    for (var b = 0u; b < 256u; b++) {
      var h = 0u;
      if (second) { h = atomicLoad(&hist2[base + lid * 256u + b]); } else { h = atomicLoad(&hist[base + lid * 256u + b]); }
      if (cum + h >= r) {
        found = vec2<u32>(lid * 256u + b, r - cum);
        break;
      }
      cum += h;
    }
  }
  return found;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let w = wg_index(wid, nwg);
  if (PASS == 2u || PASS == 4u) {
    if (w >= p.n_img * 2u) { return; }
    let n = w / 2u;
    let c = w % 2u;
    var st = sel[w];
    if (PASS == 2u) {
      let k = k_of(n, c);
      if (lid == 0u) { atomicStore(&counts[2u * n + c], k); }
      st = vec4<u32>(k, 0u, 0u, 0u);
      if (k == avail[2u * n + c]) { st.w = 0xffffffffu; }
    }
    let done = st.x == 0u || st.w == 0xffffffffu;
    var r = select(st.z, st.x, PASS == 2u);
    if (done) { r = 0u; }
    if (lid == 0u) { fsel = vec2<u32>(0xffffffffu, 0u); }
    workgroupBarrier();
    let f = select_bin(w * 65536u, r, lid, PASS == 4u);
    if (f.x != 0xffffffffu) { fsel = f; }
    workgroupBarrier();
    if (lid == 0u) {
      let g = fsel;
      if (g.x == 0xffffffffu) {
        sel[w] = st;
      } else if (PASS == 2u) {
        sel[w] = vec4<u32>(st.x, g.x, g.y, 0u);
      } else {
        sel[w] = vec4<u32>(st.x, st.y, st.z, (st.y << 16u) | g.x);
      }
    }
    return;
  }
  let t = w * 256u + lid;
  if (t >= p.n_img * p.num_boxes) { return; }
  let n = t / p.num_boxes;
  let j = t % p.num_boxes;
  let c = category(assign[t].x);
  if (PASS == 0u) {
    sampled[t] = select(0u, c + 1u, c < 2u);
    return;
  }
  if (PASS == 6u) {
    if (c < 2u) { atomicAdd(&counts[2u * n + c], 1u); }
    return;
  }
  if (c >= 2u) {
    if (PASS == 5u) { sampled[t] = 0u; }
    return;
  }
  let key = key_of(n, c, j);
  let b = (n * 2u + c) * 65536u;
  if (PASS == 1u) {
    atomicAdd(&hist[b + (key >> 16u)], 1u);
    return;
  }
  let st = sel[n * 2u + c];
  if (PASS == 3u) {
    if (st.x != 0u && st.w != 0xffffffffu && (key >> 16u) == st.y) {
      atomicAdd(&hist2[b + (key & 0xffffu)], 1u);
    }
    return;
  }
  // PASS 5
  var take = false;
  if (st.w == 0xffffffffu) { take = st.x > 0u; } else if (st.x > 0u) { take = key <= st.w; }
  sampled[t] = select(0u, c + 1u, take);
}
