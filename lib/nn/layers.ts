/**
 * Parameter-free layers and containers: `ReLU`, `MaxPool2d`, `Sequential`, and mmcv's
 * `build_activation_layer`.
 *
 * @module
 */
import { maxPool2d } from "../autograd/cnn.ts";
import * as F from "../autograd/functional.ts";
import type { Tensor } from "../autograd/tensor.ts";
import { Module } from "./module.ts";

/** A module with a one-tensor forward (what {@linkcode Sequential} chains). */
export interface Forward1 extends Module {
  /** Maps one tensor to one tensor. */
  forward(x: Tensor): Tensor;
}

/** `max(x, 0)`. */
export class ReLU extends Module {
  /** Elementwise ReLU. */
  forward(x: Tensor): Tensor {
    return F.relu(x);
  }
}

/** Options of {@linkcode MaxPool2d} (PyTorch's arguments, camelCase). */
export interface MaxPool2dOptions {
  /** Square window size. */
  kernelSize: number;
  /** Default: `kernelSize`. */
  stride?: number;
  /** Implicit −∞ padding on each side (default 0). */
  padding?: number;
  /** Round the output size up instead of down (default false). */
  ceilMode?: boolean;
}

/** 2-D max pooling over `[N, C, H, W]` (padding counts as −∞, as PyTorch). */
export class MaxPool2d extends Module {
  /** The options with defaults filled in. */
  readonly opts: Required<MaxPool2dOptions>;
  /** Fills in PyTorch's defaults (`stride = kernelSize`, no padding, floor mode). */
  constructor(opts: MaxPool2dOptions) {
    super();
    this.opts = {
      kernelSize: opts.kernelSize,
      stride: opts.stride ?? opts.kernelSize,
      padding: opts.padding ?? 0,
      ceilMode: opts.ceilMode ?? false,
    };
  }
  /** `[N, C, H, W]` → `[N, C, H', W']`. */
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.opts);
  }
}

/**
 * Modules applied in order, registered as `"0"`, `"1"`, … (PyTorch `nn.Sequential`), so a
 * ResNet shortcut's keys are `downsample.0.weight` and `downsample.1.running_mean`.
 */
export class Sequential extends Module {
  /** The modules, in order. */
  readonly items: Forward1[] = [];
  /** Registers `items` as children `"0"`, `"1"`, …. */
  constructor(items: Forward1[] = []) {
    super();
    for (const m of items) this.push(m);
  }
  /** Appends a module. */
  push(m: Forward1): void {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
  }
  /** Number of modules. */
  get length(): number {
    return this.items.length;
  }
  /** Applies every module in order. */
  forward(x: Tensor): Tensor {
    for (const m of this.items) x = m.forward(x);
    return x;
  }
}

/** mmcv's `act_cfg`. Only ReLU is supported (`inplace` is accepted and ignored). */
export interface ActCfg {
  type: string;
  inplace?: boolean;
  [key: string]: unknown;
}

/**
 * mmcv `build_activation_layer` for `{type: "ReLU"}`.
 *
 * @throws {RangeError} For other activation types.
 */
export function buildActivationLayer(cfg: ActCfg): ReLU {
  if (cfg?.type !== "ReLU") {
    throw new RangeError(
      `Cannot build activation "${cfg?.type}": only "ReLU" is supported: set act_cfg to {type: "ReLU"} or null`,
    );
  }
  return new ReLU();
}
