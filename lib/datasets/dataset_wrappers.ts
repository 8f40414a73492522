/**
 * Dataset wrappers (`ConcatDataset`, `RepeatDataset`) and `buildDataset`, mmdet's
 * `build_dataset`: a list config or an `ann_file` list becomes a `ConcatDataset`.
 *
 * @module
 */
import type { Rng } from "../utils/rng.ts";
import type { TypedCfg } from "../utils/registry.ts";
import type { BboxResult } from "../evaluation/coco_eval.ts";
import type { EvaluateOptions } from "./custom.ts";
import { DATASETS } from "./registry.ts";
// registers the built-in dataset types, so that buildDataset() knows them all
import "./coco.ts";
import "./voc.ts";
import type { Results } from "./types.ts";

/** What the loader and the runner need from a dataset. */
export interface DetDataset {
  /** Number of images. */
  readonly length: number;
  /** Aspect-ratio group per image (0 portrait/square, 1 landscape). */
  flag: Uint8Array;
  /** Class names; label i is `CLASSES[i]`. */
  CLASSES: string[];
  /** The pipeline output of image `idx`, random transforms drawing from `rng`. */
  getItem(idx: number, rng?: Rng): Results;
  /** A serialisable config that rebuilds the dataset (in loader workers). */
  toConfig(): Record<string, unknown>;
  /** Metrics of per-image, per-class detections. */
  evaluate?(results: BboxResult[], opts?: EvaluateOptions): Record<string, number | string>;
}

function asDataset(d: unknown): DetDataset {
  if (d && typeof d === "object" && typeof (d as DetDataset).getItem === "function") {
    return d as DetDataset;
  }
  return buildDataset(d as TypedCfg | TypedCfg[]);
}

/** Several datasets as one, in order (mmdet `ConcatDataset`); CLASSES come from the first. */
export class ConcatDataset implements DetDataset {
  /** The parts, in order. */
  readonly datasets: DetDataset[];
  /** Running totals of the parts' lengths. */
  readonly cumulativeSizes: number[];
  /** Class names of the first part. */
  CLASSES: string[];
  flag: Uint8Array;

  /** Concatenates datasets (instances or configs). */
  constructor(cfg: { datasets: (DetDataset | TypedCfg)[] }) {
    if (!Array.isArray(cfg?.datasets) || cfg.datasets.length === 0) {
      throw new TypeError("datasets must be a non-empty list");
    }
    this.datasets = cfg.datasets.map(asDataset);
    this.CLASSES = this.datasets[0].CLASSES;
    this.cumulativeSizes = [];
    let n = 0;
    for (const d of this.datasets) this.cumulativeSizes.push(n += d.length);
    this.flag = new Uint8Array(n);
    let o = 0;
    for (const d of this.datasets) {
      this.flag.set(d.flag, o);
      o += d.length;
    }
  }

  /** Number of images over all parts. */
  get length(): number {
    return this.cumulativeSizes[this.cumulativeSizes.length - 1];
  }

  #locate(idx: number): [number, number] {
    if (!Number.isInteger(idx) || idx < 0 || idx >= this.length) {
      throw new RangeError(`Cannot get item ${idx}: the dataset has ${this.length} images`);
    }
    const d = this.cumulativeSizes.findIndex((c) => idx < c);
    return [d, d === 0 ? idx : idx - this.cumulativeSizes[d - 1]];
  }

  /** Image `idx` of the concatenation. */
  getItem(idx: number, rng?: Rng): Results {
    const [d, i] = this.#locate(idx);
    return this.datasets[d].getItem(i, rng);
  }

  toConfig(): Record<string, unknown> {
    return { type: "ConcatDataset", datasets: this.datasets.map((d) => d.toConfig()) };
  }

  /** Evaluates each part separately; keys are prefixed with the part index (`0_mAP`, …). */
  evaluate(results: BboxResult[], opts: EvaluateOptions = {}): Record<string, number | string> {
    if (results.length !== this.length) {
      throw new RangeError(`Cannot evaluate: ${results.length} results for ${this.length} images`);
    }
    const out: Record<string, number | string> = {};
    let start = 0;
    this.datasets.forEach((d, i) => {
      if (!d.evaluate) throw new RangeError(`Cannot evaluate: dataset ${i} has no evaluate()`);
      const r = d.evaluate(results.slice(start, start + d.length), opts);
      for (const [k, v] of Object.entries(r)) out[`${i}_${k}`] = v;
      start += d.length;
    });
    return out;
  }
}

/** A dataset repeated `times` times (mmdet `RepeatDataset`), to make short epochs longer. */
export class RepeatDataset implements DetDataset {
  /** The wrapped dataset. */
  readonly dataset: DetDataset;
  /** How many times it is repeated. */
  readonly times: number;
  /** Class names of the wrapped dataset. */
  CLASSES: string[];
  flag: Uint8Array;

  /** Repeats a dataset (instance or config) `times` times. */
  constructor(cfg: { dataset: DetDataset | TypedCfg; times: number }) {
    if (!(Number.isInteger(cfg?.times) && cfg.times > 0)) {
      throw new RangeError(`times must be a positive integer, got ${cfg?.times}`);
    }
    this.dataset = asDataset(cfg.dataset);
    this.times = cfg.times;
    this.CLASSES = this.dataset.CLASSES;
    const n = this.dataset.length;
    this.flag = new Uint8Array(n * this.times);
    for (let t = 0; t < this.times; t++) this.flag.set(this.dataset.flag, t * n);
  }

  /** `times` × the wrapped length. */
  get length(): number {
    return this.dataset.length * this.times;
  }

  /** Image `idx % length` of the wrapped dataset. */
  getItem(idx: number, rng?: Rng): Results {
    return this.dataset.getItem(idx % this.dataset.length, rng);
  }

  toConfig(): Record<string, unknown> {
    return { type: "RepeatDataset", times: this.times, dataset: this.dataset.toConfig() };
  }

  /** Evaluates with the wrapped dataset (results are per wrapped image). */
  evaluate(results: BboxResult[], opts: EvaluateOptions = {}): Record<string, number | string> {
    if (!this.dataset.evaluate) {
      throw new RangeError("Cannot evaluate: the wrapped dataset has no evaluate()");
    }
    return this.dataset.evaluate(results, opts);
  }
}

/**
 * Builds a dataset from a config (mmdet `build_dataset`): a list of configs, or a config whose
 * `ann_file` is a list, becomes a `ConcatDataset`; everything else goes through `DATASETS`.
 *
 * @example
 * ```ts ignore
 * const ds = buildDataset({
 *   type: "XMLDataset", classes: ["RBC", "WBC", "Platelets"], img_prefix: "bccd/BCCD/",
 *   ann_file: ["bccd/BCCD/ImageSets/Main/trainval.txt", "bccd/BCCD/ImageSets/Main/test.txt"],
 * });
 * ```
 */
export function buildDataset(
  cfg: TypedCfg | TypedCfg[],
  defaultArgs: Record<string, unknown> = {},
): DetDataset {
  if (Array.isArray(cfg)) {
    return new ConcatDataset({ datasets: cfg.map((c) => buildDataset(c, defaultArgs)) });
  }
  if (cfg && typeof cfg === "object" && Array.isArray((cfg as Record<string, unknown>).ann_file)) {
    const files = (cfg as Record<string, unknown>).ann_file as string[];
    return new ConcatDataset({
      datasets: files.map((f) => buildDataset({ ...cfg, ann_file: f }, defaultArgs)),
    });
  }
  return DATASETS.build(cfg, defaultArgs) as DetDataset;
}

DATASETS.register("ConcatDataset", ConcatDataset);
DATASETS.register("RepeatDataset", RepeatDataset);
