/**
 * Reference `DeltaXYWHBBoxCoder` in float64, from spec §2.7 (v2, no "+1").
 *
 * @module
 */

/** Coder settings (mmdetection keys). */
export interface DeltaRefCfg {
  target_means?: number[];
  target_stds?: number[];
}

/** Targets `[n, 4]` of gt boxes `g` relative to anchors `p` (flat xyxy). */
export function deltaEncodeRef(
  p: ArrayLike<number>,
  g: ArrayLike<number>,
  cfg: DeltaRefCfg = {},
): Float64Array {
  const mean = cfg.target_means ?? [0, 0, 0, 0], std = cfg.target_stds ?? [1, 1, 1, 1];
  const out = new Float64Array(p.length);
  for (let i = 0; i < p.length; i += 4) {
    const pw = p[i + 2] - p[i], ph = p[i + 3] - p[i + 1];
    const px = (p[i] + p[i + 2]) / 2, py = (p[i + 1] + p[i + 3]) / 2;
    const gw = g[i + 2] - g[i], gh = g[i + 3] - g[i + 1];
    const gx = (g[i] + g[i + 2]) / 2, gy = (g[i + 1] + g[i + 3]) / 2;
    const d = [(gx - px) / pw, (gy - py) / ph, Math.log(gw / pw), Math.log(gh / ph)];
    for (let k = 0; k < 4; k++) out[i + k] = (d[k] - mean[k]) / std[k];
  }
  return out;
}

/**
 * Boxes decoded from targets `t` `[n, 4]` relative to anchors `p`: dw, dh clamped to
 * ±|ln(whRatioClip)|, clipped to `maxShape = [h, w]` when given.
 */
export function deltaDecodeRef(
  p: ArrayLike<number>,
  t: ArrayLike<number>,
  cfg: DeltaRefCfg & { maxShape?: number[] | null; whRatioClip?: number } = {},
): Float64Array {
  const mean = cfg.target_means ?? [0, 0, 0, 0], std = cfg.target_stds ?? [1, 1, 1, 1];
  const maxRatio = Math.abs(Math.log(cfg.whRatioClip ?? 16 / 1000));
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const out = new Float64Array(p.length);
  for (let i = 0; i < p.length; i += 4) {
    const d = [0, 1, 2, 3].map((k) => t[i + k] * std[k] + mean[k]);
    const pw = p[i + 2] - p[i], ph = p[i + 3] - p[i + 1];
    const px = (p[i] + p[i + 2]) / 2, py = (p[i + 1] + p[i + 3]) / 2;
    const gx = px + pw * d[0], gy = py + ph * d[1];
    const gw = pw * Math.exp(clamp(d[2], -maxRatio, maxRatio)),
      gh = ph * Math.exp(clamp(d[3], -maxRatio, maxRatio));
    const box = [gx - gw / 2, gy - gh / 2, gx + gw / 2, gy + gh / 2];
    if (cfg.maxShape) {
      const [h, w] = cfg.maxShape;
      box[0] = clamp(box[0], 0, w), box[2] = clamp(box[2], 0, w);
      box[1] = clamp(box[1], 0, h), box[3] = clamp(box[3], 0, h);
    }
    out.set(box, i);
  }
  return out;
}
