/**
 * `Normalize → Pad → DefaultFormatBundle` in one pass: the same results, written straight into
 * the padded CHW tensor, without the two full-size float intermediates (allocating fresh memory
 * dominates the pipeline's cost). `Compose` substitutes it automatically.
 *
 * @module
 */
import type { HwcImage } from "../image_io.ts";
import type { Results } from "../types.ts";
import { registerFuser, type Transform } from "./compose.ts";
import { DefaultFormatBundle } from "./formatting.ts";
import { Normalize, Pad } from "./transforms.ts";

/** The fused step; falls back to the three transforms when its fast path does not apply. */
export class NormalizePadFormat implements Transform {
  /** The fused `Normalize`. */
  readonly normalize: Normalize;
  /** The fused `Pad`. */
  readonly pad: Pad;
  /** The fused `DefaultFormatBundle`. */
  readonly bundle: DefaultFormatBundle;

  /** Fuses the three transforms. */
  constructor(normalize: Normalize, pad: Pad, bundle: DefaultFormatBundle) {
    this.normalize = normalize;
    this.pad = pad;
    this.bundle = bundle;
  }

  /** Same results as `bundle(pad(normalize(results)))`. */
  call(results: Results): Results {
    const img = results.img as HwcImage | undefined;
    const fields = results.img_fields ?? ["img"];
    const fast = img !== undefined && typeof img === "object" && "channels" in img &&
      img.channels === 3 &&
      fields.length === 1 && fields[0] === "img" && this.normalize.mean.length === 3;
    if (!fast) return this.bundle.call(this.pad.call(this.normalize.call(results)));
    const f = Math.fround;
    const { height: h, width: w, data: src } = img;
    let hp: number, wp: number;
    if (this.pad.size) [hp, wp] = this.pad.size;
    else {
      const d = this.pad.sizeDivisor!;
      hp = Math.ceil(h / d) * d;
      wp = Math.ceil(w / d) * d;
    }
    if (hp < h || wp < w) {
      throw new RangeError(
        `Cannot pad a ${h}x${w} image to ${hp}x${wp}: the target is smaller than the image`,
      );
    }
    const mean = Array.from(this.normalize.mean);
    const stdinv = Array.from(this.normalize.std, (s) => 1 / s);
    const plane = hp * wp;
    const out = new Float32Array(3 * plane);
    const padVal = this.pad.padVal;
    if (padVal !== 0) out.fill(padVal);
    for (let c = 0; c < 3; c++) {
      const sc = this.normalize.toRgb ? 2 - c : c; // source channel (BGR → RGB)
      const m = mean[c], s = stdinv[c];
      const base = c * plane;
      for (let y = 0; y < h; y++) {
        const o = base + y * wp;
        for (let x = 0, j = y * w * 3 + sc; x < w; x++, j += 3) out[o + x] = f(src[j] - m) * s;
      }
    }
    results.img_norm_cfg = {
      mean: this.normalize.mean.slice(),
      std: this.normalize.std.slice(),
      to_rgb: this.normalize.toRgb,
    };
    results.pad_shape = [hp, wp, 3];
    results.pad_fixed_size = this.pad.size;
    results.pad_size_divisor = this.pad.sizeDivisor;
    results.scale_factor ??= 1.0;
    results.img = { data: out, shape: [3, hp, wp] };
    return results;
  }
}

registerFuser({
  fuse(ts, i) {
    const [a, b, c] = [ts[i], ts[i + 1], ts[i + 2]];
    if (a instanceof Normalize && b instanceof Pad && c instanceof DefaultFormatBundle) {
      return [new NormalizePadFormat(a, b, c), 3];
    }
    return null;
  },
});
