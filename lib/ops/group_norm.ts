/**
 * GroupNorm over NCHW tensors (`kernels/group_norm*.wgsl`): statistics per (sample, group) with the
 * biased variance, per-channel affine weight and bias, and its backward pass.
 *
 * @module
 */
import statsSrc from "../../kernels/group_norm_stats.wgsl" with { type: "text" };
import gnSrc from "../../kernels/group_norm.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { defineKernel, kernelParams } from "../gpu/kernel_params.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor, shapeSize } from "../gpu/raw_tensor.ts";
import { channelSums } from "./batch_norm.ts";
import { checkBindingSize } from "./conv2d.ts";

const STATS_PARAMS = kernelParams([
  ["rows", "u32"],
  ["len", "u32"],
  ["hw", "u32"],
  ["groups", "u32"],
  ["cg", "u32"],
  ["eps", "f32"],
  ["_p0", "u32"],
  ["_p1", "u32"],
]);
/** `kernels/group_norm_stats.wgsl`. */
export const GROUP_NORM_STATS: KernelSpec = defineKernel(
  "group_norm_stats",
  statsSrc,
  STATS_PARAMS,
  [
    "x",
    "dy",
    "weight",
    "stats_in",
    "out",
  ],
);
const GN_PARAMS = kernelParams([
  ["total", "u32"],
  ["len", "u32"],
  ["hw", "u32"],
  ["channels", "u32"],
]);
/** `kernels/group_norm.wgsl`. */
export const GROUP_NORM: KernelSpec = defineKernel("group_norm", gnSrc, GN_PARAMS, [
  "x",
  "dy",
  "stats",
  "sums",
  "weight",
  "bias",
  "out",
]);

interface GnDims {
  n: number;
  c: number;
  hw: number;
  rows: number;
  len: number;
  cg: number;
}

function dims(x: RawTensor, groups: number): GnDims {
  if (x.shape.length < 2) {
    throw new TypeError(`Cannot run groupNorm on input ${fmtShape(x.shape)}: expected [N, C, ...]`);
  }
  const [n, c] = x.shape;
  if (n === 0) {
    throw new RangeError(
      `Cannot run groupNorm on an empty batch: input ${
        fmtShape(x.shape)
      } has batch size 0; skip the call for empty batches`,
    );
  }
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new TypeError(
      `Cannot run groupNorm on input ${
        fmtShape(x.shape)
      } with ${groups} groups: the ${c} channels must divide into the groups`,
    );
  }
  const hw = shapeSize(x.shape.slice(2));
  return { n, c, hw, rows: n * groups, len: (c / groups) * hw, cg: c / groups };
}

/** The result of {@linkcode groupNormForward}: the output and the [N·G, 2] (mean, rstd) rows. */
export interface GroupNormForwardResult {
  y: RawTensor;
  stats: RawTensor;
}

/** `y = (x − mean_g)/√(var_g + eps)·w[c] + b[c]` with statistics per sample and group. */
export function groupNormForward(
  x: RawTensor,
  groups: number,
  weight: RawTensor | null,
  bias: RawTensor | null,
  eps = 1e-5,
): GroupNormForwardResult {
  const d = dims(x, groups);
  for (const [t, what] of [[weight, "weight"], [bias, "bias"]] as const) {
    if (t && (t.size !== d.c || t.dtype !== "f32")) {
      throw new TypeError(
        `Cannot run groupNorm on input ${fmtShape(x.shape)}: ${what} has shape ${
          fmtShape(t.shape)
        }, expected [${d.c}] f32`,
      );
    }
  }
  checkBindingSize("groupNorm", "input", x.shape);
  const gpu = getGpu();
  const stats = gpu.empty([d.rows, 2], "f32", "group_norm_stats");
  gpu.dispatch(GROUP_NORM_STATS, {
    bindings: [x, x, x, x, stats],
    params: STATS_PARAMS.pack({ rows: d.rows, len: d.len, hw: d.hw, groups, cg: d.cg, eps }),
    overrides: { MODE: 0, HAS_W: 0 },
    workgroups: d.rows,
  });
  const y = gpu.empty(x.shape, "f32", "group_norm");
  gpu.dispatch(GROUP_NORM, {
    bindings: [x, x, stats, stats, weight ?? x, bias ?? x, y],
    params: GN_PARAMS.pack({ total: x.size, len: d.len, hw: d.hw, channels: d.c }),
    overrides: { MODE: 0, HAS_W: weight ? 1 : 0, HAS_B: bias ? 1 : 0 },
    workgroups: Math.ceil(x.size / 256),
  });
  return { y, stats };
}

/** GroupNorm gradients; null where not requested. */
export interface GroupNormGrads {
  dx: RawTensor | null;
  dw: RawTensor | null;
  db: RawTensor | null;
}

/** GroupNorm backward from `dy`, the input, the forward's stats and `weight` (null: 1). */
export function groupNormBackward(
  dy: RawTensor,
  x: RawTensor,
  stats: RawTensor,
  groups: number,
  weight: RawTensor | null,
  need: { dx?: boolean; dw?: boolean; db?: boolean } = {},
): GroupNormGrads {
  const d = dims(x, groups);
  const gpu = getGpu();
  let dx: RawTensor | null = null, dw: RawTensor | null = null, db: RawTensor | null = null;
  if (need.dx ?? true) {
    const sums = gpu.empty([d.rows, 2], "f32", "group_norm_sums");
    gpu.dispatch(GROUP_NORM_STATS, {
      bindings: [x, dy, weight ?? x, stats, sums],
      params: STATS_PARAMS.pack({ rows: d.rows, len: d.len, hw: d.hw, groups, cg: d.cg, eps: 0 }),
      overrides: { MODE: 1, HAS_W: weight ? 1 : 0 },
      workgroups: d.rows,
    });
    dx = gpu.empty(x.shape, "f32", "group_norm_dx");
    gpu.dispatch(GROUP_NORM, {
      bindings: [x, dy, stats, sums, weight ?? x, x, dx],
      params: GN_PARAMS.pack({ total: x.size, len: d.len, hw: d.hw, channels: d.c }),
      overrides: { MODE: 1, HAS_W: weight ? 1 : 0, HAS_B: 0 },
      workgroups: Math.ceil(x.size / 256),
    });
    sums.release();
  }
  if (need.dw) {
    const t = gpu.empty(x.shape, "f32", "group_norm_dyxhat");
    gpu.dispatch(GROUP_NORM, {
      bindings: [x, dy, stats, stats, x, x, t],
      params: GN_PARAMS.pack({ total: x.size, len: d.len, hw: d.hw, channels: d.c }),
      overrides: { MODE: 2, HAS_W: 0, HAS_B: 0 },
      workgroups: Math.ceil(x.size / 256),
    });
    dw = channelSums(t, "sum");
    t.release();
  }
  if (need.db) db = channelSums(dy, "sum");
  return { dx, dw, db };
}
