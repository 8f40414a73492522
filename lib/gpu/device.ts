/**
 * The project's WebGPU device: adapter selection, explicit limits and optional features.
 *
 * @module
 */
import { GpuUnavailableError } from "../utils/errors.ts";
import { platform } from "../platform/mod.ts";

/** What the runtime learned about the adapter and the device it requested. */
export interface GpuInfo {
  /** Adapter description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" or "NVIDIA H200". */
  adapterName: string;
  /** Adapter vendor from `GPUAdapterInfo` (may be empty). */
  vendor: string;
  /** Adapter architecture from `GPUAdapterInfo` (may be empty). */
  architecture: string;
  /** True for software adapters such as Mesa lavapipe: keep shapes tiny there. */
  isFallbackAdapter: boolean;
  /** The backend asked for through `DENO_WEBGPU_BACKEND`, if any. */
  backend: string | undefined;
  /**
   * Whether the register-blocked "direct" conv kernels (`conv2d_direct*.wgsl`) are used: only on
   * CPU adapters whose shader compiler handles them quickly (Mesa lavapipe: 22 ms), not on
   * SwiftShader (Chromium's CPU adapter), whose compiler does not finish them (device lost after
   * ~194 s); there the tiled kernels run. `WGDET_DIRECT_CONV=0|1` overrides.
   */
  directConv: boolean;
  /** Optional features enabled on the device (`shader-f16`, `timestamp-query`). */
  features: string[];
  /** The limits the device was created with (copied from the adapter). */
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxStorageBuffersPerShaderStage: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupSizeX: number;
    maxComputeWorkgroupsPerDimension: number;
    minUniformBufferOffsetAlignment: number;
    maxUniformBufferBindingSize: number;
  };
}

/** Options of {@linkcode requestGpuDevice}. */
export interface RequestDeviceOptions {
  /** Passed to `requestAdapter` (`"low-power"` or `"high-performance"`). */
  powerPreference?: GPUPowerPreference;
  /** Skip optional features even when the adapter has them (for testing fallbacks). */
  disableFeatures?: string[];
}

const LIMIT_KEYS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxUniformBufferBindingSize",
  "maxBindGroups",
] as const;

const OPTIONAL_FEATURES = ["shader-f16", "timestamp-query"] as const;

function envBackend(): string | undefined {
  // undefined without env permission: Deno itself still honours the variable
  return platform().env("DENO_WEBGPU_BACKEND") || undefined;
}

/** Whether the adapter gets the CPU-adapter "direct" conv kernels (see `GpuInfo.directConv`). */
export function directConvSuits(
  info: { vendor: string; architecture: string; description: string; device?: string },
  isFallbackAdapter: boolean,
): boolean {
  const forced = platform().env("WGDET_DIRECT_CONV");
  if (forced === "0" || forced === "1") return forced === "1";
  if (!isFallbackAdapter) return false;
  const text = `${info.vendor} ${info.architecture} ${info.description} ${info.device ?? ""}`;
  return !/swiftshader/i.test(text);
}

/**
 * Requests an adapter and a device with the adapter's limits (not the spec minimums) and the
 * optional features it offers. Throws {@linkcode GpuUnavailableError} when there is no adapter.
 */
export async function requestGpuDevice(
  opts: RequestDeviceOptions = {},
): Promise<{ device: GPUDevice; info: GpuInfo }> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new GpuUnavailableError();
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
  } catch (e) {
    throw new GpuUnavailableError(
      `${new GpuUnavailableError().message} (requestAdapter failed: ${(e as Error).message})`,
    );
  }
  if (!adapter) throw new GpuUnavailableError();
  const requiredLimits: Record<string, number> = {};
  for (const k of LIMIT_KEYS) {
    const v = (adapter.limits as unknown as Record<string, number>)[k];
    if (typeof v === "number") requiredLimits[k] = v;
  }
  const features = OPTIONAL_FEATURES.filter((f) =>
    adapter!.features.has(f) && !(opts.disableFeatures ?? []).includes(f)
  ) as GPUFeatureName[];
  const device = await adapter.requestDevice({
    label: "wgdet",
    requiredLimits,
    requiredFeatures: features,
  });
  const ainfo = adapter.info;
  const l = device.limits;
  const isFallbackAdapter = Boolean(
    (ainfo as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
      (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter,
  );
  const info: GpuInfo = {
    adapterName: ainfo.description || ainfo.device || ainfo.vendor || "unknown adapter",
    vendor: ainfo.vendor,
    architecture: ainfo.architecture,
    isFallbackAdapter,
    directConv: directConvSuits(ainfo, isFallbackAdapter),
    backend: envBackend(),
    features: [...features],
    limits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment,
      maxUniformBufferBindingSize: l.maxUniformBufferBindingSize,
    },
  };
  return { device, info };
}
