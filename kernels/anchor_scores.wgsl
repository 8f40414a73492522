// Test-time scores of one pyramid level (spec §2.10), written into the concatenated buffer of all
// levels, from the level's logits cls [N, A*Cout, H, W] (row r = (y*W + x)*A + a):
//   MODE 0 (v2.0-2.17 top-k rule): vals[n*rows + start + r] = max over the C classes of the score
//   MODE 1 (v2.18+ rule): vals[(n*rows + start + r)*C + c] = score, or -1 when score <= score_thr
// score = sigmoid(x) (SIGMOID), or softmax over the Cout = C + 1 channels (background last).
override MODE: u32 = 0u;
override SIGMOID: bool = true;

struct Params { N: u32, HW: u32, A: u32, C: u32, rows: u32, start: u32, score_thr: f32, _p0: u32 }

@group(0) @binding(0) var<storage, read> cls: array<f32>;
@group(0) @binding(1) var<storage, read_write> vals: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

//#include _sigmoid.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let t = wg_index(wid, nwg) * 256u + lid;
  if (t >= p.N * p.A * p.HW) { return; }
  let s = t % p.HW;
  let a = (t / p.HW) % p.A;
  let n = t / (p.HW * p.A);
  let cout = select(p.C + 1u, p.C, SIGMOID);
  let base = (n * p.A + a) * cout * p.HW + s;
  let row = n * p.rows + p.start + s * p.A + a;
  var m = 0.0;
  var z = 1.0;
  if (!SIGMOID) {
    m = cls[base];
    for (var c = 1u; c < cout; c++) { m = max(m, cls[base + c * p.HW]); }
    z = 0.0;
    for (var c = 0u; c < cout; c++) { z += exp(cls[base + c * p.HW] - m); }
  }
  var best = 0.0;
  for (var c = 0u; c < p.C; c++) {
    let x = cls[base + c * p.HW];
    var sc: f32;
    if (SIGMOID) { sc = sigmoid(x); } else { sc = exp(x - m) / z; }
    if (MODE == 1u) {
      vals[row * p.C + c] = select(-1.0, sc, sc > p.score_thr);
    } else if (c == 0u || sc > best) {
      best = sc;
    }
  }
  if (MODE == 0u) { vals[row] = best; }
}
