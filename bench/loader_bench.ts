/**
 * Loader throughput on real JPEGs: BCCD 640×480 → LoadImageFromFile → Resize(1333, 800) →
 * RandomFlip → Normalize → Pad(32) → DefaultFormatBundle → Collect, batches of 2, with 0, 1
 * and 2 Web Workers. Reports steady-state images/s (after the first batch, which includes
 * worker start-up) and the start-up time.
 */
import { buildDataloader } from "../lib/datasets/loader.ts";
import { buildDataset } from "../lib/datasets/dataset_wrappers.ts";
import type { BenchRecord } from "./_types.ts";
import { parseCli } from "../tools/_args.ts";

const BCCD = Deno.env.get("WGDET_BCCD") ??
  new URL("../../shared/data/bccd/BCCD/", import.meta.url).pathname;
const NORM = { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], to_rgb: true };

/** Runs the loader benchmark (fewer images with `fallback`). */
export async function run(opts: { fallback: boolean }): Promise<BenchRecord[]> {
  try {
    Deno.statSync(`${BCCD}/ImageSets/Main/trainval.txt`);
  } catch {
    console.log(`loader_bench: BCCD not found at ${BCCD} (set WGDET_BCCD); skipped`);
    return [];
  }
  const dataset = buildDataset({
    type: "XMLDataset",
    classes: ["RBC", "WBC", "Platelets"],
    img_prefix: BCCD,
    ann_file: `${BCCD}/ImageSets/Main/trainval.txt`,
    quiet: true,
    pipeline: [
      { type: "LoadImageFromFile" },
      { type: "LoadAnnotations", with_bbox: true },
      { type: "Resize", img_scale: [1333, 800], keep_ratio: true },
      { type: "RandomFlip", flip_ratio: 0.5 },
      { type: "Normalize", ...NORM },
      { type: "Pad", size_divisor: 32 },
      { type: "DefaultFormatBundle" },
      { type: "Collect", keys: ["img", "gt_bboxes", "gt_labels"] },
    ],
  });
  const batches = opts.fallback ? 10 : 24;
  const records: BenchRecord[] = [];
  let inProcess = NaN;
  for (const workers of [0, 1, 2]) {
    const loader = buildDataloader(dataset, {
      samples_per_gpu: 2,
      workers_per_gpu: workers,
      seed: 0,
      prefetch: 2,
    });
    const t0 = performance.now();
    let t1 = 0, n = 0, b = 0;
    for await (const batch of loader) {
      if (b === 0) t1 = performance.now();
      else n += batch.indices.length;
      if (++b > batches) break;
    }
    const t2 = performance.now();
    await loader.close();
    const ips = n / ((t2 - t1) / 1000);
    if (workers === 0) inProcess = ips;
    records.push({
      name: `loader BCCD 640x480→1333x800 batch 2, ${workers} worker${workers === 1 ? "" : "s"}`,
      value: ips,
      unit: "images/s",
      ...(workers > 0
        ? { peer: "in-process loader", peerValue: inProcess, ratio: ips / inProcess }
        : {}),
      notes: `first batch ${(t1 - t0).toFixed(0)} ms; ${navigator.hardwareConcurrency} CPUs`,
    });
  }
  return records;
}

if (import.meta.main) {
  const { values } = await parseCli({
    usage: "Usage: deno run -A bench/loader_bench.ts [--fallback]",
    options: { fallback: { type: "boolean" } },
  });
  for (const r of await run({ fallback: values.fallback === true })) {
    console.log(JSON.stringify(r));
  }
}
