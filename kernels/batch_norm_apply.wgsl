// BatchNorm forward normalisation with the affine transform and an optional ReLU fused; grid
// [nchunks, channels] with the chunks of kernels/batch_norm_moments.wgsl. Every workgroup of
// channel c merges the channel's chunk moments (same order, so every workgroup gets the same
// numbers), and the chunk-0 workgroup writes saved = [mean, invstd, scale, shift] (row-major
// [4, C]) and, in training, updates the running statistics in place (unbiased variance, as
// PyTorch).
// MODE 0: training (batch statistics from `partial`); MODE 1: eval (running statistics).
override MODE: u32 = 0u;
override WG: u32 = 64u;
override HAS_W: bool = false;
override HAS_B: bool = false;
override RELU: bool = false;
const RES: bool = false;

struct Params {
  n: u32, channels: u32, hw: u32, nchunks: u32,
  segs: u32, seg_len: u32, planes: u32, _p0: u32,
  eps: f32, momentum: f32, _p1: f32, _p2: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(6) var<storage, read_write> saved: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

fn residual_at(i: u32) -> f32 { return 0.0; }

//#include _batch_norm_apply.wgsl
