/**
 * wgdet — anchor-based object detection (RetinaNet and kin) trained, evaluated and run in
 * TypeScript on Deno, with every tensor operation a WGSL compute shader on WebGPU. mmdetection's
 * design and numbers: registries, configs with `_base_`, a hook-driven runner, heads that own
 * anchors, targets and losses.
 *
 * @example
 * ```ts ignore
 * import { backward, F, initGpu, Tensor, tidy } from "./mod.ts";
 *
 * await initGpu(); // throws GpuUnavailableError (with the fix) when there is no adapter
 * const w = Tensor.from([0.5, -1, 2, 0], [2, 2], { requiresGrad: true });
 * const x = Tensor.from([1, 2, 3, 4], [2, 2]);
 * tidy(() => backward(F.sum(F.relu(F.matmul(x, w)))));
 * console.log(await w.grad!.toArray()); // Float32Array [4, 0, 6, 0]
 * ```
 *
 * @module
 */

// utils
export { Registry, type TypedCfg } from "./lib/utils/registry.ts";
export { ConfigError, DataError, GpuUnavailableError, NonFiniteLossError } from "./lib/utils/errors.ts";
export { VERSION } from "./lib/utils/version.ts";

// gpu runtime
export { type GpuInfo, requestGpuDevice, type RequestDeviceOptions } from "./lib/gpu/device.ts";
export { type Binding, type DispatchArgs, getGpu, Gpu, hasGpu, initGpu, type RuntimeStats } from "./lib/gpu/runtime.ts";
export { type KernelSpec, KernelError } from "./lib/gpu/kernel.ts";
export { type DType, type HostArray, RawTensor } from "./lib/gpu/raw_tensor.ts";
export { type PoolStats } from "./lib/gpu/pool.ts";

// tensors and autograd
export { type GradNode, keep, Tensor, type TensorOptions, tidy } from "./lib/autograd/tensor.ts";
export { backward, type GradFn, isGradEnabled, noGrad, registerGradient } from "./lib/autograd/tape.ts";
/** Differentiable tensor functions (`F.add`, `F.matmul`, `F.sigmoid`, …), like `torch.nn.functional`. */
export * as F from "./lib/autograd/functional.ts";

// nn
export { type HostTensor, type LoadStateDictOptions, type LoadStateDictResult, Module, ModuleList } from "./lib/nn/module.ts";
