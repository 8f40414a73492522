/**
 * Data of the MPI tests, written as PNGs and COCO JSON:
 *
 * - `train`: four 64×64 images with one 24×24 object each, at (4, 4), (36, 4), (4, 36) and
 *   (36, 36) — translations by multiples of the largest anchor stride (32), so that every image
 *   has the same number of positive anchors. RetinaNet normalises its losses by the number of
 *   positives of the batch (mmdet v2 does not average it over ranks), so two ranks of two images
 *   equal one process of four only when every pair has the same count; the objects differ in
 *   class, colour and background.
 * - `val`: five 64×64 images with one to two objects anywhere (an odd count, so the distributed
 *   sampler pads).
 */
import { join } from "node:path";
import { writePng } from "../../lib/datasets/image_io.ts";
import { Rng } from "../../lib/utils/rng.ts";

const CLASSES = ["rectangle", "ellipse", "triangle"];

function render(
  rng: Rng,
  objects: { box: [number, number, number, number]; label: number; color: number[] }[],
) {
  const w = 64, h = 64;
  const data = new Uint8Array(w * h * 3);
  const base = [rng.randint(80) + 40, rng.randint(80) + 40, rng.randint(80) + 40];
  for (let i = 0; i < w * h; i++) {
    for (let c = 0; c < 3; c++) data[i * 3 + c] = base[c] + rng.randint(30);
  }
  for (const o of objects) {
    const [x1, y1, x2, y2] = o.box;
    const cx = (x1 + x2) / 2, cy = (y1 + y2) / 2, rx = (x2 - x1) / 2, ry = (y2 - y1) / 2;
    for (let y = y1; y < y2; y++) {
      for (let x = x1; x < x2; x++) {
        const u = (x + 0.5 - cx) / rx, v = (y + 0.5 - cy) / ry;
        const inside = o.label === 0
          ? true
          : o.label === 1
          ? u * u + v * v <= 1
          : v >= 2 * Math.abs(u) - 1;
        if (inside) { for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = o.color[c]; }
      }
    }
  }
  return { data, width: w, height: h, channels: 3 };
}

async function writeSplit(
  root: string,
  split: string,
  images: { box: [number, number, number, number]; label: number; color: number[] }[][],
  rng: Rng,
): Promise<void> {
  await Deno.mkdir(join(root, split), { recursive: true });
  const coco = {
    images: [] as unknown[],
    annotations: [] as unknown[],
    categories: CLASSES.map((name, k) => ({ id: k + 1, name, supercategory: "shape" })),
  };
  let ann = 1;
  for (let i = 0; i < images.length; i++) {
    const file = `${String(i).padStart(4, "0")}.png`;
    await writePng(join(root, split, file), render(rng, images[i]));
    coco.images.push({ id: i + 1, file_name: file, width: 64, height: 64 });
    for (const o of images[i]) {
      const [x1, y1, x2, y2] = o.box;
      coco.annotations.push({
        id: ann++,
        image_id: i + 1,
        category_id: o.label + 1,
        bbox: [x1, y1, x2 - x1, y2 - y1],
        area: (x2 - x1) * (y2 - y1),
        iscrowd: 0,
      });
    }
  }
  await Deno.writeTextFile(
    join(root, "annotations", `instances_${split}.json`),
    JSON.stringify(coco),
  );
}

/** Writes the dataset into `root` (once) and returns `root`. */
export async function ensureDistData(root: string): Promise<string> {
  const done = join(root, "annotations", "instances_val.json");
  if (await Deno.stat(done).then(() => true, () => false)) return root;
  await Deno.mkdir(join(root, "annotations"), { recursive: true });
  const rng = new Rng(11);
  const colors = [[230, 40, 40], [40, 200, 60], [50, 60, 230], [220, 220, 40]];
  const train = [[4, 4], [36, 4], [4, 36], [36, 36]].map(([x, y], i) => [{
    box: [x, y, x + 24, y + 24] as [number, number, number, number],
    label: i % 3,
    color: colors[i],
  }]);
  await writeSplit(root, "train", train, rng);
  const val = Array.from({ length: 5 }, (_, i) =>
    Array.from({ length: 1 + (i % 2) }, (_, j) => {
      const s = 16 + rng.randint(16), x = rng.randint(64 - s), y = rng.randint(64 - s);
      return {
        box: [x, y, x + s, y + s] as [number, number, number, number],
        label: (i + j) % 3,
        color: colors[(i + 2 * j) % 4],
      };
    }));
  await writeSplit(root, "val", val, rng);
  return root;
}

/** `--cfg-options` of the tiny RetinaNet on this data (BN in eval mode, GN head, SGD, no flip). */
export function distCfgOptions(root: string, samplesPerGpu: number, maxEpochs: number): string[] {
  return [
    "model.backbone.base_channels=8",
    "model.backbone.norm_eval=True",
    "model.neck.in_channels=[8,16,32,64]",
    "model.neck.out_channels=16",
    "model.bbox_head.in_channels=16",
    "model.bbox_head.feat_channels=16",
    "model.bbox_head.norm_cfg.num_groups=8",
    "model.test_cfg.score_thr=0.0",
    `data.samples_per_gpu=${samplesPerGpu}`,
    "data.workers_per_gpu=0",
    "data.synthetic=None",
    ...["train", "val", "test"].map((s) => `data.${s}.data_root=${root}/`),
    "data.train.pipeline.2.img_scale=[64,64]",
    "data.train.pipeline.3.flip_ratio=0.0",
    "data.val.pipeline.1.img_scale=[64,64]",
    "data.test.pipeline.1.img_scale=[64,64]",
    "optimizer.type=SGD",
    "optimizer.lr=0.01",
    "+optimizer.momentum=0.9",
    "optimizer.weight_decay=0.0001",
    "lr_config.warmup_iters=2",
    "log_config.interval=1",
    `runner.max_epochs=${maxEpochs}`,
    "checkpoint_config.max_keep_ckpts=-1",
    "evaluation.save_best=None",
    "+seed=0",
  ];
}
