/**
 * Batch collation (mmcv `collate` with DataContainers): images zero-padded at the bottom and
 * right to the largest H and W of the batch and stacked `[N, C, H, W]`; metas and ground truth
 * stay per-image lists.
 *
 * @module
 */
import { DataError } from "../utils/errors.ts";
import type { Batch, HostTensor, ImgMeta, Results } from "./types.ts";

/** Stacks CHW tensors into `[N, C, Hmax, Wmax]`, padding bottom/right with `padValue`. */
export function stackPadded(tensors: HostTensor[], padValue = 0): HostTensor {
  if (tensors.length === 0) throw new RangeError("Cannot stack an empty batch");
  const c = tensors[0].shape[0];
  let hMax = 0, wMax = 0;
  for (const t of tensors) {
    if (t.shape.length !== 3 || t.shape[0] !== c) {
      throw new TypeError(
        `Cannot stack images of shapes ${
          JSON.stringify(tensors.map((x) => x.shape))
        }: expected [C, H, W] with equal C`,
      );
    }
    hMax = Math.max(hMax, t.shape[1]);
    wMax = Math.max(wMax, t.shape[2]);
  }
  const out = new Float32Array(tensors.length * c * hMax * wMax);
  if (padValue !== 0) out.fill(padValue);
  tensors.forEach((t, n) => {
    const [, h, w] = t.shape;
    for (let k = 0; k < c; k++) {
      for (let y = 0; y < h; y++) {
        const src = (k * h + y) * w;
        out.set(t.data.subarray(src, src + w), ((n * c + k) * hMax + y) * wMax);
      }
    }
  });
  return { data: out, shape: [tensors.length, c, hMax, wMax] };
}

function isTensor(v: unknown): v is HostTensor {
  return typeof v === "object" && v !== null && (v as HostTensor).data instanceof Float32Array &&
    Array.isArray((v as HostTensor).shape);
}

/**
 * Collates pipeline outputs (after `Collect`) into a {@link Batch}. Train samples have one
 * `img` tensor each; test samples (MultiScaleFlipAug) have one per augmentation, giving one
 * stacked tensor and one meta list per augmentation.
 */
export function collate(items: Results[], indices: number[], padValue = 0): Batch {
  if (items.length === 0) throw new RangeError("Cannot collate an empty batch");
  const first = items[0];
  const batch: Batch = { img: [], img_metas: [], indices };
  if (Array.isArray(first.img)) {
    const nAug = first.img.length;
    const imgs: HostTensor[] = [], metas: ImgMeta[][] = [];
    for (let a = 0; a < nAug; a++) {
      imgs.push(stackPadded(items.map((it) => (it.img as unknown as HostTensor[])[a]), padValue));
      metas.push(items.map((it) => (it.img_metas as unknown as ImgMeta[])[a]));
    }
    batch.img = imgs;
    batch.img_metas = metas;
  } else {
    for (const it of items) {
      if (!isTensor(it.img)) {
        throw new DataError(
          `Cannot collate: "img" of ${
            it.img_metas?.filename ?? "a sample"
          } is not a CHW tensor; end the pipeline with DefaultFormatBundle (or ImageToTensor) and Collect`,
        );
      }
    }
    batch.img = stackPadded(items.map((it) => it.img as HostTensor), padValue);
    batch.img_metas = items.map((it) => it.img_metas ?? {});
  }
  for (const key of Object.keys(first)) {
    if (key === "img" || key === "img_metas") continue;
    batch[key] = items.map((it) => it[key]);
  }
  return batch;
}

/** The ArrayBuffers of a batch's large arrays, to transfer between threads without copying. */
export function batchTransferables(batch: Batch): ArrayBuffer[] {
  const bufs = new Set<ArrayBuffer>();
  const add = (v: unknown) => {
    if (
      ArrayBuffer.isView(v) && v.buffer instanceof ArrayBuffer &&
      v.byteLength === v.buffer.byteLength
    ) bufs.add(v.buffer);
  };
  const imgs = Array.isArray(batch.img) ? batch.img : [batch.img];
  for (const t of imgs) add(t.data);
  for (const [k, v] of Object.entries(batch)) {
    if (k === "img" || k === "img_metas" || !Array.isArray(v)) continue;
    for (const x of v) add(x);
  }
  return [...bufs];
}
