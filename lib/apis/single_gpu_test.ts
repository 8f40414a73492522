/**
 * `singleGpuTest` (mmdet's `single_gpu_test`), apart from `test.ts` so that `distributed.ts`
 * (which `test.ts` uses for multi-GPU runs) can use it without an import cycle.
 *
 * @module
 */
import { Tensor, tidy } from "../autograd/tensor.ts";
import type { DataLoader } from "../datasets/loader.ts";
import type { Batch } from "../datasets/types.ts";
import type { BaseDetector, BboxResult, ImgMeta } from "../models/detectors/base.ts";

/** Options of {@linkcode singleGpuTest}. */
export interface SingleGpuTestOptions {
  /** Boxes in original-image pixels (default true, as mmdet's test). */
  rescale?: boolean;
  /** Called after each batch with the number of images done. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Runs the detector over every batch of `loader` (mmdet `single_gpu_test`): per image, per class
 * `[m, 5]` detections. One readback per image (the final detections).
 */
export async function singleGpuTest(
  det: BaseDetector,
  loader: DataLoader,
  opts: SingleGpuTestOptions = {},
): Promise<BboxResult[]> {
  det.eval();
  const results: BboxResult[] = [];
  let done = 0;
  for await (const batch of loader as AsyncIterable<Batch>) {
    const imgs = Array.isArray(batch.img) ? batch.img : [batch.img];
    const metas =
      (Array.isArray(batch.img_metas[0]) ? batch.img_metas : [batch.img_metas]) as ImgMeta[][];
    const ts = tidy(() => imgs.map((h) => Tensor.from(h.data, h.shape, { label: "img" })));
    try {
      const res = await det.forwardTest(ts, metas, { rescale: opts.rescale ?? true });
      results.push(...res);
    } finally {
      for (const t of ts) t.dispose();
    }
    done += metas[0].length;
    opts.onProgress?.(done, loader.dataset.length);
  }
  return results;
}
