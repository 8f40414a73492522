/**
 * mmdetection's `BaseDetector`: `forward(img, img_metas, {returnLoss})` dispatching to
 * `forwardTrain` or `forwardTest` (with mmdet's input checks), `trainStep`/`valStep`, and
 * `parseLosses` on GPU tensors.
 *
 * @module
 */
import * as F from "../../autograd/functional.ts";
import { Tensor } from "../../autograd/tensor.ts";
import { Module } from "../../nn/module.ts";
import { type LossOps, parseLosses as parseLossesWith } from "../../utils/parse_losses.ts";

/**
 * One image's meta information, with mmdetection's keys: `img_shape` `[h, w, c]` after resize,
 * `pad_shape`, `ori_shape`, `scale_factor` `[sx, sy, sx, sy]`, `flip`, `flip_direction`,
 * `batch_input_shape` `[H, W]` (set by the detector), `filename`, ….
 */
export interface ImgMeta {
  /** `[h, w, c]` of the image after resize, before padding. */
  img_shape?: number[];
  /** `[h, w, c]` after padding. */
  pad_shape?: number[];
  /** `[h, w, c]` of the original image. */
  ori_shape?: number[];
  /** Resize factors `[sx, sy, sx, sy]` (or one number) from original to resized pixels. */
  scale_factor?: number[] | number;
  /** Whether the image was flipped. */
  flip?: boolean;
  /** "horizontal", "vertical" or "diagonal" when flipped. */
  flip_direction?: string | null;
  /** `[H, W]` of the padded batch tensor (set by the detector). */
  batch_input_shape?: [number, number];
  /** Further keys (`filename`, `ori_filename`, `img_norm_cfg`, …). */
  [key: string]: unknown;
}

/** A head's loss dict: each entry a tensor or a list of tensors (one per level). */
export type LossDict = Record<string, Tensor | Tensor[]>;

/** Detections of one image split by class: per class `[m_c, 5]` rows `[x1, y1, x2, y2, score]`. */
export type BboxResult = Float32Array[];

/** Test-time options. */
export interface TestOptions {
  /** Map boxes back to the original image size (default false). */
  rescale?: boolean;
  /** Further options, passed through to the head. */
  [key: string]: unknown;
}

/** Training-time inputs of a single-stage detector, keyed as in the data batch. */
export interface TrainKwargs {
  /** Per image `[k, 4]` xyxy boxes in the (resized, padded) input's pixels. */
  gt_bboxes?: Float32Array[];
  /** Per image `[k]` labels in `[0, num_classes)`. */
  gt_labels?: Int32Array[];
  /** Per image `[k', 4]` boxes to ignore, or null. */
  gt_bboxes_ignore?: (Float32Array | null)[] | null;
  /** Further batch keys, ignored by single-stage detectors. */
  [key: string]: unknown;
}

/** A training batch as the data loader yields it. */
export interface DetBatch extends TrainKwargs {
  /** `[N, 3, H, W]` NCHW f32, normalised and padded. */
  img: Tensor;
  /** One meta per image of the batch. */
  img_metas: ImgMeta[];
}

/** What `trainStep`/`valStep` return: the loss to back-propagate and lazily read log scalars. */
export interface StepOutput {
  /** Scalar f32: the sum of the loss entries, to back-propagate. */
  loss: Tensor;
  /** Scalar GPU tensors (detached), in insertion order, then `loss`; read lazily by the runner. */
  log_vars: Record<string, Tensor>;
  /** Number of images in the batch. */
  num_samples: number;
}

/**
 * mmdetection's `_parse_losses` on GPU tensors:
 * 1. a tensor entry → its mean; a list → the sum of its elements' means;
 * 2. `loss` = the sum of the entries whose key contains `"loss"`;
 * 3. `log_vars` = the reduced entries (detached scalars) in insertion order, then `loss`.
 *
 * @throws {TypeError} When an entry is neither a tensor nor a non-empty list of tensors.
 * @throws {RangeError} When no key contains "loss".
 */
export function parseLosses(losses: LossDict): { loss: Tensor; log_vars: Record<string, Tensor> } {
  const { loss, log_vars } = parseLossesWith(losses, tensorLossOps);
  const detached: Record<string, Tensor> = {};
  for (const [name, v] of Object.entries(log_vars)) detached[name] = v.detach();
  return { loss, log_vars: detached };
}

const tensorLossOps: LossOps<Tensor> = {
  isTensor: (v: unknown): v is Tensor => v instanceof Tensor,
  mean: (t: Tensor) => F.mean(t),
  add: (a: Tensor, b: Tensor) => F.add(a, b),
};

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  return (v as object).constructor?.name ?? "object";
}

/**
 * The base of every detector. Subclasses implement `extractFeat`, `forwardTrain`, `simpleTest`
 * and `augTest`.
 */
export abstract class BaseDetector extends Module {
  /** Backbone (+ neck) features of `img` `[N, 3, H, W]`. */
  abstract extractFeat(img: Tensor): Tensor[];

  /** Losses of one training batch. */
  abstract forwardTrain(img: Tensor, imgMetas: ImgMeta[], ...rest: unknown[]): LossDict;

  /** Detections of a batch without augmentation. */
  abstract simpleTest(img: Tensor, imgMetas: ImgMeta[], opts?: TestOptions): Promise<BboxResult[]>;

  /** Detections merged over augmentations (batch of 1 per augmentation). */
  abstract augTest(
    imgs: Tensor[],
    imgMetas: ImgMeta[][],
    opts?: TestOptions,
  ): Promise<BboxResult[]>;

  /** Maps a batch's keyword inputs onto `forwardTrain`'s arguments. */
  protected abstract forwardTrainKwargs(
    img: Tensor,
    imgMetas: ImgMeta[],
    kwargs: TrainKwargs,
  ): LossDict;

  /** Features of every augmentation (mmdet `extract_feats`). */
  extractFeats(imgs: Tensor[]): Tensor[][] {
    return imgs.map((img) => this.extractFeat(img));
  }

  /** Records `batch_input_shape` on every meta, as mmdet's `forward_train` does. */
  protected setBatchInputShape(img: Tensor, imgMetas: ImgMeta[]): void {
    if (!(img instanceof Tensor) || img.shape.length !== 4) {
      throw new TypeError(
        `Cannot run ${this.constructor.name}: img must be a [N, C, H, W] tensor, got ${
          img instanceof Tensor ? `shape [${img.shape.join(", ")}]` : typeName(img)
        }`,
      );
    }
    if (!Array.isArray(imgMetas) || imgMetas.length !== img.shape[0]) {
      throw new TypeError(
        `Cannot run ${this.constructor.name}: img_metas must be a list of ${
          img.shape[0]
        } objects (one per image), got ${
          Array.isArray(imgMetas) ? imgMetas.length : typeName(imgMetas)
        }`,
      );
    }
    const shape: [number, number] = [img.shape[2], img.shape[3]];
    for (const m of imgMetas) m.batch_input_shape = shape;
  }

  /**
   * mmdet's `forward_test` checks and dispatch: `imgs` and `img_metas` must be lists with one
   * entry per augmentation; one augmentation → `simpleTest`, several → `augTest` (batch 1 each).
   */
  async forwardTest(
    imgs: Tensor[],
    imgMetas: ImgMeta[][],
    opts: TestOptions = {},
  ): Promise<BboxResult[]> {
    for (const [v, name] of [[imgs, "imgs"], [imgMetas, "img_metas"]] as const) {
      if (!Array.isArray(v)) {
        throw new TypeError(
          `Cannot run forwardTest: ${name} must be a list, but got ${typeName(v)}`,
        );
      }
    }
    const numAugs = imgs.length;
    if (numAugs === 0) {
      throw new TypeError(
        "Cannot run forwardTest: imgs is an empty list: pass one tensor per augmentation",
      );
    }
    if (numAugs !== imgMetas.length) {
      throw new TypeError(
        `Cannot run forwardTest: num of augmentations (${numAugs}) != num of image meta (${imgMetas.length})`,
      );
    }
    imgs.forEach((img, i) => this.setBatchInputShape(img, imgMetas[i]));
    if (numAugs === 1) return await this.simpleTest(imgs[0], imgMetas[0], opts);
    if (imgs[0].shape[0] !== 1) {
      throw new RangeError(
        `Cannot run augTest: aug test does not support inference with batch size ${
          imgs[0].shape[0]
        }: use a batch of 1 per augmentation`,
      );
    }
    return await this.augTest(imgs, imgMetas, opts);
  }

  /** Training forward (`returnLoss`, the default): the loss dict. */
  forward(img: Tensor, imgMetas: ImgMeta[], opts?: TrainKwargs & { returnLoss?: true }): LossDict;
  /** Test forward: `img` and `imgMetas` are lists with one entry per augmentation. */
  forward(
    img: Tensor[],
    imgMetas: ImgMeta[][],
    opts: TestOptions & { returnLoss: false },
  ): Promise<BboxResult[]>;
  /** mmdet `forward(img, img_metas, return_loss=True, **kwargs)`. */
  forward(
    img: Tensor | Tensor[],
    imgMetas: ImgMeta[] | ImgMeta[][],
    opts: (TrainKwargs | TestOptions) & { returnLoss?: boolean } = {},
  ): LossDict | Promise<BboxResult[]> {
    const { returnLoss = true, ...kwargs } = opts;
    if (returnLoss) {
      if (Array.isArray(img)) {
        throw new TypeError(
          "Cannot run forwardTrain: img must be a tensor, but got a list: pass returnLoss: false for testing",
        );
      }
      this.setBatchInputShape(img, imgMetas as ImgMeta[]);
      return this.forwardTrainKwargs(img, imgMetas as ImgMeta[], kwargs as TrainKwargs);
    }
    return this.forwardTest(img as Tensor[], imgMetas as ImgMeta[][], kwargs as TestOptions);
  }

  /**
   * One training iteration's forward: losses → `parseLosses`. The caller (the runner's optimizer
   * hook) runs `backward(loss)` and the update; keep the whole step inside one `tidy`.
   */
  trainStep(data: DetBatch, _optimizer?: unknown): StepOutput {
    const { img, img_metas, ...kwargs } = data;
    const losses = this.forward(img, img_metas, { ...kwargs, returnLoss: true });
    const { loss, log_vars } = parseLosses(losses);
    return { loss, log_vars, num_samples: img_metas.length };
  }

  /** As `trainStep` (mmdet's `val_step`, used by a "val" workflow phase). */
  valStep(data: DetBatch, optimizer?: unknown): StepOutput {
    return this.trainStep(data, optimizer);
  }
}
