/**
 * `Compose`: runs a list of pipeline transforms in order (mmdet `Compose`).
 *
 * @module
 */
import { Rng } from "../../utils/rng.ts";
import type { TypedCfg } from "../../utils/registry.ts";
import { PIPELINES } from "../registry.ts";
import type { Results } from "../types.ts";

/** A pipeline step: returns the transformed results, or null to drop the sample. */
export interface Transform {
  /** Transforms `results` (mmdet `__call__`); null drops the sample. */
  call(results: Results): Results | null;
}

/**
 * A transform that can stand in for a run of transforms with identical results (an internal
 * optimisation: fewer full-size intermediate images). `fuse(list, i)` returns the fused step
 * and how many transforms it replaces, or null.
 */
export interface Fuser {
  /** The fused step for `transforms[i…]` and how many it replaces, or null. */
  fuse(transforms: Transform[], i: number): [Transform, number] | null;
}

const FUSERS: Fuser[] = [];

/** Registers a fusion rule applied by every `Compose` built afterwards. */
export function registerFuser(f: Fuser): void {
  FUSERS.push(f);
}

function fuseTail(ts: Transform[]): Transform[] {
  const out: Transform[] = [];
  for (let i = 0; i < ts.length;) {
    let done = false;
    for (const f of FUSERS) {
      const r = f.fuse(ts, i);
      if (r) {
        out.push(r[0]);
        i += r[1];
        done = true;
        break;
      }
    }
    if (!done) out.push(ts[i++]);
  }
  return out;
}

/** The generator a transform draws from: `results.rng`, or a fixed fallback stream. */
export function rngOf(results: Results): Rng {
  if (!results.rng) results.rng = new Rng(0);
  return results.rng;
}

/**
 * Runs transforms in order; a transform returning null stops the pipeline (the dataset then
 * draws another sample, as mmdet).
 *
 * @example
 * ```ts ignore
 * const pipeline = new Compose([{ type: "LoadImageFromFile" }, { type: "Resize", img_scale: [1333, 800] }]);
 * const out = pipeline.call({ img_info: { filename: "a.jpg", width: 640, height: 480 }, img_prefix: "data/" });
 * ```
 */
export class Compose implements Transform {
  /** The steps, after fusion. */
  readonly transforms: Transform[];

  /** Builds each config through `PIPELINES` (transform instances are used as they are). */
  constructor(transforms: (TypedCfg | Transform)[] = []) {
    if (!Array.isArray(transforms)) {
      throw new TypeError(
        `Cannot build a pipeline: expected a list of transform configs, got ${
          JSON.stringify(transforms)
        }`,
      );
    }
    const built = transforms.map((t) =>
      typeof (t as Transform).call === "function"
        ? (t as Transform)
        : PIPELINES.build(t as TypedCfg) as Transform
    );
    this.transforms = fuseTail(built);
  }

  /** Runs the steps in order; null as soon as one drops the sample. */
  call(results: Results): Results | null {
    let data: Results | null = results;
    for (const t of this.transforms) {
      try {
        data = t.call(data);
      } catch (e) {
        // name the image (and the step) in errors raised by transforms that do not know it
        const file = data?.filename ?? data?.img_info?.filename;
        if (e instanceof Error && typeof file === "string" && !e.message.includes(file)) {
          e.message += ` (image "${file}", in ${t.constructor.name})`;
        }
        throw e;
      }
      if (data === null) return null;
    }
    return data;
  }
}
