/**
 * Error classes that callers catch by type.
 *
 * @module
 */

/** Thrown when no WebGPU adapter can be found; the CLI turns it into exit code 2. */
export class GpuUnavailableError extends Error {
  /** Uses `message`, or by default one that explains how to install a WebGPU driver. */
  constructor(message?: string) {
    super(
      message ??
        "Cannot find a WebGPU adapter: install a GPU driver (Vulkan, Metal or DX12), or for a " +
          'software adapter on Debian/Ubuntu run "apt-get install -y mesa-vulkan-drivers libvulkan1"; ' +
          "DENO_WEBGPU_BACKEND selects the backend (vulkan, gl, metal, dx12)",
    );
    this.name = "GpuUnavailableError";
  }
}

/** Thrown when a config file or key is wrong; names the file and key path. */
export class ConfigError extends Error {
  /** Creates the error with `message`. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Thrown when training produced a non-finite loss; the last good checkpoint is kept. */
export class NonFiniteLossError extends Error {
  /** Creates the error with `message`. */
  constructor(message: string) {
    super(message);
    this.name = "NonFiniteLossError";
  }
}

/** Thrown for malformed input data (annotation files, images); names the file and entry. */
export class DataError extends Error {
  /** Creates the error with `message`. */
  constructor(message: string) {
    super(message);
    this.name = "DataError";
  }
}
