/**
 * Drawing detections onto images (`--show-dir`, `deno task infer`): boxes, class names and scores.
 *
 * @module
 */
import type { HwcImage } from "../datasets/image_io.ts";
import { Raster, type Rgb } from "../runner/plot.ts";

const COLORS: Rgb[] = [
  [230, 25, 75],
  [60, 180, 75],
  [0, 130, 200],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
  [210, 245, 60],
  [250, 190, 190],
  [0, 128, 128],
  [170, 110, 40],
  [128, 0, 0],
];

/**
 * Draws `result` (per class `[m, 5]` rows `x1, y1, x2, y2, score` in the image's pixels) onto a copy
 * of `img` (BGR or gray, uint8) and returns an RGBA raster. Detections below `scoreThr` are skipped.
 */
export function drawDetections(
  img: HwcImage,
  result: Float32Array[],
  opts: { classes: readonly string[]; scoreThr?: number; showScore?: boolean },
): Raster {
  const r = new Raster(img.width, img.height);
  const c = img.channels;
  for (let i = 0; i < img.width * img.height; i++) {
    const v = (k: number) => img.data[i * c + (c === 1 ? 0 : k)];
    r.data[i * 4] = v(2); // BGR → RGB
    r.data[i * 4 + 1] = v(1);
    r.data[i * 4 + 2] = v(0);
    r.data[i * 4 + 3] = 255;
  }
  const thr = opts.scoreThr ?? 0.3;
  const scale = img.width >= 640 ? 2 : 1; // text scale and line thickness
  result.forEach((dets, cls) => {
    const col = COLORS[cls % COLORS.length];
    for (let k = 0; k + 4 < dets.length; k += 5) {
      const [x1, y1, x2, y2, s] = dets.subarray(k, k + 5);
      if (!(s >= thr)) continue;
      r.line(x1, y1, x2, y1, col, scale);
      r.line(x2, y1, x2, y2, col, scale);
      r.line(x2, y2, x1, y2, col, scale);
      r.line(x1, y2, x1, y1, col, scale);
      const name = String(opts.classes[cls] ?? cls);
      const label = opts.showScore === false ? name : `${name} ${s.toFixed(2)}`;
      const w = Raster.textWidth(label, scale) + 2 * scale, h = 9 * scale;
      const ty = y1 - h >= 0 ? y1 - h : y1;
      r.rect(x1, ty, w, h, col);
      r.text(x1 + scale, ty + scale, label, [255, 255, 255], scale);
    }
  });
  return r;
}
