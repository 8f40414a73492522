// kernels/batch_norm_apply.wgsl with a residual added before the optional ReLU:
// y = act(BN(x) + residual), residual of x's shape (a ResNet block's shortcut), in the same pass.
// One more storage binding than batch_norm_apply.wgsl (9), so lib/ops/batch_norm.ts uses it only
// where the device allows 9 per stage.
override MODE: u32 = 0u;
override WG: u32 = 64u;
override HAS_W: bool = false;
override HAS_B: bool = false;
override RELU: bool = false;
const RES: bool = true;

struct Params {
  n: u32, channels: u32, hw: u32, nchunks: u32,
  segs: u32, seg_len: u32, planes: u32, _p0: u32,
  eps: f32, momentum: f32, _p1: f32, _p2: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(7) var<storage, read_write> saved: array<f32>;
@group(0) @binding(8) var<storage, read_write> y: array<f32>;
@group(0) @binding(9) var<uniform> p: Params;

fn residual_at(i: u32) -> f32 { return residual[i]; }

//#include _batch_norm_apply.wgsl
