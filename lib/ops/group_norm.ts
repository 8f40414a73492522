/**
 * GroupNorm over NCHW tensors (`kernels/group_norm*.wgsl`): statistics per (sample, group) with the
 * biased variance, per-channel affine weight and bias, and its backward pass.
 *
 * @module
 */
import forwardSrc from "../../kernels/group_norm_forward.wgsl" with { type: "text" };
import backwardSrc from "../../kernels/group_norm_backward.wgsl" with { type: "text" };
import wsumSrc from "../../kernels/group_norm_wsum.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/kernel.ts";
import { defineKernel, kernelParams } from "../gpu/kernel_params.ts";
import { getGpu } from "../gpu/runtime.ts";
import { fmtShape, type RawTensor, shapeSize } from "../gpu/raw_tensor.ts";
import { checkBindingSize } from "./conv2d.ts";

const FWD_PARAMS = kernelParams([
  ["rows", "u32"],
  ["len", "u32"],
  ["hw", "u32"],
  ["groups", "u32"],
  ["cg", "u32"],
  ["_p0", "u32"],
  ["_p1", "u32"],
  ["eps", "f32"],
]);
/** `kernels/group_norm_forward.wgsl`. */
export const GROUP_NORM_FORWARD: KernelSpec = defineKernel(
  "group_norm_forward",
  forwardSrc,
  FWD_PARAMS,
  ["x", "weight", "bias", "stats", "y"],
);
const BWD_PARAMS = kernelParams([
  ["rows", "u32"],
  ["len", "u32"],
  ["hw", "u32"],
  ["groups", "u32"],
  ["cg", "u32"],
  ["_p0", "u32"],
  ["_p1", "u32"],
  ["_p2", "u32"],
]);
/** `kernels/group_norm_backward.wgsl`. */
export const GROUP_NORM_BACKWARD: KernelSpec = defineKernel(
  "group_norm_backward",
  backwardSrc,
  BWD_PARAMS,
  ["dy", "x", "y", "stats", "weight", "dx", "part"],
);
const WSUM_PARAMS = kernelParams([
  ["n", "u32"],
  ["channels", "u32"],
  ["_p0", "u32"],
  ["_p1", "u32"],
]);
/** `kernels/group_norm_wsum.wgsl`. */
export const GROUP_NORM_WSUM: KernelSpec = defineKernel(
  "group_norm_wsum",
  wsumSrc,
  WSUM_PARAMS,
  ["part", "dw", "db"],
);

/**
 * The per-adapter reduction shape: on a software adapter rows up to 8,192 values are added up by
 * one thread each (no workgroup reduction, which costs a fixed 15–30 µs per workgroup there); on
 * a GPU, or for longer rows, one 256-thread workgroup per row.
 */
function gnShape(d: GnDims): { serial: boolean; wg: number; workgroups: number } {
  const serial = getGpu().info.isFallbackAdapter && d.len <= 8192;
  const wg = serial ? 64 : 256;
  return { serial, wg, workgroups: serial ? Math.ceil(d.rows / wg) : d.rows };
}

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

/**
 * `y = (x − mean_g)/√(var_g + eps)·w[c] + b[c]` (then a ReLU with `act: "relu"`) with statistics
 * per sample and group, in one dispatch.
 */
export function groupNormForward(
  x: RawTensor,
  groups: number,
  weight: RawTensor | null,
  bias: RawTensor | null,
  eps = 1e-5,
  act: "none" | "relu" = "none",
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
  const sh = gnShape(d);
  const stats = gpu.empty([d.rows, 2], "f32", "group_norm_stats");
  const y = gpu.empty(x.shape, "f32", "group_norm");
  gpu.dispatch(GROUP_NORM_FORWARD, {
    bindings: [x, weight ?? x, bias ?? x, stats, y],
    params: FWD_PARAMS.pack({ rows: d.rows, len: d.len, hw: d.hw, groups, cg: d.cg, eps }),
    overrides: {
      SERIAL: sh.serial ? 1 : 0,
      WG: sh.wg,
      HAS_W: weight ? 1 : 0,
      HAS_B: bias ? 1 : 0,
      RELU: act === "relu" ? 1 : 0,
    },
    workgroups: sh.workgroups,
  });
  return { y, stats };
}

/** GroupNorm gradients; null where not requested. */
export interface GroupNormGrads {
  dx: RawTensor | null;
  dw: RawTensor | null;
  db: RawTensor | null;
}

/**
 * GroupNorm backward from `dy`, the input, the forward's stats and `weight` (null: 1); with `y`
 * (the forward's output of a fused ReLU) `dy` is masked by `y > 0` first. Two dispatches: the
 * per-row pass (dx and per-sample channel sums), then the batch sum for grad_w / grad_b.
 */
export function groupNormBackward(
  dy: RawTensor,
  x: RawTensor,
  stats: RawTensor,
  groups: number,
  weight: RawTensor | null,
  need: { dx?: boolean; dw?: boolean; db?: boolean } = {},
  reluOut: RawTensor | null = null,
): GroupNormGrads {
  const d = dims(x, groups);
  const gpu = getGpu();
  const sh = gnShape(d);
  const needDx = need.dx ?? true;
  const dx = needDx ? gpu.empty(x.shape, "f32", "group_norm_dx") : null;
  const part = gpu.empty([d.n * d.c * 2], "f32", "group_norm_part");
  const spares: RawTensor[] = [];
  const spare = () => {
    const t = gpu.empty([1], "f32", "gn_unused");
    spares.push(t);
    return t;
  };
  gpu.dispatch(GROUP_NORM_BACKWARD, {
    bindings: [dy, x, reluOut ?? x, stats, weight ?? x, dx ?? spare(), part],
    params: BWD_PARAMS.pack({ rows: d.rows, len: d.len, hw: d.hw, groups, cg: d.cg }),
    overrides: {
      SERIAL: sh.serial ? 1 : 0,
      WG: sh.wg,
      HAS_W: weight ? 1 : 0,
      RELU: reluOut ? 1 : 0,
      NEED_DX: needDx ? 1 : 0,
    },
    workgroups: sh.workgroups,
  });
  let dw: RawTensor | null = null, db: RawTensor | null = null;
  if (need.dw || need.db) {
    dw = need.dw ? gpu.empty([d.c], "f32", "group_norm_dw") : null;
    db = need.db ? gpu.empty([d.c], "f32", "group_norm_db") : null;
    gpu.dispatch(GROUP_NORM_WSUM, {
      bindings: [part, dw ?? spare(), db ?? spare()],
      params: WSUM_PARAMS.pack({ n: d.n, channels: d.c }),
      overrides: { NEED_DW: dw ? 1 : 0, NEED_DB: db ? 1 : 0 },
      workgroups: Math.ceil(d.c / 64),
    });
  }
  part.release();
  for (const t of spares) t.release();
  return { dx, dw, db };
}
