/**
 * The browser entry of wgdet: everything `mod.ts` exports, running on the browser platform (an
 * in-memory file system fed from `File`s, `fetch` and the synthetic generator; the browser's
 * image decoder), plus the browser-only helpers. Built by `deno task build:web` into
 * `web/dist/wgdet.js` (one ES module, WGSL inlined, no `node:` imports, no `Deno.*`).
 *
 * @example
 * ```ts ignore
 * import { backward, F, initGpu, Tensor, tidy } from "./wgdet.js";
 *
 * await initGpu();
 * const w = Tensor.from([0.5, -1, 2, 0], [2, 2], { requiresGrad: true });
 * const x = Tensor.from([1, 2, 3, 4], [2, 2]);
 * tidy(() => backward(F.sum(F.relu(F.matmul(x, w)))));
 * console.log(await w.grad!.toArray()); // Float32Array [4, 0, 6, 0]
 * ```
 *
 * @module
 */
export * from "./mod.ts";
export { platform, setPlatform } from "./lib/platform/mod.ts";
export type { Platform, RgbaImage } from "./lib/platform/mod.ts";
export {
  browserPlatform,
  clearFiles,
  listFiles,
  mountFile,
  NotFoundError,
  predecodePng,
} from "./lib/platform/browser.ts";
export { RunnerLogger } from "./lib/runner/logger.ts";
export {
  type FileLike,
  findDataset,
  type FoundDataset,
  mountFiles,
  mountUrls,
} from "./lib/datasets/browser_sources.ts";
