/**
 * `MultiScaleFlipAug`: runs the inner transforms once per (scale, flip) combination and returns
 * lists (mmdet's test-time augmentation wrapper).
 *
 * @module
 */
import type { TypedCfg } from "../../utils/registry.ts";
import { PIPELINES } from "../registry.ts";
import type { Results } from "../types.ts";
import { Compose, type Transform } from "./compose.ts";

/**
 * Test-time augmentation: for each `img_scale` (or `scale_factor`) and each of no-flip plus
 * the `flip_direction`s when `flip` is true, runs `transforms` on a shallow copy of the
 * results with `scale`, `flip` and `flip_direction` preset, and returns a dict of lists
 * (`{img: [...], img_metas: [...]}`).
 */
export class MultiScaleFlipAug implements Transform {
  /** The inner transforms. */
  readonly transforms: Compose;
  /** Scales (`[w, h]`) or scale factors to run. */
  readonly scales: ([number, number] | number)[];
  /** Which results key the scale goes to. */
  readonly scaleKey: "scale" | "scale_factor";
  /** Also run flipped versions. */
  readonly flip: boolean;
  /** Flip directions when `flip` is set. */
  readonly flipDirection: string[];

  /** Builds the transform from its config (mmdet keyword arguments). */
  constructor(cfg: {
    transforms: TypedCfg[];
    img_scale?: [number, number] | [number, number][] | null;
    scale_factor?: number | number[] | null;
    flip?: boolean;
    flip_direction?: string | string[];
  }) {
    this.transforms = new Compose(cfg.transforms ?? []);
    const hasScale = cfg.img_scale !== undefined && cfg.img_scale !== null;
    const hasFactor = cfg.scale_factor !== undefined && cfg.scale_factor !== null;
    if (hasScale === hasFactor) {
      throw new RangeError("set exactly one of img_scale and scale_factor");
    }
    if (hasScale) {
      const s = cfg.img_scale!;
      this.scales = typeof s[0] === "number" ? [s as [number, number]] : (s as [number, number][]);
      this.scaleKey = "scale";
    } else {
      const f = cfg.scale_factor!;
      this.scales = Array.isArray(f) ? f : [f];
      this.scaleKey = "scale_factor";
    }
    this.flip = cfg.flip ?? false;
    const fd = cfg.flip_direction ?? "horizontal";
    this.flipDirection = Array.isArray(fd) ? fd : [fd];
  }

  /** Applies the transform (mmdet `__call__`). */
  call(results: Results): Results {
    const flipArgs: [boolean, string | null][] = [[false, null]];
    if (this.flip) { for (const d of this.flipDirection) flipArgs.push([true, d]); }
    const aug: Results[] = [];
    for (const scale of this.scales) {
      for (const [flip, dir] of flipArgs) {
        const r: Results = { ...results, [this.scaleKey]: scale, flip, flip_direction: dir };
        const out = this.transforms.call(r);
        if (out === null) {
          throw new RangeError("MultiScaleFlipAug: an inner transform dropped the sample");
        }
        aug.push(out);
      }
    }
    const dict: Results = {};
    for (const key of Object.keys(aug[0])) dict[key] = aug.map((d) => d[key]);
    return dict;
  }
}

PIPELINES.register("MultiScaleFlipAug", MultiScaleFlipAug);
