/**
 * mmdetection's `DeltaXYWHBBoxCoder` (spec §2.7), on the CPU in float32: every step rounded with
 * `Math.fround` in PyTorch's order. It is the reference for the GPU coder and the CPU decoder of
 * inference post-processing. `log`/`exp` are correctly rounded here; PyTorch's vectorised ones may
 * differ by one float32 ulp.
 *
 * @module
 */
import { BBOX_CODERS } from "../../registry.ts";
import type { GpuCoder, GpuEncoding } from "../gpu_stages.ts";
import { type BaseBBoxCoder, checkCoderInputs, type DecodeOptions } from "./base_bbox_coder.ts";

const f = Math.fround;

/** Config of `DeltaXYWHBBoxCoder`, with mmdetection's keys and defaults. */
export interface DeltaXYWHBBoxCoderCfg {
  /** Registry type name. */
  type?: string;
  /** Default `[0, 0, 0, 0]`. */
  target_means?: number[];
  /** Default `[1, 1, 1, 1]`. */
  target_stds?: number[];
  /** Clip decoded boxes to `maxShape` (default true). */
  clip_border?: boolean;
  /** Clamp the centre shift to ±`ctr_clamp` pixels and dw, dh only from above (default false). */
  add_ctr_clamp?: boolean;
  /** Default 32. */
  ctr_clamp?: number;
}

function vec4(v: number[] | undefined, fallback: number, key: string): Float32Array {
  const out = Float32Array.from(v ?? [fallback, fallback, fallback, fallback]);
  if (out.length !== 4) {
    throw new TypeError(`Cannot build box coder: "${key}" must have 4 numbers, got ${out.length}`);
  }
  return out;
}

/**
 * Encodes a gt box `g` relative to an anchor `p` as
 * `((gx − px)/pw, (gy − py)/ph, ln(gw/pw), ln(gh/ph))`, then `(d − mean)/std`.
 *
 * @example
 * ```ts
 * import { DeltaXYWHBBoxCoder } from "./delta_xywh_bbox_coder.ts";
 * const coder = new DeltaXYWHBBoxCoder({});
 * const t = coder.encode(Float32Array.of(0, 0, 10, 10), Float32Array.of(5, 0, 15, 20));
 * // t: [0.5, 0.5, 0, ln 2]
 * ```
 */
export class DeltaXYWHBBoxCoder implements BaseBBoxCoder, GpuCoder {
  /** `target_means` as float32. */
  readonly means: Float32Array;
  /** `target_stds` as float32. */
  readonly stds: Float32Array;
  /** `clip_border`. */
  readonly clipBorder: boolean;
  /** `add_ctr_clamp`. */
  readonly addCtrClamp: boolean;
  /** `ctr_clamp` in pixels. */
  readonly ctrClamp: number;

  /** Builds the coder from an mmdetection config. */
  constructor(cfg: DeltaXYWHBBoxCoderCfg = {}) {
    this.means = vec4(cfg.target_means, 0, "target_means");
    this.stds = vec4(cfg.target_stds, 1, "target_stds");
    this.clipBorder = cfg.clip_border ?? true;
    this.addCtrClamp = cfg.add_ctr_clamp ?? false;
    this.ctrClamp = cfg.ctr_clamp ?? 32;
  }

  /** Width/height offset added to `x2 − x1` (0 in v2, 1 in the legacy coder). */
  protected get sizeOffset(): number {
    return 0;
  }

  /** What the GPU target builder needs to apply this coder's `encode` (`bbox_targets.wgsl`). */
  gpuEncoding(): GpuEncoding {
    return {
      kind: this.sizeOffset === 1 ? "legacy" : "delta",
      means: Array.from(this.means),
      stds: Array.from(this.stds),
    };
  }

  encode(bboxes: Float32Array, gtBboxes: Float32Array): Float32Array {
    const { n } = checkCoderInputs(bboxes, gtBboxes, "encode");
    const out = new Float32Array(n * 4);
    const o = this.sizeOffset, { means: m, stds: s } = this;
    for (let i = 0; i < n * 4; i += 4) {
      const p = bboxes, g = gtBboxes;
      const px = f(f(p[i] + p[i + 2]) * 0.5), py = f(f(p[i + 1] + p[i + 3]) * 0.5);
      const pw = f(f(p[i + 2] - p[i]) + o), ph = f(f(p[i + 3] - p[i + 1]) + o);
      const gx = f(f(g[i] + g[i + 2]) * 0.5), gy = f(f(g[i + 1] + g[i + 3]) * 0.5);
      const gw = f(f(g[i + 2] - g[i]) + o), gh = f(f(g[i + 3] - g[i + 1]) + o);
      const d = [
        f(f(gx - px) / pw),
        f(f(gy - py) / ph),
        f(Math.log(f(gw / pw))),
        f(Math.log(f(gh / ph))),
      ];
      for (let k = 0; k < 4; k++) out[i + k] = f(d[k] - m[k]) / s[k];
    }
    return out;
  }

  decode(bboxes: Float32Array, deltas: Float32Array, opts: DecodeOptions = {}): Float32Array {
    const { n, k } = checkCoderInputs(bboxes, deltas, "decode");
    const maxRatio = f(Math.abs(Math.log(opts.whRatioClip ?? 16 / 1000)));
    const clip = this.clipBorder && opts.maxShape != null ? opts.maxShape : null;
    const { means: m, stds: s, addCtrClamp } = this, cc = f(this.ctrClamp);
    const out = new Float32Array(n * 4 * k);
    for (let i = 0; i < n; i++) {
      const p = i * 4;
      const px = f(f(bboxes[p] + bboxes[p + 2]) * 0.5),
        py = f(f(bboxes[p + 1] + bboxes[p + 3]) * 0.5);
      const pw = f(bboxes[p + 2] - bboxes[p]), ph = f(bboxes[p + 3] - bboxes[p + 1]);
      for (let j = 0; j < k; j++) {
        const q = (i * k + j) * 4;
        const d = [0, 1, 2, 3].map((c) => f(f(deltas[q + c] * s[c]) + m[c]));
        let dxw = f(pw * d[0]), dyh = f(ph * d[1]);
        let dw: number, dh: number;
        if (addCtrClamp) {
          dxw = Math.min(Math.max(dxw, -cc), cc);
          dyh = Math.min(Math.max(dyh, -cc), cc);
          dw = Math.min(d[2], maxRatio);
          dh = Math.min(d[3], maxRatio);
        } else {
          dw = Math.min(Math.max(d[2], -maxRatio), maxRatio);
          dh = Math.min(Math.max(d[3], -maxRatio), maxRatio);
        }
        const gx = f(px + dxw), gy = f(py + dyh);
        const hw = f(f(pw * f(Math.exp(dw))) * 0.5), hh = f(f(ph * f(Math.exp(dh))) * 0.5);
        const box = [f(gx - hw), f(gy - hh), f(gx + hw), f(gy + hh)];
        if (clip) {
          for (let c = 0; c < 4; c++) {
            box[c] = Math.min(Math.max(box[c], 0), c % 2 === 0 ? clip[1] : clip[0]);
          }
        }
        out.set(box, q);
      }
    }
    return out;
  }
}

/**
 * mmdetection v2's `LegacyDeltaXYWHBBoxCoder` (v1 coordinates): widths are `x2 − x1 + 1` in
 * encode and decode, decoded boxes are clipped to `[0, w − 1]` / `[0, h − 1]` whenever `maxShape`
 * is given. As in mmdetection v2 (and unlike v1's `delta2bbox`), decoded corners are
 * `centre ∓ w/2` without the ±0.5 pixel shift; mmdetection notes that this scores better on
 * converted v1 models.
 */
export class LegacyDeltaXYWHBBoxCoder extends DeltaXYWHBBoxCoder {
  /** Builds the legacy coder (no `clip_border`, no centre clamp). */
  constructor(cfg: { type?: string; target_means?: number[]; target_stds?: number[] } = {}) {
    super({ target_means: cfg.target_means, target_stds: cfg.target_stds });
  }

  /** v1 widths: `x2 − x1 + 1`. */
  protected override get sizeOffset(): number {
    return 1;
  }

  /** Legacy decode: +1 widths, no ±0.5 shift, clipped to `[0, w − 1]`, `[0, h − 1]` when `maxShape` is given. */
  override decode(
    bboxes: Float32Array,
    deltas: Float32Array,
    opts: DecodeOptions = {},
  ): Float32Array {
    const { n, k } = checkCoderInputs(bboxes, deltas, "decode");
    const maxRatio = f(Math.abs(Math.log(opts.whRatioClip ?? 16 / 1000)));
    const { means: m, stds: s } = this, clip = opts.maxShape ?? null;
    const out = new Float32Array(n * 4 * k);
    for (let i = 0; i < n; i++) {
      const p = i * 4;
      const px = f(f(bboxes[p] + bboxes[p + 2]) * 0.5),
        py = f(f(bboxes[p + 1] + bboxes[p + 3]) * 0.5);
      const pw = f(f(bboxes[p + 2] - bboxes[p]) + 1), ph = f(f(bboxes[p + 3] - bboxes[p + 1]) + 1);
      for (let j = 0; j < k; j++) {
        const q = (i * k + j) * 4;
        const d = [0, 1, 2, 3].map((c) => f(f(deltas[q + c] * s[c]) + m[c]));
        const dw = Math.min(Math.max(d[2], -maxRatio), maxRatio);
        const dh = Math.min(Math.max(d[3], -maxRatio), maxRatio);
        const gx = f(px + f(pw * d[0])), gy = f(py + f(ph * d[1]));
        const hw = f(f(pw * f(Math.exp(dw))) * 0.5), hh = f(f(ph * f(Math.exp(dh))) * 0.5);
        const box = [f(gx - hw), f(gy - hh), f(gx + hw), f(gy + hh)];
        if (clip) {
          for (let c = 0; c < 4; c++) {
            box[c] = Math.min(Math.max(box[c], 0), (c % 2 === 0 ? clip[1] : clip[0]) - 1);
          }
        }
        out.set(box, q);
      }
    }
    return out;
  }
}

BBOX_CODERS.register("DeltaXYWHBBoxCoder", DeltaXYWHBBoxCoder);
BBOX_CODERS.register("LegacyDeltaXYWHBBoxCoder", LegacyDeltaXYWHBBoxCoder);
