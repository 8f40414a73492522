/**
 * Float64 CPU references of the CNN ops (NCHW, OIHW), written from the definitions: the readable
 * statement each GPU kernel is checked against in finite-difference gradient checks.
 *
 * @module
 */

/** Geometry of a reference convolution. */
export interface RefConvOpts {
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
  groups?: number;
}

/** y[n, o, oy, ox] = b[o] + Σ_{i, ky, kx} x[n, g·cinG + i, oy·s − p + ky·d, …] · w[o, i, ky, kx]. */
export function conv2dRef(
  x: Float64Array,
  xs: readonly number[],
  w: Float64Array,
  ws: readonly number[],
  b: Float64Array | null,
  o: RefConvOpts = {},
): { y: Float64Array; shape: number[] } {
  const [n, cin, h, wd] = xs;
  const [cout, cinG, kh, kw] = ws;
  const [sh, sw] = o.stride ?? [1, 1];
  const [ph, pw] = o.padding ?? [0, 0];
  const [dh, dw] = o.dilation ?? [1, 1];
  const groups = o.groups ?? 1;
  const coutG = cout / groups;
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wd + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const y = new Float64Array(n * cout * oh * ow);
  for (let bi = 0; bi < n; bi++) {
    for (let oc = 0; oc < cout; oc++) {
      const g = Math.floor(oc / coutG);
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let s = b ? b[oc] : 0;
          for (let ic = 0; ic < cinG; ic++) {
            const c = g * cinG + ic;
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * sh - ph + ky * dh;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * sw - pw + kx * dw;
                if (ix < 0 || ix >= wd) continue;
                s += x[((bi * cin + c) * h + iy) * wd + ix] *
                  w[((oc * cinG + ic) * kh + ky) * kw + kx];
              }
            }
          }
          y[((bi * cout + oc) * oh + oy) * ow + ox] = s;
        }
      }
    }
  }
  return { y, shape: [n, cout, oh, ow] };
}

/** BatchNorm with batch statistics (biased variance) and optional affine parameters. */
export function batchNormTrainRef(
  x: Float64Array,
  xs: readonly number[],
  w: Float64Array | null,
  b: Float64Array | null,
  eps = 1e-5,
): Float64Array {
  const [n, c] = xs;
  const hw = xs.slice(2).reduce((a, d) => a * d, 1);
  const y = new Float64Array(x.length);
  for (let ch = 0; ch < c; ch++) {
    let m = 0;
    for (let bi = 0; bi < n; bi++) for (let i = 0; i < hw; i++) m += x[(bi * c + ch) * hw + i];
    m /= n * hw;
    let v = 0;
    for (let bi = 0; bi < n; bi++) {
      for (let i = 0; i < hw; i++) v += (x[(bi * c + ch) * hw + i] - m) ** 2;
    }
    v /= n * hw;
    const inv = 1 / Math.sqrt(v + eps);
    for (let bi = 0; bi < n; bi++) {
      for (let i = 0; i < hw; i++) {
        const k = (bi * c + ch) * hw + i;
        y[k] = (x[k] - m) * inv * (w ? w[ch] : 1) + (b ? b[ch] : 0);
      }
    }
  }
  return y;
}

/** GroupNorm: statistics per (sample, group), per-channel affine. */
export function groupNormRef(
  x: Float64Array,
  xs: readonly number[],
  groups: number,
  w: Float64Array | null,
  b: Float64Array | null,
  eps = 1e-5,
): Float64Array {
  const [n, c] = xs;
  const hw = xs.slice(2).reduce((a, d) => a * d, 1);
  const len = (c / groups) * hw;
  const y = new Float64Array(x.length);
  for (let r = 0; r < n * groups; r++) {
    let m = 0;
    for (let e = 0; e < len; e++) m += x[r * len + e];
    m /= len;
    let v = 0;
    for (let e = 0; e < len; e++) v += (x[r * len + e] - m) ** 2;
    v /= len;
    const inv = 1 / Math.sqrt(v + eps);
    for (let e = 0; e < len; e++) {
      const ch = (r % groups) * (c / groups) + Math.floor(e / hw);
      y[r * len + e] = (x[r * len + e] - m) * inv * (w ? w[ch] : 1) + (b ? b[ch] : 0);
    }
  }
  return y;
}

/** Max pooling with −∞ padding (no dilation); floor or ceil mode. */
export function maxPool2dRef(
  x: Float64Array,
  xs: readonly number[],
  k: number,
  s: number,
  p: number,
  ceil = false,
): { y: Float64Array; shape: number[] } {
  const [n, c, h, w] = xs;
  const size = (d: number) => {
    let o = Math.floor((d + 2 * p - k + (ceil ? s - 1 : 0)) / s) + 1;
    if (ceil && (o - 1) * s >= d + p) o--;
    return o;
  };
  const oh = size(h), ow = size(w);
  const y = new Float64Array(n * c * oh * ow);
  for (let pl = 0; pl < n * c; pl++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let best = -Infinity;
        for (let ky = 0; ky < k; ky++) {
          for (let kx = 0; kx < k; kx++) {
            const iy = oy * s - p + ky, ix = ox * s - p + kx;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
              best = Math.max(best, x[(pl * h + iy) * w + ix]);
            }
          }
        }
        y[(pl * oh + oy) * ow + ox] = best;
      }
    }
  }
  return { y, shape: [n, c, oh, ow] };
}

/** Nearest resize with src = min(floor(dst · scale), in − 1), scale in float32 as PyTorch. */
export function interpolateNearestRef(
  x: Float64Array,
  xs: readonly number[],
  oh: number,
  ow: number,
  scaleH = Math.fround(xs[2] / oh),
  scaleW = Math.fround(xs[3] / ow),
): Float64Array {
  const [n, c, h, w] = xs;
  const y = new Float64Array(n * c * oh * ow);
  for (let pl = 0; pl < n * c; pl++) {
    for (let oy = 0; oy < oh; oy++) {
      const sy = Math.min(Math.floor(Math.fround(oy * scaleH)), h - 1);
      for (let ox = 0; ox < ow; ox++) {
        const sx = Math.min(Math.floor(Math.fround(ox * scaleW)), w - 1);
        y[(pl * oh + oy) * ow + ox] = x[(pl * h + sy) * w + sx];
      }
    }
  }
  return y;
}

/** y = act(x·scale[c] + shift[c]). */
export function affineChannelRef(
  x: Float64Array,
  xs: readonly number[],
  scale: Float64Array,
  shift: Float64Array,
  relu = false,
): Float64Array {
  const c = xs[1];
  const hw = xs.slice(2).reduce((a, d) => a * d, 1);
  return x.map((v, i) => {
    const ch = Math.floor(i / hw) % c;
    const r = v * scale[ch] + shift[ch];
    return relu ? Math.max(r, 0) : r;
  });
}

/** A seeded generator (mulberry32) of uniform values in [lo, hi), rounded to float32. */
export function randomF32(seed: number, n: number, lo = -1, hi = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}
