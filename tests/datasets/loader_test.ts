import { assert } from "../_assert.ts";
import { stackPadded } from "../../lib/datasets/collate.ts";
import { CustomDataset } from "../../lib/datasets/custom.ts";
import { buildDataset } from "../../lib/datasets/dataset_wrappers.ts";
import { buildDataloader } from "../../lib/datasets/loader.ts";
import { groupSamplerIndices, groupSamplerLength } from "../../lib/datasets/samplers.ts";
import {
  generateShapesDataset,
  shapesDatasetConfig,
  type ShapesDatasetInfo,
} from "../../lib/datasets/synthetic.ts";
import type { Batch, HostTensor, ImgMeta } from "../../lib/datasets/types.ts";
import { DataError } from "../../lib/utils/errors.ts";
import { Rng } from "../../lib/utils/rng.ts";
import { writeSolidPng } from "./_data.ts";

const NORM = { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], to_rgb: true };
const TRAIN = [
  { type: "LoadImageFromFile" },
  { type: "LoadAnnotations", with_bbox: true },
  { type: "Resize", img_scale: [[96, 64], [96, 80]], multiscale_mode: "range", keep_ratio: true },
  { type: "RandomFlip", flip_ratio: 0.5 },
  { type: "Normalize", ...NORM },
  { type: "Pad", size_divisor: 32 },
  { type: "DefaultFormatBundle" },
  { type: "Collect", keys: ["img", "gt_bboxes", "gt_labels"] },
];

const dir = await Deno.makeTempDir({ prefix: "wgdet_loader_" });
const info: ShapesDatasetInfo = await generateShapesDataset({
  root: dir,
  numTrain: 10,
  numVal: 3,
  imgSize: 64,
  objectSize: [12, 32],
  seed: 5,
});
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

/** A dataset of landscape and portrait entries (no images needed for sampling tests). */
function aspectDataset(): CustomDataset {
  const infos = Array.from({ length: 11 }, (_, i) => ({
    filename: `${i}.png`,
    width: i % 3 === 0 ? 40 : 60,
    height: i % 3 === 0 ? 60 : 40,
    ann: { bboxes: [[0, 0, 5, 5]], labels: [0] },
  }));
  return new CustomDataset({
    classes: ["a"],
    data_infos: infos,
    filter_empty_gt: false,
    warn: () => {},
  });
}

async function collect(loader: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader) out.push(b);
  return out;
}

Deno.test("groupSamplerIndices() fills every batch from one aspect group, padding groups by re-draws", () => {
  const ds = aspectDataset(); // 4 portrait, 7 landscape
  const idx = groupSamplerIndices(ds.flag, 3, new Rng(1));
  assert.equal(idx.length, groupSamplerLength(ds.flag, 3));
  assert.equal(idx.length, 6 + 9);
  for (let b = 0; b < idx.length; b += 3) {
    const groups = new Set(idx.slice(b, b + 3).map((i) => ds.flag[i]));
    assert.equal(groups.size, 1, `batch ${idx.slice(b, b + 3)}`);
  }
  for (let i = 0; i < ds.length; i++) assert.ok(idx.includes(i), `image ${i} missing`);
});

Deno.test("DataLoader gives the same order for the same seed and epoch, and another for another seed or epoch", () => {
  const ds = aspectDataset();
  const a = buildDataloader(ds, { samples_per_gpu: 2, seed: 7 });
  const b = buildDataloader(ds, { samples_per_gpu: 2, seed: 7 });
  const c = buildDataloader(ds, { samples_per_gpu: 2, seed: 8 });
  assert.deepEqual(a.batchIndices(0), b.batchIndices(0));
  assert.notDeepEqual(a.batchIndices(0), c.batchIndices(0));
  assert.notDeepEqual(a.batchIndices(0), a.batchIndices(1));
  assert.equal(a.len(), a.batchIndices(0).length);
  assert.equal(a.len(), (4 + 8) / 2);
  const seq = buildDataloader(ds, { samples_per_gpu: 4, shuffle: false });
  assert.deepEqual(seq.batchIndices(0), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]);
  assert.equal(seq.len(), 3);
  assert.equal(
    buildDataloader(ds, { samples_per_gpu: 4, shuffle: false, drop_last: true }).len(),
    2,
  );
});

Deno.test("stackPadded() zero-pads images bottom/right to the batch maximum", () => {
  const a: HostTensor = { data: Float32Array.from([1, 2, 3, 4]), shape: [1, 2, 2] };
  const b: HostTensor = { data: Float32Array.from([5, 6, 7]), shape: [1, 1, 3] };
  const s = stackPadded([a, b]);
  assert.deepEqual(s.shape, [2, 1, 2, 3]);
  assert.deepEqual([...s.data], [1, 2, 0, 3, 4, 0, 5, 6, 7, 0, 0, 0]);
});

Deno.test("DataLoader batches pipeline outputs into one padded NCHW tensor with metas and boxes", async () => {
  const ds = buildDataset(shapesDatasetConfig(info, "train", TRAIN));
  const loader = buildDataloader(ds, { samples_per_gpu: 2, seed: 1 });
  const batches = await collect(loader);
  assert.equal(batches.length, loader.len());
  for (const b of batches) {
    const t = b.img as HostTensor;
    assert.equal(t.shape[0], 2);
    assert.equal(t.shape[1], 3);
    const metas = b.img_metas as ImgMeta[];
    assert.equal(metas.length, 2);
    for (const m of metas) {
      assert.ok(m.pad_shape![0] <= t.shape[2] && m.pad_shape![1] <= t.shape[3]);
      assert.equal(m.pad_shape![0] % 32, 0);
    }
    assert.equal(b.gt_bboxes!.length, 2);
    assert.ok(b.gt_labels![0] instanceof Int32Array);
  }
  assert.equal(loader.epoch, 1);
});

Deno.test("DataLoader with 1 and 2 Web Workers gives exactly the in-process batches", async () => {
  const ds = buildDataset(shapesDatasetConfig(info, "train", TRAIN));
  const ref = await collect(buildDataloader(ds, { samples_per_gpu: 2, seed: 3 }));
  for (const workers of [1, 2]) {
    const loader = buildDataloader(ds, {
      samples_per_gpu: 2,
      seed: 3,
      workers_per_gpu: workers,
      prefetch: 2,
    });
    const got = await collect(loader);
    await loader.close();
    assert.equal(got.length, ref.length);
    got.forEach((b, i) => {
      assert.deepEqual(b.indices, ref[i].indices);
      assert.deepEqual((b.img as HostTensor).shape, (ref[i].img as HostTensor).shape);
      assert.deepEqual((b.img as HostTensor).data, (ref[i].img as HostTensor).data);
      assert.deepEqual(b.gt_bboxes, ref[i].gt_bboxes);
      assert.deepEqual(b.gt_labels, ref[i].gt_labels);
      assert.deepEqual(b.img_metas, ref[i].img_metas);
    });
  }
});

Deno.test("DataLoader workers survive an early break and persistent workers serve several epochs", async () => {
  const ds = buildDataset(shapesDatasetConfig(info, "train", TRAIN));
  const loader = buildDataloader(ds, {
    samples_per_gpu: 1,
    seed: 2,
    workers_per_gpu: 2,
    persistent_workers: true,
  });
  for await (const _ of loader) break;
  const second = await collect(loader);
  assert.equal(second.length, loader.len());
  await loader.close();
  await loader.close();
});

Deno.test("DataLoader test mode with MultiScaleFlipAug yields one tensor and meta list per augmentation", async () => {
  const test = [
    { type: "LoadImageFromFile" },
    {
      type: "MultiScaleFlipAug",
      img_scale: [96, 64],
      flip: true,
      transforms: [
        { type: "Resize", keep_ratio: true },
        { type: "RandomFlip" },
        { type: "Normalize", ...NORM },
        { type: "Pad", size_divisor: 32 },
        { type: "ImageToTensor", keys: ["img"] },
        { type: "Collect", keys: ["img"] },
      ],
    },
  ];
  const ds = buildDataset(shapesDatasetConfig(info, "val", test));
  const batches = await collect(buildDataloader(ds, { samples_per_gpu: 1, shuffle: false }));
  assert.equal(batches.length, 3);
  const imgs = batches[0].img as HostTensor[];
  assert.equal(imgs.length, 2);
  assert.deepEqual(imgs[0].shape, [1, 3, 64, 64]);
  const metas = batches[0].img_metas as ImgMeta[][];
  assert.deepEqual(metas.map((m) => m[0].flip), [false, true]);
});

Deno.test("DataLoader workers report a missing image as a DataError naming the file", async () => {
  const root = await Deno.makeTempDir();
  try {
    writeSolidPng(`${root}/ok.png`, 40, 40);
    const ds = new CustomDataset({
      classes: ["a"],
      img_prefix: root,
      filter_empty_gt: false,
      warn: () => {},
      data_infos: [
        { filename: "ok.png", width: 40, height: 40, ann: { bboxes: [[1, 1, 9, 9]], labels: [0] } },
        {
          filename: "gone.png",
          width: 40,
          height: 40,
          ann: { bboxes: [[1, 1, 9, 9]], labels: [0] },
        },
      ],
      pipeline: TRAIN,
    });
    const loader = buildDataloader(ds, { samples_per_gpu: 1, shuffle: false, workers_per_gpu: 1 });
    let err: unknown;
    try {
      await collect(loader);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof DataError, String(err));
    assert.ok((err as Error).message.includes(`${root}/gone.png`), (err as Error).message);
    await loader.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
